/**
 * Batching only behind sequences in flight: a vertex proposed while the pipeline is idle starts
 * its round at once, whatever `batchMaxDelayMs` says; vertices proposed at the leader while a
 * round runs wait for it and go together as soon as it ends; a backup sends its vertices on at
 * once, round or not (the leader decides what shares a sequence). Virtual time throughout (a
 * ManualClock, stores that take 2 ms to sync).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BftEngine, createVertex, type ProposalResult } from '../../src/engine/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, payload } from './cluster.ts';

const DELAY_MS = 25;
/** Syncs slow enough that a round is long against a hop (the backup case). */
const SLOW_SYNC_MS = 5;
/** When the first round, started at 0, is under way at the backups too: past the leader's sync. */
const ROUND_STARTED_MS = 10;

/** Advances the clock 1 ms at a time until `result` resolves; returns it and the ms it took. */
async function finalWithin(
  cluster: Cluster,
  result: Promise<ProposalResult>,
): Promise<{ result: ProposalResult; ms: number }> {
  let settled: ProposalResult | null = null;
  void result.then((value) => {
    settled = value;
  });
  let ms = 0;
  while (settled === null) {
    assert.ok(ms < 1000, 'not final within 1,000 virtual ms');
    await cluster.advance(1, 1);
    ms++;
  }
  return { result: settled, ms };
}

function propose(engine: BftEngine, label: string, index: number): Promise<ProposalResult> {
  return engine.propose(createVertex(payload(label, index), { validThrough: TEST_VALID_THROUGH }));
}

/** Virtual ms until a lone vertex is final, proposed at the leader and then at a backup. */
async function loneVertexMs(batchMaxDelayMs: number): Promise<{ leader: number; backup: number }> {
  const cluster = new Cluster({ storeFlushLatencyMs: 2, config: { batchMaxDelayMs } });
  await cluster.start();
  try {
    const atLeader = await finalWithin(cluster, propose(cluster.engines[0]!, 'leader', 0));
    // At a backup too: its REQUEST leaves at once, and the leader orders it at once.
    const atBackup = await finalWithin(cluster, propose(cluster.engines[1]!, 'backup', 0));
    assert.equal(atBackup.result.sequence, atLeader.result.sequence + 1);
    return { leader: atLeader.ms, backup: atBackup.ms };
  } finally {
    await cluster.stop();
  }
}

test('a vertex proposed at an idle cluster is final as fast as with no batch delay at all', async () => {
  const undelayed = await loneVertexMs(0);
  const delayed = await loneVertexMs(DELAY_MS);
  assert.deepEqual(delayed, undelayed);
  assert.ok(delayed.leader < DELAY_MS && delayed.backup < DELAY_MS, JSON.stringify(delayed));
});

test('vertices proposed while a round runs wait for it, then go together in the next sequence', async () => {
  const cluster = new Cluster({ storeFlushLatencyMs: 2, config: { batchMaxDelayMs: DELAY_MS } });
  await cluster.start();
  try {
    const leader = cluster.engines[0]!;
    const first = propose(leader, 'first', 0);
    await cluster.advance(1, 1);
    // The first vertex's round is under way: these two are batched behind it.
    const behind = [propose(leader, 'behind', 0), propose(leader, 'behind', 1)];
    const { result: firstResult, ms: firstMs } = await finalWithin(cluster, first);
    const results = await Promise.all(behind.map((result) => finalWithin(cluster, result)));
    for (const { result } of results) assert.equal(result.sequence, firstResult.sequence + 1);
    // They went when the round ended, not when their batch delay did.
    const total = firstMs + 1 + Math.max(...results.map(({ ms }) => ms));
    assert.ok(total < 2 * firstMs + DELAY_MS, `the batch behind the round was final after ${total} ms`);
  } finally {
    await cluster.stop();
  }
});

test('vertices proposed at a backup while a round runs go to the leader at once, not after the round', async () => {
  const cluster = new Cluster({ storeFlushLatencyMs: SLOW_SYNC_MS, config: { batchMaxDelayMs: DELAY_MS } });
  await cluster.start();
  try {
    const first = propose(cluster.engines[0]!, 'first', 0);
    await cluster.advance(ROUND_STARTED_MS, 1);
    const { result: atBackup, ms } = await finalWithin(cluster, propose(cluster.engines[1]!, 'backup', 0));
    const firstResult = await first;
    // The leader (pipeline depth 4, no fill count here) ordered it beside the first round, so it
    // took about a round; held at the backup until that round ended, it took the rest of that
    // round and one more (half as long again as this bound, measured).
    assert.equal(atBackup.sequence, firstResult.sequence + 1);
    const { ms: roundMs } = await finalWithin(cluster, propose(cluster.engines[0]!, 'lone', 0));
    assert.ok(
      ms < roundMs + roundMs / 2,
      `the backup's vertex was final after ${ms} ms; a lone round takes ${roundMs}`,
    );
  } finally {
    await cluster.stop();
  }
});
