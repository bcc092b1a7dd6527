/**
 * Synced write throughput of the LMDB store, one vote-sized write (a PRE-PREPARE header with an
 * ML-DSA-87 signature, about 4.7 KB) per apply: one apply at a time, each waiting for its own
 * sync, against many applies in flight that group commit lets share syncs. The figures are
 * printed, not asserted (tests never assert wall-clock times); only the sync counts are checked.
 *
 * LMDB_BENCH_APPLIES=20000 node --test test/storage/lmdb-throughput.test.ts   for steadier figures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { CLUSTER_ID, tempDir, voteWrite } from './lmdb-fixtures.ts';

const applies = Number(process.env.LMDB_BENCH_APPLIES ?? 400);

async function measure(
  dir: string,
  inFlight: number,
): Promise<{ writesPerSecond: number; syncs: number; perSync: number }> {
  const store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 0 });
  try {
    let next = 1;
    const started = performance.now();
    // A closed loop: `inFlight` steps outstanding, each replaced as soon as its receipt arrives.
    const worker = async (): Promise<void> => {
      while (next <= applies) {
        const sequence = next++;
        await store.apply([voteWrite(sequence)], sequence);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const seconds = (performance.now() - started) / 1000;
    assert.equal(store.stats.applied, applies);
    return {
      writesPerSecond: applies / seconds,
      syncs: store.stats.syncs,
      perSync: applies / store.stats.syncs,
    };
  } finally {
    await store.close();
  }
}

test(`synced throughput of vote-sized writes, one per apply, alone and grouped (${applies} applies)`, async (t) => {
  const dir = tempDir(t);
  const alone = await measure(`${dir}/alone`, 1);
  assert.equal(alone.syncs, applies, 'one apply at a time: one sync each');
  t.diagnostic(`1 in flight: ${alone.writesPerSecond.toFixed(0)} writes/s, ${alone.syncs} syncs`);
  for (const inFlight of [8, 64, 256]) {
    const grouped = await measure(`${dir}/grouped-${inFlight}`, inFlight);
    assert.ok(
      grouped.syncs < applies,
      `${inFlight} in flight: ${grouped.syncs} syncs for ${applies} applies`,
    );
    t.diagnostic(
      `${inFlight} in flight: ${grouped.writesPerSecond.toFixed(0)} writes/s, ${grouped.syncs} syncs (${grouped.perSync.toFixed(1)} writes per sync)`,
    );
  }
});
