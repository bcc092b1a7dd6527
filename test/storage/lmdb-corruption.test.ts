/**
 * A damaged store is refused with a StoreCorruptError that names the damage and the way back;
 * the node never runs on it. Damage is made by flipping bytes in the data file and by writing
 * bad records through the raw LMDB API.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import type { DurableWrite } from '../../src/protocol/effects.ts';
import { createVertex } from '../../src/protocol/types.ts';
import { StoreCorruptError, type StoreCorruptionCode } from '../../src/storage/errors.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import {
  encodeIndexWatermarks,
  encodeMeta,
  keys,
  RETIRED_KEY_PREFIX,
  vertexIndexEntry,
} from '../../src/storage/record-codec.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { CLUSTER_ID, crashStep, tempDir } from './lmdb-fixtures.ts';

const options = (dir: string) => ({ path: dir, clusterId: CLUSTER_ID, replica: 2 });

async function storeWith(dir: string, steps: number, extra: readonly DurableWrite[] = []): Promise<void> {
  const store = await LmdbStore.open(options(dir));
  for (let sequence = 1; sequence <= steps; sequence++) await store.apply(crashStep(sequence), sequence);
  if (extra.length > 0) await store.apply(extra, steps + 1);
  await store.close();
}

/** Writes through the raw LMDB API, bypassing the store's records. */
async function raw(dir: string, edit: (db: ReturnType<typeof openRaw>) => void): Promise<void> {
  const db = openRaw(dir);
  await db.batch(() => edit(db));
  await db.close();
}

function openRaw(dir: string) {
  return open<Uint8Array, Uint8Array>({
    path: dir,
    keyEncoding: 'binary',
    encoding: 'binary',
    overlappingSync: false,
  });
}

/** Asserts that `promise` fails with a StoreCorruptError of `code` that explains the way back. */
async function assertRefused(
  promise: Promise<unknown>,
  code: StoreCorruptionCode,
  mentions?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StoreCorruptError, `expected a StoreCorruptError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, /wipe the data directory/);
    assert.match(error.message, /restore a backup/);
    if (mentions !== undefined) assert.match(error.message, mentions);
    return true;
  });
}

function assertRefusedSync(call: () => unknown, code: StoreCorruptionCode, mentions?: RegExp): void {
  assert.throws(call, (error: unknown) => {
    assert.ok(error instanceof StoreCorruptError, `expected a StoreCorruptError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (mentions !== undefined) assert.match(error.message, mentions);
    return true;
  });
}

/** The hash of vertex `index` of the crash test's batch at `sequence`. */
function hashAt(sequence: number, index: number): Uint8Array {
  const write = crashStep(sequence)[1];
  assert.ok(write?.kind === 'finalized');
  return write.record.batch[index]!.hash;
}

/** Opens the store in `dir`, runs `check` on it, and closes it. */
async function withStore(dir: string, check: (store: LmdbStore) => void): Promise<void> {
  const store = await LmdbStore.open(options(dir));
  try {
    check(store);
  } finally {
    await store.close();
  }
}

test('a flipped byte inside a record in the data file is found at open (checksum)', async (t) => {
  const dir = tempDir(t);
  const marker = new TextEncoder().encode('CRETOAI-CORRUPTION-MARKER-2f9c41');
  const vertex = createVertex(marker, { validThrough: TEST_VALID_THROUGH });
  await storeWith(dir, 3, [
    {
      kind: 'pre-prepare',
      sequence: 9,
      prePrepare: {
        kind: 'pre-prepare',
        epoch: 0,
        view: 0,
        sequence: 9,
        digest: new Uint8Array(32),
        batch: [vertex],
        replica: 0,
      },
      batch: [vertex],
    },
  ]);
  const file = path.join(dir, 'data.mdb');
  const bytes = fs.readFileSync(file);
  let flipped = 0;
  // Flip a byte in every copy (LMDB's copy-on-write may leave older copies in free pages).
  for (let at = bytes.indexOf(marker); at !== -1; at = bytes.indexOf(marker, at + 1)) {
    bytes[at + 10]! ^= 0x01;
    flipped++;
  }
  assert.ok(flipped > 0, 'the marker is in the data file');
  fs.writeFileSync(file, bytes);
  await assertRefused(LmdbStore.open(options(dir)), 'checksum', /pre-prepare record at sequence 9/);
  // Refused, not half-open: the directory can be opened again (and is refused again).
  await assertRefused(LmdbStore.open(options(dir)), 'checksum');
});

test('a record replaced by garbage through the raw LMDB API is found at open', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  await raw(dir, (db) => void db.put(keys.prePrepare(2), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9)));
  await assertRefused(LmdbStore.open(options(dir)), 'checksum', /pre-prepare record at sequence 2/);
});

test('a valid record moved under another key fails its checksum (the key is covered)', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  await raw(dir, (db) => void db.put(keys.finalized(3), db.get(keys.finalized(2))!));
  await assertRefused(LmdbStore.open(options(dir)), 'checksum', /finalized record at sequence 3/);
});

test('damage to older finalized history is found when it is read, and by verify', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 5);
  const damaged = (await (async () => {
    const db = openRaw(dir);
    const value = Uint8Array.from(db.get(keys.finalized(2))!);
    await db.close();
    return value;
  })()) as Uint8Array;
  damaged[30]! ^= 0x80;
  await raw(dir, (db) => void db.put(keys.finalized(2), damaged));
  // The records a restart needs first are intact, so the store opens...
  const store = await LmdbStore.open(options(dir));
  try {
    // ...but the damaged record is never served or restored from.
    assertRefusedSync(() => store.finalizedAt(2), 'checksum');
    await assertRefused(store.load(10), 'checksum', /finalized record at sequence 2/);
    assertRefusedSync(() => store.verify(), 'checksum');
    assert.ok(store.finalizedAt(3) !== undefined);
    // A vertex of the damaged batch: the index entry is intact, the record it points at is not.
    const [, write] = crashStep(2);
    assert.ok(write?.kind === 'finalized');
    assertRefusedSync(() => store.vertex(write.record.batch[0]!.hash), 'checksum');
  } finally {
    await store.close();
  }
});

test('metadata: another cluster or replica, a newer format, or none at all is refused', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 2);
  await assertRefused(
    LmdbStore.open({ ...options(dir), clusterId: 'other' }),
    'identity-mismatch',
    /cluster "other"/,
  );
  await assertRefused(LmdbStore.open({ ...options(dir), replica: 3 }), 'identity-mismatch', /replica 3/);
  await raw(
    dir,
    (db) => void db.put(keys.meta(), encodeMeta({ formatVersion: 99, clusterId: CLUSTER_ID, replica: 2 })),
  );
  await assertRefused(LmdbStore.open(options(dir)), 'format-version', /format 99/);
  await raw(dir, (db) => void db.remove(keys.meta()));
  await assertRefused(LmdbStore.open(options(dir)), 'missing-metadata');
});

test('a key this release never writes is found by verify', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 2);
  await raw(dir, (db) => void db.put(Uint8Array.of(0x7f, 1), Uint8Array.of(0)));
  const store = await LmdbStore.open(options(dir));
  try {
    assertRefusedSync(() => store.verify(), 'unknown-key');
  } finally {
    await store.close();
  }
});

test('an index entry without its finalized record is found by verify', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  await raw(dir, (db) => void db.remove(keys.finalized(1)));
  const store = await LmdbStore.open(options(dir));
  try {
    assertRefusedSync(() => store.verify(), 'inconsistent');
  } finally {
    await store.close();
  }
});

test('a data file that is not an LMDB environment is refused before LMDB maps it', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'data.mdb'), Buffer.alloc(16384, 0x5a));
  await assertRefused(LmdbStore.open(options(dir)), 'lmdb', /not an LMDB data file/);
});

test('finalized records above the last-finalized marker are found at open (inconsistent)', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  await raw(dir, (db) => void db.remove(keys.lastFinalized()));
  await assertRefused(
    LmdbStore.open(options(dir)),
    'inconsistent',
    /sequence 3 lies above the last finalized sequence 0/,
  );
});

test('a store of format 1 (one index record per hash) is refused at open, with the way back', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 2);
  // What format 1 wrote: its metadata, and index records under the now retired prefix.
  await raw(dir, (db) => {
    void db.put(keys.meta(), encodeMeta({ formatVersion: 1, clusterId: CLUSTER_ID, replica: 2 }));
    void db.put(
      Uint8Array.of(RETIRED_KEY_PREFIX.vertexPositions, ...hashAt(1, 0)),
      Uint8Array.of(1, 0, 0, 0, 0),
    );
  });
  await assertRefused(
    LmdbStore.open(options(dir)),
    'format-version',
    /store format 1, this release reads formats 3 and 4/,
  );
});

test("format 1's index record in a format-2 store is not a key this release writes", async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 2);
  await raw(dir, (db) => {
    void db.put(
      Uint8Array.of(RETIRED_KEY_PREFIX.vertexPositions, ...hashAt(1, 0)),
      Uint8Array.of(1, 0, 0, 0, 0),
    );
  });
  await withStore(dir, (store) =>
    assertRefusedSync(() => store.verify(), 'unknown-key', /store format 1 vertex index record 0x08/),
  );
});

test('a damaged vertex index entry is found by verify and by a lookup of its vertex (checksum)', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  const key = keys.vertex(hashAt(2, 1), 2, 1);
  const db = openRaw(dir);
  const value = Uint8Array.from(db.get(key)!);
  await db.close();
  value[value.length - 1]! ^= 0x20;
  await raw(dir, (db) => void db.put(key, value));
  await withStore(dir, (store) => {
    assertRefusedSync(
      () => store.verify(),
      'checksum',
      /vertex index entry for [0-9a-f]{64} at index 1 of sequence 2/,
    );
    assertRefusedSync(() => store.vertex(hashAt(2, 1)), 'checksum');
    assert.equal(store.vertex(hashAt(2, 0))?.sequence, 2, 'the other entries still serve');
  });
});

test('an index entry whose finalized record was removed behind the store is reported inconsistent', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  await raw(dir, (db) => void db.remove(keys.finalized(2)));
  await withStore(dir, (store) => {
    assertRefusedSync(
      () => store.verify(),
      'inconsistent',
      /vertex index entry for [0-9a-f]{64} at index 0 of sequence 2 points at no kept finalized record/,
    );
    assertRefusedSync(() => store.vertex(hashAt(2, 0)), 'inconsistent', /does not hold it/);
  });
});

test('a finalized vertex without its index entry is reported inconsistent by verify', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  await raw(dir, (db) => void db.remove(keys.vertex(hashAt(2, 1), 2, 1)));
  await withStore(dir, (store) =>
    assertRefusedSync(
      () => store.verify(),
      'inconsistent',
      /vertex 1 of the finalized record at sequence 2 is missing from the vertex index/,
    ),
  );
});

test('a damaged index watermark record, or one for another number of buckets, is refused at open', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 2);
  await raw(
    dir,
    (db) => void db.put(keys.indexWatermarks(), Uint8Array.of(1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
  );
  await assertRefused(LmdbStore.open(options(dir)), 'checksum', /vertex index watermark record/);
  // Fewer buckets, a power of two, are an earlier release's (lmdb-index-tail.test.ts); these are not.
  await raw(dir, (db) => void db.put(keys.indexWatermarks(), encodeIndexWatermarks([2, 2, 2])));
  await assertRefused(LmdbStore.open(options(dir)), 'malformed', /3 buckets, this release has 1024/);
  await raw(dir, (db) => void db.put(keys.indexWatermarks(), encodeIndexWatermarks(new Array(2048).fill(2))));
  await assertRefused(LmdbStore.open(options(dir)), 'malformed', /2048 buckets, this release has 1024/);
});

test("an index entry above its bucket's watermark is reported inconsistent by verify", async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 2);
  // Watermarks at 0 say that no entry is written, yet the close wrote them all. (An earlier
  // release's 64 buckets, which this release reads as its own 1,024.)
  await raw(dir, (db) => void db.put(keys.indexWatermarks(), encodeIndexWatermarks(new Array(64).fill(0))));
  await withStore(dir, (store) =>
    assertRefusedSync(() => store.verify(), 'inconsistent', /lies above its bucket's index watermark 0/),
  );
});

test('well-formed index entries that name a slot that does not hold their vertex are reported inconsistent', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 3);
  const stranger = new Uint8Array(32).fill(0x5e);
  // Beyond the batch: found by the entry's own check.
  const beyond = vertexIndexEntry(stranger, 2, 2);
  await raw(dir, (db) => void db.put(beyond.key, beyond.value));
  await withStore(dir, (store) => {
    assertRefusedSync(
      () => store.verify(),
      'inconsistent',
      /at index 2 of sequence 2 points at a slot not delivered there/,
    );
    assertRefusedSync(() => store.vertex(stranger), 'inconsistent');
  });
  // At a real slot that holds another vertex: found by the count of entries against slots.
  const wrong = vertexIndexEntry(stranger, 2, 0);
  await raw(dir, (db) => {
    void db.remove(beyond.key);
    void db.put(wrong.key, wrong.value);
  });
  await withStore(dir, (store) => {
    assertRefusedSync(() => store.verify(), 'inconsistent', /holds 7 entries for 6 vertices/);
    assertRefusedSync(() => store.vertex(stranger), 'inconsistent', /does not hold it/);
  });
});
