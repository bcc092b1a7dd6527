/**
 * The LMDB store keeps exactly what the reference image of the durable writes (`DurableImage`)
 * keeps: the same snapshot to restore from and the same finalized records for state transfer,
 * after any sequence of writes, prunes and reopenings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { toHex } from '../../src/crypto/digest.ts';
import { DurableImage } from '../../src/protocol/durable-image.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { bySequence, CLUSTER_ID, type StoreCall, seed, storeCall, tempDir } from './lmdb-fixtures.ts';

const numRuns = Number(process.env.FC_RUNS ?? 25);

function applyToImage(image: DurableImage, call: StoreCall): void {
  if (call.kind === 'apply') for (const write of call.writes) image.apply(write);
  else
    for (const sequence of [...image.finalized.keys()])
      if (sequence <= call.sequence) image.finalized.delete(sequence);
}

/** Compares everything a restart and state transfer can read. */
async function assertSameAs(store: LmdbStore, image: DurableImage, context: string): Promise<void> {
  for (const recent of [0, 1, 3, 10, Number.POSITIVE_INFINITY]) {
    assert.deepStrictEqual(
      bySequence(await store.load(recent)),
      bySequence(image.snapshot(recent)),
      `${context}: snapshot(${recent})`,
    );
  }
  for (let sequence = 0; sequence <= 46; sequence++) {
    assert.deepStrictEqual(
      store.finalizedAt(sequence),
      image.finalizedAt(sequence),
      `${context}: finalizedAt(${sequence})`,
    );
  }
  // Every vertex of a kept batch is found at its first kept position, with that batch's certificate.
  const first = new Map<string, { sequence: number; index: number }>();
  for (const sequence of [...image.finalized.keys()].sort((a, b) => a - b)) {
    image.finalized.get(sequence)!.batch.forEach((vertex, index) => {
      const key = toHex(vertex.hash);
      if (!first.has(key)) first.set(key, { sequence, index });
    });
  }
  for (const [key, position] of first) {
    const found = store.vertex(Buffer.from(key, 'hex'));
    assert.ok(found !== undefined, `${context}: vertex ${key}`);
    const record = image.finalizedAt(position.sequence)!;
    assert.deepStrictEqual(
      { sequence: found.sequence, index: found.index, vertex: found.vertex, commits: found.commits },
      { ...position, vertex: record.batch[position.index], commits: record.commits },
      `${context}: vertex ${key}`,
    );
  }
  store.verify();
}

test(`LmdbStore keeps what DurableImage keeps, over random write sequences (seed ${seed})`, async (t) => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(storeCall, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
      async (rounds) => {
        const dir = tempDir(t);
        const options = {
          path: `${dir}/run-${run++}`,
          clusterId: CLUSTER_ID,
          replica: 3,
        };
        const image = new DurableImage();
        let store = await LmdbStore.open(options);
        try {
          for (const [round, calls] of rounds.entries()) {
            // The calls of a round are made together, as concurrent steps would make them.
            const pending: Promise<unknown>[] = [];
            for (const [index, call] of calls.entries()) {
              pending.push(
                call.kind === 'apply' ? store.apply(call.writes, index) : store.pruneFinalized(call.sequence),
              );
              applyToImage(image, call);
            }
            await Promise.all(pending);
            await assertSameAs(store, image, `round ${round}`);
            if (round % 3 === 2) {
              await store.close();
              store = await LmdbStore.open(options);
              await assertSameAs(store, image, `round ${round} after reopening`);
            }
          }
        } finally {
          await store.close();
        }
      },
    ),
    { seed, numRuns },
  );
});

test('an empty store restores to the empty image', async (t) => {
  const store = await LmdbStore.open({ path: tempDir(t), clusterId: CLUSTER_ID, replica: 0 });
  try {
    assert.deepStrictEqual(await store.load(10), new DurableImage().snapshot(10));
    assert.equal(store.finalizedAt(1), undefined);
    assert.equal(store.vertex(new Uint8Array(32)), undefined);
    assert.equal(store.vertex(new Uint8Array(3)), undefined);
    assert.deepStrictEqual(store.verify(), { records: 1, finalized: 0, vertices: 0, lastFinalized: 0 });
  } finally {
    await store.close();
  }
});
