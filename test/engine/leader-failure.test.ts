/**
 * Failures of the leader: a leader stopped in the middle of a load is replaced by a view change
 * (PBFT 4.4) and no proposal any replica accepted is lost or finalized twice; a stopped replica
 * restarts from its store and catches up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVertex, type ProposalResult } from '../../src/engine/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, finalizedEverywhere, payload, recordFinalized } from './cluster.ts';

test('a leader stopped mid-load is replaced and no accepted proposal is lost', async () => {
  const cluster = new Cluster({ config: { batchMaxVertices: 16 } });
  const orders = cluster.engines.map(recordFinalized);
  const [leader, ...backups] = cluster.engines;
  await cluster.start();
  try {
    assert.ok(leader!.isLeader());
    const accepted = new Map<string, Promise<ProposalResult>>();
    const proposeAt = (engineIndex: number, label: string, i: number): void => {
      const vertex = createVertex(payload(label, i), { validThrough: TEST_VALID_THROUGH });
      accepted.set(Buffer.from(vertex.hash).toString('hex'), cluster.engines[engineIndex]!.propose(vertex));
    };
    // A first wave everywhere, then a second one that is still in flight when the leader stops.
    for (let i = 0; i < 100; i++) proposeAt(i % 4, 'wave-1', i);
    await Promise.all(accepted.values());
    for (let i = 0; i < 200; i++) proposeAt(i % 4, 'wave-2', i);
    const leaderStopped = leader!.stop();
    // The stopping leader refuses new work; the backups keep accepting it.
    await assert.rejects(
      leader!.propose(createVertex(payload('late', 0), { validThrough: TEST_VALID_THROUGH })),
      { code: 'stopped' },
    );
    // Graceful: the leader finalizes what it accepted before it goes.
    await leaderStopped;
    assert.equal(leader!.status().state, 'stopped');
    assert.equal(leader!.status().pendingProposals, 0);
    // Load that reaches the backups after the leader is gone: they forward it to a silent leader.
    for (let i = 0; i < 60; i++) proposeAt(1 + (i % 3), 'wave-3', i);

    // The backups time out on the silent leader and move to view 1, led by node-1.
    let settled = false;
    const all = Promise.all(accepted.values()).finally(() => {
      settled = true;
    });
    for (let elapsed = 0; elapsed < 20_000 && !settled; elapsed += 100) await cluster.advance(100);
    const results = await all;
    assert.equal(results.length, accepted.size);
    for (const backup of backups) {
      assert.ok(backup.status().view >= 1, `${backup.config.nodeId} still in view 0`);
      assert.notEqual(backup.status().leader, 'node-0');
    }
    await finalizedEverywhere(backups, orders.slice(1), accepted.size);
    // The survivors agree on one order holding every accepted vertex exactly once, and the
    // stopped leader's order is a prefix of it.
    const order = orders[1]!;
    assert.equal(order.length, accepted.size);
    assert.deepEqual(new Set(order), new Set(accepted.keys()));
    for (const other of orders.slice(2)) assert.deepEqual(other, order);
    assert.deepEqual(orders[0], order.slice(0, orders[0]!.length));
    assert.ok(
      (await backups[0]!.metrics().getSingleMetric('consensus_view_changes_total')!.get()).values[0]!.value >=
        1,
    );
  } finally {
    await cluster.stop();
  }
});

test('a stopped replica restarts from its store and catches up with the cluster', async () => {
  const cluster = new Cluster({ config: { checkpointInterval: 4, watermarkWindow: 8 } });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const proposeWave = (label: string, count: number, at: readonly number[]) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          cluster.engines[at[i % at.length]!]!.propose(
            createVertex(payload(label, i), { validThrough: TEST_VALID_THROUGH }),
          ),
        ),
      );
    for (let round = 0; round < 5; round++) await proposeWave(`before-${round}`, 8, [0, 1, 2, 3]);
    await finalizedEverywhere(cluster.engines, orders, 40);
    const sequenceBefore = cluster.engines[3]!.status().sequence;
    await cluster.engines[3]!.stop();
    // The others go on without it, past several checkpoints.
    for (let round = 0; round < 10; round++) await proposeWave(`during-${round}`, 4, [0, 1, 2]);
    await finalizedEverywhere(cluster.engines.slice(0, 3), orders.slice(0, 3), 80);

    const restarted = cluster.createEngine(3, cluster.stores[3]!);
    cluster.engines[3] = restarted;
    const restartedOrder = recordFinalized(restarted);
    await restarted.start();
    assert.equal(restarted.status().sequence, sequenceBefore, 'restored where it stopped');
    // It learns what it missed from its peers (STATUS, then state transfer from the store).
    let caughtUp = false;
    const target = cluster.engines[0]!.status().sequence;
    restarted.on('finalized', () => {
      caughtUp ||= restarted.status().sequence >= target;
    });
    for (let elapsed = 0; elapsed < 10_000 && !caughtUp; elapsed += 100) await cluster.advance(100);
    assert.ok(
      restarted.status().sequence >= target,
      `restarted at ${restarted.status().sequence} of ${target}`,
    );
    assert.deepEqual(restartedOrder, orders[0]!.slice(40, 40 + restartedOrder.length));
    // And it takes part again.
    await proposeWave('after', 8, [3]);
  } finally {
    await cluster.stop();
  }
});

test('a leader stopped abruptly: its unfinished proposals are rejected with stopped, the rest is finalized once', async () => {
  const cluster = new Cluster({ config: { batchMaxVertices: 16 } });
  const orders = cluster.engines.map(recordFinalized);
  const [leader, ...backups] = cluster.engines;
  await cluster.start();
  try {
    const atBackups: Promise<ProposalResult>[] = [];
    const atLeader: Promise<ProposalResult | 'stopped'>[] = [];
    for (let i = 0; i < 200; i++) {
      const vertex = createVertex(payload('abrupt', i), { validThrough: TEST_VALID_THROUGH });
      if (i % 4 === 0) {
        atLeader.push(
          leader!.propose(vertex).catch((error: { code?: string }) => {
            assert.equal(error.code, 'stopped');
            return 'stopped' as const;
          }),
        );
      } else {
        atBackups.push(cluster.engines[i % 4]!.propose(vertex));
      }
    }
    await leader!.stop({ drainTimeoutMs: 0 });
    let settled = false;
    const all = Promise.all(atBackups).finally(() => {
      settled = true;
    });
    for (let elapsed = 0; elapsed < 20_000 && !settled; elapsed += 100) await cluster.advance(100);
    await all;
    const leaderOutcomes = await Promise.all(atLeader);
    console.log(
      `leader proposals: ${leaderOutcomes.filter((o) => o === 'stopped').length} of ${atLeader.length} abandoned`,
    );
    await finalizedEverywhere(backups, orders.slice(1), atBackups.length);
    const order = orders[1]!;
    assert.equal(new Set(order).size, order.length, 'no vertex finalized twice');
    for (const other of orders.slice(2)) assert.deepEqual(other, order);
  } finally {
    await cluster.stop();
  }
});
