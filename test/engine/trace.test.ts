/**
 * Sequence tracing (`--trace-vertex`): every replica reports each step of a sequence in causal
 * order, and the signatures of a step's votes are made while its writes sync, the votes leaving
 * only once the writes are durable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVertex, type TracePoint } from '../../src/engine/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, finalizedEverywhere, recordFinalized } from './cluster.ts';

/** The index of the first point matching, or -1. */
function indexOf(points: readonly TracePoint[], step: string, kind?: string, sequence = 1): number {
  return points.findIndex(
    (point) =>
      point.step === step && (kind === undefined || point.kind === kind) && point.sequence === sequence,
  );
}

/** Asserts that each step happened, in the order given. */
function assertInOrder(
  points: readonly TracePoint[],
  steps: readonly [string, string?][],
  who: string,
): void {
  let last = -1;
  for (const [step, kind] of steps) {
    const at = indexOf(points, step, kind);
    assert.ok(
      at >= 0,
      `${who}: no '${step} ${kind ?? ''}' in ${JSON.stringify(points.map((p) => `${p.step} ${p.kind ?? ''}`))}`,
    );
    assert.ok(at > last, `${who}: '${step} ${kind ?? ''}' came before an earlier step`);
    last = at;
  }
}

test('every replica traces the steps of a sequence in causal order, and signs while its writes sync', async () => {
  const traces: TracePoint[][] = [[], [], [], []];
  const cluster = new Cluster({
    storeFlushLatencyMs: 5,
    dependencies: (i) => ({ tracer: (point) => traces[i]!.push(point) }),
  });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const vertex = createVertex(new Uint8Array([1, 2, 3]), { validThrough: TEST_VALID_THROUGH });
    const final = cluster.engines[0]!.propose(vertex);
    const everywhere = finalizedEverywhere(cluster.engines, orders, 1);
    let done = false;
    void everywhere.then(() => {
      done = true;
    });
    for (let ms = 0; !done; ms++) {
      assert.ok(ms < 1000, 'the vertex was not final everywhere within 1,000 virtual ms');
      await cluster.advance(1, 1);
    }
    assert.equal((await final).sequence, 1);

    const leader = traces[0]!;
    assert.equal(leader[0]?.step, 'proposal');
    assert.equal(leader[0]?.detail, 1);
    assertInOrder(
      leader,
      [
        ['assigned'],
        ['written', 'pre-prepare'],
        ['signed', 'pre-prepare'],
        ['durable', 'pre-prepare'],
        ['released', 'pre-prepare'],
        ['sent', 'pre-prepare'],
        ['written', 'prepared'],
        ['durable', 'prepared'],
        ['sent', 'commit'],
        ['written', 'finalized'],
        ['durable', 'finalized'],
        ['delivered'],
      ],
      'leader',
    );
    for (const [i, points] of traces.entries()) {
      if (i === 0) continue;
      assertInOrder(
        points,
        [
          ['received', 'pre-prepare'],
          ['verified', 'pre-prepare'],
          ['stepped', 'pre-prepare'],
          ['written', 'pre-prepare'],
          // The PREPARE is signed while the PRE-PREPARE syncs, and sent only after.
          ['signed', 'prepare'],
          ['durable', 'pre-prepare'],
          ['released', 'prepare'],
          ['sent', 'prepare'],
          ['written', 'prepared'],
          ['durable', 'prepared'],
          ['sent', 'commit'],
          ['written', 'finalized'],
          ['durable', 'finalized'],
          ['delivered'],
        ],
        `replica ${i}`,
      );
      const stepped = points.find((point) => point.step === 'stepped' && point.kind === 'pre-prepare');
      assert.equal(stepped?.peer, 0);
      assert.equal(stepped?.detail, 'accepted');
      // Times are microseconds since the epoch, in order.
      for (let k = 1; k < points.length; k++) assert.ok(points[k]!.at >= points[k - 1]!.at);
      assert.ok(Math.abs(points[0]!.at / 1000 - Date.now()) < 60_000);
    }
  } finally {
    await cluster.stop();
  }
});
