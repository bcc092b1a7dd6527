/**
 * A damaged finalized record is never served in state transfer: a replica asked for it finds
 * that its store cannot read it back (the LMDB store verifies every record it reads and throws
 * StoreCorruptError) and halts with that error, reported on 'error', instead of answering or
 * letting the exception escape a step; the replica that asked never receives the record.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVertex } from '../../src/engine/index.ts';
import { StoreCorruptError } from '../../src/storage/errors.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, finalizedEverywhere, payload, recordFinalized } from './cluster.ts';

test('a replica asked for a damaged record in state transfer halts rather than serve it', async () => {
  const cluster = new Cluster({ config: { checkpointInterval: 4, watermarkWindow: 8 } });
  const orders = cluster.engines.map(recordFinalized);
  const errors: Error[][] = cluster.engines.map(() => []);
  for (const [i, engine] of cluster.engines.entries()) engine.on('error', (error) => errors[i]!.push(error));
  await cluster.start();
  try {
    const wave = (label: string, count: number, at: readonly number[]) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          cluster.engines[at[i % at.length]!]!.propose(
            createVertex(payload(label, i), { validThrough: TEST_VALID_THROUGH }),
          ),
        ),
      );
    for (let round = 0; round < 3; round++) await wave(`before-${round}`, 8, [0, 1, 2, 3]);
    await finalizedEverywhere(cluster.engines, orders, 24);
    const stopped = cluster.engines[3]!.status().sequence;
    await cluster.engines[3]!.stop();
    for (let round = 0; round < 8; round++) await wave(`during-${round}`, 4, [0, 1, 2]);
    await finalizedEverywhere(cluster.engines.slice(0, 3), orders.slice(0, 3), 56);

    // The first sequence the stopped replica will ask for is damaged in every other store.
    const damaged = stopped + 1;
    for (const store of cluster.stores.slice(0, 3)) {
      const read = store.finalizedAt.bind(store);
      store.finalizedAt = (sequence: number) => {
        if (sequence === damaged)
          throw new StoreCorruptError(
            'checksum',
            'memory',
            `the finalized record at sequence ${sequence} fails its check`,
          );
        return read(sequence);
      };
    }
    const restarted = cluster.createEngine(3, cluster.stores[3]!);
    cluster.engines[3] = restarted;
    const restartedErrors: Error[] = [];
    restarted.on('error', (error) => restartedErrors.push(error));
    await restarted.start();
    let halted = false;
    for (let elapsed = 0; elapsed < 10_000 && !halted; elapsed += 100) {
      await cluster.advance(100);
      halted = errors.slice(0, 3).some((list) => list.length > 0);
    }
    assert.ok(halted, 'a replica asked for the damaged record halted');
    for (const [i, list] of errors.slice(0, 3).entries()) {
      for (const error of list) {
        assert.ok(error instanceof StoreCorruptError, `replica ${i}: ${String(error)}`);
        assert.equal(cluster.engines[i]!.status().state, 'halted');
      }
    }
    // Nothing at or past the damaged sequence reached the replica that asked.
    assert.ok(restarted.status().sequence < damaged, `restarted at ${restarted.status().sequence}`);
    assert.deepEqual(restartedErrors, []);
  } finally {
    await cluster.stop();
  }
});
