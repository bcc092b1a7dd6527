/**
 * Backups: a consistent snapshot taken while the store is in use, restored into a fresh data
 * directory only after its manifest, file digest, metadata and every record check out.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { StoreCorruptError, StoreInUseError } from '../../src/storage/errors.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { keys } from '../../src/storage/record-codec.ts';
import { CLUSTER_ID, crashStep, tempDir } from './lmdb-fixtures.ts';

const identity = { clusterId: CLUSTER_ID, replica: 1 };

async function filledStore(dir: string, steps: number): Promise<LmdbStore> {
  const store = await LmdbStore.open({ path: dir, ...identity });
  for (let sequence = 1; sequence <= steps; sequence++) await store.apply(crashStep(sequence), sequence);
  return store;
}

function isRefusal(code: StoreCorruptError['code']) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof StoreCorruptError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

test('a backup taken while writes go on restores to a consistent prefix of them', async (t) => {
  const root = tempDir(t);
  const store = await filledStore(path.join(root, 'live'), 40);
  let manifest: Awaited<ReturnType<LmdbStore['backup']>>;
  let reached60!: () => void;
  const at60 = new Promise<void>((resolve) => {
    reached60 = resolve;
  });
  // Writes keep committing, one sync each, while the copy is made.
  const writing = (async () => {
    for (let sequence = 41; sequence <= 200; sequence++) {
      await store.apply(crashStep(sequence), sequence);
      if (sequence === 60) reached60();
    }
  })();
  try {
    await at60;
    manifest = await store.backup(path.join(root, 'backup'));
    await writing;
  } finally {
    await store.close();
  }
  assert.equal(manifest.clusterId, CLUSTER_ID);
  assert.equal(manifest.replica, 1);
  assert.match(manifest.dataSha256, /^[0-9a-f]{64}$/);

  const restoredDir = path.join(root, 'restored');
  const report = await LmdbStore.restoreBackup(path.join(root, 'backup'), restoredDir, identity);
  assert.ok(report.lastFinalized >= manifest.lastFinalized);
  const original = await LmdbStore.open({ path: path.join(root, 'live'), ...identity });
  const restored = await LmdbStore.open({ path: restoredDir, ...identity });
  try {
    const last = restored.lastFinalized;
    assert.ok(last >= 60 && last <= 200, `restored through ${last}`);
    t.diagnostic(`the backup holds sequences 1..${last} of 200`);
    // A prefix: everything up to `last`, each step whole (its PRE-PREPARE with its record), nothing after.
    const snapshot = await restored.load(Number.POSITIVE_INFINITY);
    assert.deepStrictEqual(
      snapshot.finalized.map((record) => record.sequence),
      Array.from({ length: last }, (_, i) => i + 1),
    );
    assert.deepStrictEqual(
      snapshot.prePrepares.map((record) => record.sequence),
      Array.from({ length: last }, (_, i) => i + 1),
    );
    for (let sequence = 1; sequence <= last; sequence++) {
      assert.deepStrictEqual(restored.finalizedAt(sequence), original.finalizedAt(sequence));
    }
    assert.equal(restored.finalizedAt(last + 1), undefined);
    const [, write] = crashStep(last);
    assert.ok(write?.kind === 'finalized');
    assert.equal(restored.vertex(write.record.batch[1]!.hash)?.sequence, last);
    assert.equal(restored.verify().finalized, last);
  } finally {
    await original.close();
    await restored.close();
  }
});

test('a backup with a flipped byte is refused before anything is installed', async (t) => {
  const root = tempDir(t);
  const store = await filledStore(path.join(root, 'live'), 10);
  await store.backup(path.join(root, 'backup'));
  await store.close();
  const file = path.join(root, 'backup', 'data.mdb');
  const bytes = fs.readFileSync(file);
  bytes[bytes.length >> 1]! ^= 0x10;
  fs.writeFileSync(file, bytes);
  await assert.rejects(
    LmdbStore.restoreBackup(path.join(root, 'backup'), path.join(root, 'restored')),
    isRefusal('backup'),
  );
  assert.deepStrictEqual(
    fs.readdirSync(root).sort(),
    ['backup', 'live'],
    'nothing installed, no staging left',
  );
});

test('a backup of a store with a damaged record is refused by the record checks', async (t) => {
  const root = tempDir(t);
  const live = path.join(root, 'live');
  const store = await filledStore(live, 10);
  await store.close();
  // Damage an old finalized record (not read at open), as bit rot would, then back up.
  const db = open<Uint8Array, Uint8Array>({
    path: live,
    keyEncoding: 'binary',
    encoding: 'binary',
    overlappingSync: false,
  });
  const value = Uint8Array.from(db.get(keys.finalized(2))!);
  value[40]! ^= 0x04;
  await db.batch(() => void db.put(keys.finalized(2), value));
  await db.close();
  const reopened = await LmdbStore.open({ path: live, ...identity });
  await reopened.backup(path.join(root, 'backup'));
  await reopened.close();
  await assert.rejects(
    LmdbStore.restoreBackup(path.join(root, 'backup'), path.join(root, 'restored')),
    (error) => {
      assert.ok(isRefusal('backup')(error));
      assert.match((error as Error).message, /finalized record at sequence 2/);
      assert.equal(((error as Error).cause as StoreCorruptError).code, 'checksum');
      return true;
    },
  );
  assert.equal(fs.existsSync(path.join(root, 'restored')), false);
});

test("restore refuses a directory without a manifest, another node's backup, and a target that holds data", async (t) => {
  const root = tempDir(t);
  const store = await filledStore(path.join(root, 'live'), 3);
  await store.backup(path.join(root, 'backup'));
  await assert.rejects(store.backup(path.join(root, 'backup')), StoreInUseError, 'a backup never overwrites');
  await store.close();
  await assert.rejects(
    LmdbStore.restoreBackup(path.join(root, 'live'), path.join(root, 'x')),
    isRefusal('backup'),
  );
  await assert.rejects(
    LmdbStore.restoreBackup(path.join(root, 'backup'), path.join(root, 'x'), {
      clusterId: CLUSTER_ID,
      replica: 2,
    }),
    isRefusal('identity-mismatch'),
  );
  await assert.rejects(
    LmdbStore.restoreBackup(path.join(root, 'backup'), path.join(root, 'live')),
    StoreInUseError,
  );
  // An empty target directory is fine.
  fs.mkdirSync(path.join(root, 'empty'));
  await LmdbStore.restoreBackup(path.join(root, 'backup'), path.join(root, 'empty'));
  const restored = await LmdbStore.open({ path: path.join(root, 'empty'), ...identity });
  assert.equal(restored.lastFinalized, 3);
  await restored.close();
});

test('a backup of store format 1 is refused by its manifest, with the way back, before anything is installed', async (t) => {
  const root = tempDir(t);
  const store = await filledStore(path.join(root, 'live'), 3);
  await store.backup(path.join(root, 'backup'));
  await store.close();
  const manifest = path.join(root, 'backup', 'MANIFEST');
  const text = fs.readFileSync(manifest, 'utf8');
  assert.match(text, /^store-format 4$/m);
  fs.writeFileSync(manifest, text.replace(/^store-format 4$/m, 'store-format 1'));
  await assert.rejects(
    LmdbStore.restoreBackup(path.join(root, 'backup'), path.join(root, 'restored'), identity),
    (error) => {
      assert.ok(isRefusal('backup')(error));
      assert.match((error as Error).message, /store format 1, this release reads formats 3 and 4/);
      assert.match((error as Error).message, /rejoin by state transfer: cretoai-node wipe/);
      return true;
    },
  );
  assert.equal(fs.existsSync(path.join(root, 'restored')), false);
});
