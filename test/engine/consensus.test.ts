/**
 * The engine's claims in the normal case, named as the first design named its tests: four
 * honest replicas finalize the same vertices in the same order, concurrent proposals from
 * several replicas each resolve once, finality time goes to the metrics, and a vertex proposed
 * at a backup is forwarded to the leader and finalized once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mlDsa87 } from '../../src/crypto/index.ts';
import { createVertex, type ProposalResult } from '../../src/engine/index.ts';
import { systemClock } from '../../src/shell/clock.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, finalizedEverywhere, metricValue, payload, recordFinalized } from './cluster.ts';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

test('consensus 4 honest nodes: all four finalize the same vertices in the same order, well under 500 ms (ML-DSA-87)', async () => {
  const cluster = new Cluster({ scheme: mlDsa87 });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const latenciesMs: number[] = [];
    const proposed: string[] = [];
    // Rounds of concurrent proposals at every replica, so that each round is one or a few batches.
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const vertex = createVertex(payload(`round-${round}`, i, 256), {
            validThrough: TEST_VALID_THROUGH,
          });
          proposed.push(Buffer.from(vertex.hash).toString('hex'));
          const started = performance.now();
          await cluster.engines[i % 4]!.propose(vertex);
          latenciesMs.push(performance.now() - started);
        }),
      );
    }
    await finalizedEverywhere(cluster.engines, orders, proposed.length);
    latenciesMs.sort((a, b) => a - b);
    console.log(
      `finality with ML-DSA-87, 4 replicas: p50 ${percentile(latenciesMs, 50).toFixed(1)} ms, ` +
        `max ${latenciesMs.at(-1)!.toFixed(1)} ms over ${latenciesMs.length} proposals`,
    );
    assert.equal(orders[0]!.length, proposed.length);
    assert.deepEqual(new Set(orders[0]), new Set(proposed));
    for (const order of orders.slice(1)) assert.deepEqual(order, orders[0]);
    assert.ok(percentile(latenciesMs, 50) < 250, `median finality ${percentile(latenciesMs, 50)} ms`);
    assert.ok(latenciesMs.at(-1)! < 500, `slowest finality ${latenciesMs.at(-1)} ms`);
    for (const engine of cluster.engines) {
      assert.equal(
        await metricValue(engine, 'consensus_messages_received_total', { outcome: 'invalid-signature' }),
        0,
      );
      assert.ok(
        (await metricValue(engine, 'consensus_messages_received_total', { outcome: 'accepted' })) > 0,
      );
    }
  } finally {
    await cluster.stop();
  }
});

test('concurrent proposals: 1,000 concurrent propose calls from several replicas all resolve once, same order everywhere', async () => {
  const cluster = new Cluster({ config: { batchMaxVertices: 64 } });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const vertices = Array.from({ length: 1000 }, (_, i) =>
      createVertex(payload('concurrent', i), { validThrough: TEST_VALID_THROUGH }),
    );
    let settled = 0;
    const results = await Promise.all(
      vertices.map((vertex, i) =>
        cluster.engines[i % 4]!.propose(vertex).then((result) => {
          settled++;
          return result;
        }),
      ),
    );
    assert.equal(settled, 1000);
    await finalizedEverywhere(cluster.engines, orders, 1000);
    const order = orders[0]!;
    assert.equal(order.length, 1000, 'each vertex finalized exactly once');
    assert.equal(new Set(order).size, 1000);
    for (const other of orders.slice(1)) assert.deepEqual(other, order);
    // Each result names the vertex's place in the one order.
    const byPlace = new Map<string, string>();
    for (const [i, result] of results.entries()) {
      assert.deepEqual(result.hash, vertices[i]!.hash);
      const place = `${result.sequence}/${result.position}`;
      assert.ok(!byPlace.has(place), `two vertices at ${place}`);
      byPlace.set(place, Buffer.from(result.hash).toString('hex'));
    }
    const places = [...results].sort((a, b) => a.sequence - b.sequence || a.position - b.position);
    assert.deepEqual(
      places.map((result) => Buffer.from(result.hash).toString('hex')),
      order,
    );
    assert.equal(await metricValue(cluster.engines[0]!, 'consensus_vertices_finalized_total'), 1000);
    // Proposed again at another replica once final: the same place, read back from its order.
    for (let i = 0; i < 1000; i += 37) {
      assert.deepEqual(await cluster.engines[(i + 1) % 4]!.propose(vertices[i]!), results[i]);
    }
    assert.equal(orders[0]!.length, 1000);
  } finally {
    await cluster.stop();
  }
});

test('finality time benchmark: finality is recorded in consensus_finality_time_seconds', async () => {
  // Real time here: the histogram is the point. Waits are on the proposals, never on a timer.
  const cluster = new Cluster({ clock: systemClock, config: { batchMaxDelayMs: 2 } });
  await cluster.start();
  try {
    const engine = cluster.engines[1]!;
    const count = 400;
    const latenciesMs: number[] = [];
    for (let wave = 0; wave < 8; wave++) {
      await Promise.all(
        Array.from({ length: count / 8 }, async (_, i) => {
          const started = performance.now();
          await engine.propose(
            createVertex(payload(`bench-${wave}`, i, 256), { validThrough: TEST_VALID_THROUGH }),
          );
          latenciesMs.push(performance.now() - started);
        }),
      );
    }
    latenciesMs.sort((a, b) => a - b);
    console.log(
      `finality (insecure scheme, 4 replicas, real clock): p50 ${percentile(latenciesMs, 50).toFixed(2)} ms, ` +
        `p99 ${percentile(latenciesMs, 99).toFixed(2)} ms`,
    );
    const histogram = (await engine.metrics().getSingleMetric('consensus_finality_time_seconds')!.get())
      .values as { value: number; labels: Record<string, unknown>; metricName?: string }[];
    const observed = histogram.find((value) => value.metricName === 'consensus_finality_time_seconds_count');
    assert.equal(observed?.value, count);
    const withinFiveSeconds = histogram.find(
      (value) => value.metricName === 'consensus_finality_time_seconds_bucket' && value.labels.le === 5,
    );
    assert.equal(withinFiveSeconds?.value, count, 'every proposal final within the generous bound of 5 s');
    // Only the replica the proposals were made at observes their finality.
    assert.equal(await metricValue(cluster.engines[0]!, 'consensus_finality_time_seconds'), 0);
  } finally {
    await cluster.stop();
  }
});

test('a vertex proposed at a backup is forwarded to the leader and finalized once', async () => {
  const cluster = new Cluster();
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const [leader, backup, otherBackup] = cluster.engines as [
      (typeof cluster.engines)[0],
      (typeof cluster.engines)[0],
      (typeof cluster.engines)[0],
    ];
    assert.ok(leader.isLeader());
    assert.ok(!backup.isLeader());
    const vertex = createVertex(payload('forwarded', 1), { validThrough: TEST_VALID_THROUGH });
    // The same vertex at two backups, and twice at one of them, while it is pending.
    const results: ProposalResult[] = await Promise.all([
      backup.propose(vertex),
      backup.propose(vertex),
      otherBackup.propose(vertex),
    ]);
    for (const result of results) assert.deepEqual(result, results[0]);
    await finalizedEverywhere(cluster.engines, orders, 1);
    const hash = Buffer.from(vertex.hash).toString('hex');
    for (const order of orders) assert.deepEqual(order, [hash]);
    // The backup sent it on (a REQUEST); the leader ordered it (a PRE-PREPARE).
    assert.ok((await metricValue(backup, 'consensus_messages_sent_total', { type: 'request' })) >= 1);
    assert.equal(await metricValue(backup, 'consensus_proposals_sent_total'), 0);
    assert.equal(await metricValue(leader, 'consensus_proposals_sent_total'), 1);
    // Proposed again once final: the same answer, and it is not ordered a second time.
    assert.deepEqual(await backup.propose(vertex), results[0]);
    // At a replica where it was never proposed, the answer is read back from the order.
    assert.deepEqual(await cluster.engines[3]!.propose(vertex), results[0]);
    await leader.propose(createVertex(payload('after', 2), { validThrough: TEST_VALID_THROUGH }));
    await finalizedEverywhere(cluster.engines, orders, 2);
    for (const order of orders) assert.equal(order.filter((h) => h === hash).length, 1);
  } finally {
    await cluster.stop();
  }
});
