/**
 * message log cleanup (PBFT 4.3, garbage collection): after many checkpoints the core's log, its
 * checkpoint votes and the store's finalized records stay bounded by the watermark window and
 * `logRetention`, however long the run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, finalizedEverywhere, payload, recordFinalized } from './cluster.ts';

test('message log cleanup: the log stays bounded after many checkpoints', async () => {
  const checkpointInterval = 4;
  const watermarkWindow = 8;
  // The smallest retention allowed: the dedup horizon, here set to 4L.
  const dedupHorizonSequences = 4 * watermarkWindow;
  const logRetention = dedupHorizonSequences;
  const cluster = new Cluster({
    config: { checkpointInterval, watermarkWindow, dedupHorizonSequences, logRetention },
  });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    let maxLogEntries = 0;
    const sequences = 200;
    // One vertex at a time: each is a sequence of its own, so the run crosses 50 checkpoints.
    for (let i = 0; i < sequences; i++) {
      const engine = cluster.engines[i % 4]!;
      await engine.propose(engine.createVertex(payload('cleanup', i)));
      for (const engine of cluster.engines)
        maxLogEntries = Math.max(maxLogEntries, engine.status().logEntries);
    }
    await finalizedEverywhere(cluster.engines, orders, sequences);
    // Let the last checkpoint votes arrive everywhere.
    await new Promise((resolve) => setImmediate(resolve));
    for (const [i, engine] of cluster.engines.entries()) {
      const status = engine.status();
      assert.equal(status.sequence, sequences);
      assert.ok(
        status.stableCheckpoint >= sequences - checkpointInterval,
        `stable at ${status.stableCheckpoint}`,
      );
      assert.ok(status.logEntries <= watermarkWindow, `${status.logEntries} log entries`);
      const kept = cluster.stores[i]!.image.finalized.size;
      assert.ok(kept <= logRetention + checkpointInterval, `${kept} finalized records kept`);
      assert.ok(kept >= logRetention - checkpointInterval, `${kept} finalized records kept`);
      const votes = cluster.stores[i]!.image.prePrepares.size + cluster.stores[i]!.image.prepared.size;
      assert.ok(votes <= 2 * watermarkWindow, `${votes} vote records kept`);
    }
    assert.ok(
      maxLogEntries <= watermarkWindow + checkpointInterval,
      `log peaked at ${maxLogEntries} entries`,
    );
  } finally {
    await cluster.stop();
  }
});
