/**
 * The vertex index tail: index entries wait in 1,024 buckets and each commit writes one bucket,
 * so that a commit touches a 1,024th of the index's pages instead of one page per vertex.
 * Lookups find waiting vertices, a crash leaves a tail that the next open rebuilds, and a batch
 * pruned before its entries were written leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { INDEX_BUCKETS, indexBucketOf } from '../../src/storage/index-tail.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { decodeIndexWatermarks, encodeIndexWatermarks, keys } from '../../src/storage/record-codec.ts';
import { CLUSTER_ID, crashStep, tempDir, WIDE_BATCH, wideFinalized } from './lmdb-fixtures.ts';

/** Records besides index entries once a commit has run: metadata, last finalized, the record, watermarks. */
const BASE_RECORDS = 4;

function inBucket(bucket: number): number {
  return WIDE_BATCH.filter((vertex) => indexBucketOf(vertex.hash) === bucket).length;
}

/** The state after the one commit that finalized `WIDE_BATCH`: it wrote the first bucket only. */
function assertFirstBucketWritten(store: LmdbStore): void {
  assert.deepStrictEqual(store.verify(), {
    records: BASE_RECORDS + inBucket(0),
    finalized: 1,
    vertices: WIDE_BATCH.length,
    lastFinalized: 1,
  });
}

function assertAllFound(store: LmdbStore, context: string): void {
  WIDE_BATCH.forEach((vertex, index) => {
    const found = store.vertex(vertex.hash);
    assert.deepStrictEqual([found?.sequence, found?.index], [1, index], `${context}: vertex ${index}`);
  });
}

test('entries wait in the tail and each commit writes one bucket; every vertex is found throughout', async (t) => {
  const filled = Array.from({ length: INDEX_BUCKETS }, (_, bucket) => bucket).filter((b) => inBucket(b) > 0);
  assert.ok(filled.length > 200, `the fixture spreads over many buckets (${filled.length})`);
  const dir = tempDir(t);
  let store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
  try {
    await store.apply([wideFinalized()], 1);
    assertFirstBucketWritten(store);
    assertAllFound(store, 'after the first commit');
    let written = inBucket(0);
    // Checked at every commit that writes entries and at a few that write none.
    const checked = new Set([...filled, 1, 2, INDEX_BUCKETS - 1]);
    for (let commit = 1; commit < INDEX_BUCKETS; commit++) {
      const prePrepare = crashStep(commit + 1)[0]!;
      await store.apply([prePrepare], commit + 1);
      written += inBucket(commit);
      if (checked.has(commit)) {
        assert.equal(store.verify().records, BASE_RECORDS + commit + written, `after commit ${commit + 1}`);
      }
      if (commit === INDEX_BUCKETS / 2) assertAllFound(store, 'with half the buckets written');
    }
    assert.equal(written, WIDE_BATCH.length);
    assertAllFound(store, 'once every bucket is written');
    await store.close();
    store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
    assertAllFound(store, 'after reopening');
  } finally {
    await store.close();
  }
});

test('a store killed with entries waiting rebuilds its tail at the next open', async (t) => {
  const dir = tempDir(t);
  // A child process writes the record, reports it durable, and kills itself before any other commit.
  const child = spawnSync(
    process.execPath,
    [path.join(path.dirname(fileURLToPath(import.meta.url)), 'lmdb-index-tail-child.ts'), dir],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(child.signal, 'SIGKILL', `the child ended with ${child.status}: ${child.stderr}`);
  assert.equal(child.stdout, 'durable\n');
  let store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
  try {
    assertFirstBucketWritten(store);
    assertAllFound(store, 'after the crash');
    await store.close();
    store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
    assert.equal(
      store.verify().records,
      BASE_RECORDS + WIDE_BATCH.length,
      'the close wrote the rebuilt tail',
    );
    assertAllFound(store, 'after a clean close');
  } finally {
    await store.close();
  }
});

test('a batch pruned while its entries wait leaves no entry behind', async (t) => {
  const dir = tempDir(t);
  let store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
  try {
    await store.apply([wideFinalized()], 1);
    await store.pruneFinalized(1);
    const empty = { records: 3, finalized: 0, vertices: 0, lastFinalized: 1 };
    assert.deepStrictEqual(store.verify(), empty, 'metadata, last finalized, watermarks');
    for (const vertex of WIDE_BATCH) assert.equal(store.vertex(vertex.hash), undefined);
    await store.close();
    store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
    assert.deepStrictEqual(store.verify(), empty, 'the close wrote nothing for the pruned batch');
  } finally {
    await store.close();
  }
});

test("an earlier release's store of 64 buckets opens with each of its buckets as sixteen of ours", async (t) => {
  const dir = tempDir(t);
  let store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
  await store.apply([wideFinalized()], 1);
  await store.close();
  // What a release of 64 buckets leaves when its first commit wrote its bucket 0 (the hashes whose
  // top six bits are 0) and the process died: those entries, and watermarks [1, 0, 0, ...].
  const oldBucketOf = (hash: Uint8Array): number => hash[0]! >> 2;
  const waiting = WIDE_BATCH.filter((vertex) => oldBucketOf(vertex.hash) !== 0);
  assert.ok(
    waiting.length > 0 && waiting.length < WIDE_BATCH.length,
    'the fixture fills old bucket 0 and others',
  );
  const raw = open<Uint8Array, Uint8Array>({ path: dir, keyEncoding: 'binary', encoding: 'binary' });
  await raw.batch(() => {
    WIDE_BATCH.forEach((vertex, index) => {
      if (oldBucketOf(vertex.hash) !== 0) raw.remove(keys.vertex(vertex.hash, 1, index));
    });
    raw.put(keys.indexWatermarks(), encodeIndexWatermarks([1, ...new Array<number>(63).fill(0)]));
  });
  await raw.close();

  store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
  try {
    // The entries written match the widened watermarks; the others wait in the rebuilt tail.
    assert.deepStrictEqual(store.verify(), {
      records: BASE_RECORDS + WIDE_BATCH.length - waiting.length,
      finalized: 1,
      vertices: WIDE_BATCH.length,
      lastFinalized: 1,
    });
    assertAllFound(store, "after opening the earlier release's store");
    await store.close();
    store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
    assert.equal(store.verify().records, BASE_RECORDS + WIDE_BATCH.length, 'the close wrote the rest');
    assertAllFound(store, 'after a clean close');
  } finally {
    await store.close();
  }
  const reread = open<Uint8Array, Uint8Array>({ path: dir, keyEncoding: 'binary', encoding: 'binary' });
  try {
    const stored = reread.get(keys.indexWatermarks());
    assert.ok(stored !== undefined);
    assert.equal(decodeIndexWatermarks(stored).length, INDEX_BUCKETS, 'the watermarks are written as ours');
  } finally {
    await reread.close();
  }
});
