/**
 * A store of format 3 (accepted vertices one record each) opens in this release: its accepted
 * vertices come back, are truncated as before, and the store is marked format 4 so that an
 * earlier release refuses it rather than miss the accepted lists. The upgrade comes after the
 * checks at open, so a store refused for another reason is left as it was.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { toHex } from '../../src/crypto/digest.ts';
import { createVertex, hasValidHash, type Vertex } from '../../src/protocol/types.ts';
import { StoreCorruptError } from '../../src/storage/errors.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import {
  decodeMeta,
  encodeAccepted,
  encodeMeta,
  KEY_PREFIX,
  keys,
  STORE_FORMAT_VERSION,
} from '../../src/storage/record-codec.ts';
import { CLUSTER_ID, crashStep, tempDir } from './lmdb-fixtures.ts';

const options = (dir: string) => ({ path: dir, clusterId: CLUSTER_ID, replica: 2 });

function openRaw(dir: string) {
  return open<Uint8Array, Uint8Array>({ path: dir, keyEncoding: 'binary', encoding: 'binary' });
}

const vertexOf = (text: string, validThrough: number): Vertex =>
  createVertex(new TextEncoder().encode(text), { validThrough });

/** A store as format 3 left it: three finalized steps and two accepted vertices, one record each. */
async function formatThreeStore(dir: string, accepted: readonly Vertex[]): Promise<void> {
  const store = await LmdbStore.open(options(dir));
  for (let sequence = 1; sequence <= 3; sequence++) await store.apply(crashStep(sequence), sequence);
  await store.close();
  const db = openRaw(dir);
  await db.batch(() => {
    void db.put(keys.meta(), encodeMeta({ formatVersion: 3, clusterId: CLUSTER_ID, replica: 2 }));
    for (const vertex of accepted)
      void db.put(keys.accepted(vertex.validThrough, vertex.hash), encodeAccepted(vertex));
  });
  await db.close();
}

function storedFormat(dir: string): number {
  const db = openRaw(dir);
  try {
    const value = db.get(keys.meta());
    assert.ok(value !== undefined);
    return decodeMeta(value).formatVersion;
  } finally {
    void db.close();
  }
}

function recordsOf(dir: string, prefix: number): number {
  const db = openRaw(dir);
  try {
    return db.getKeysCount({ start: Uint8Array.of(prefix), end: Uint8Array.of(prefix + 1) });
  } finally {
    void db.close();
  }
}

test('a format-3 store opens, gives back its accepted vertices, truncates them and becomes format 4', async (t) => {
  const dir = tempDir(t);
  const early = vertexOf('format 3, valid through 5', 5);
  const late = vertexOf('format 3, valid through 90', 90);
  await formatThreeStore(dir, [early, late]);
  assert.equal(STORE_FORMAT_VERSION, 4);

  let store = await LmdbStore.open(options(dir));
  try {
    const accepted = (await store.load(0)).accepted;
    assert.deepEqual(
      accepted.map((vertex) => toHex(vertex.hash)),
      [toHex(early.hash), toHex(late.hash)],
    );
    assert.ok(accepted.every(hasValidHash));
    assert.equal(store.lastFinalized, 3);
    store.verify();
    // New acceptances are lists, next to the old records.
    const fresh = vertexOf('format 4, valid through 70', 70);
    await store.apply([{ kind: 'accepted', vertices: [fresh] }], 1);
    assert.equal((await store.load(0)).accepted.length, 3);
    await store.apply([{ kind: 'truncate', through: 10 }], 2);
    assert.deepEqual(
      (await store.load(0)).accepted.map((vertex) => vertex.validThrough),
      [70, 90],
    );
  } finally {
    await store.close();
  }
  assert.equal(storedFormat(dir), 4);
  assert.equal(recordsOf(dir, KEY_PREFIX.accepted), 1, 'the old record of the late vertex');
  assert.equal(recordsOf(dir, KEY_PREFIX.acceptedList), 1);

  store = await LmdbStore.open(options(dir));
  try {
    await store.apply([{ kind: 'truncate', through: 90 }], 1);
    assert.deepEqual((await store.load(0)).accepted, []);
    store.verify();
  } finally {
    await store.close();
  }
  assert.equal(recordsOf(dir, KEY_PREFIX.accepted), 0);
});

test('a format-3 store refused at open is left as format 3', async (t) => {
  const dir = tempDir(t);
  await formatThreeStore(dir, [vertexOf('accepted', 50)]);
  await assert.rejects(LmdbStore.open({ ...options(dir), replica: 3 }), (error: unknown) => {
    assert.ok(error instanceof StoreCorruptError);
    assert.equal(error.code, 'identity-mismatch');
    return true;
  });
  assert.equal(storedFormat(dir), 3);
});

test('a backup whose manifest says format 3 is restored, and opens as format 4', async (t) => {
  const root = tempDir(t);
  const live = path.join(root, 'live');
  await formatThreeStore(live, [vertexOf('accepted', 50)]);
  // A backup is the data file and its manifest; one taken by format 3 names it.
  const store = await LmdbStore.open(options(live));
  await store.backup(path.join(root, 'backup'));
  await store.close();
  const manifest = path.join(root, 'backup', 'MANIFEST');
  fs.writeFileSync(
    manifest,
    fs.readFileSync(manifest, 'utf8').replace(/^store-format 4$/m, 'store-format 3'),
  );
  const report = await LmdbStore.restoreBackup(path.join(root, 'backup'), path.join(root, 'restored'), {
    clusterId: CLUSTER_ID,
    replica: 2,
  });
  assert.equal(report.formatVersion, 3);
  assert.equal(report.lastFinalized, 3);
  const restored = await LmdbStore.open(options(path.join(root, 'restored')));
  try {
    assert.equal((await restored.load(0)).accepted.length, 1);
  } finally {
    await restored.close();
  }
});
