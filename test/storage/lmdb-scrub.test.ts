/**
 * The background scrub (src/storage/scrub.ts): it checks every record as verify does, in short
 * chunks at a bounded rate (paced on a ManualClock), finds damage anywhere in the store, never
 * mistakes writes between its chunks for damage, and the damage it finds is refused at the
 * next open with the ways back.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { ConfigError } from '../../src/protocol/errors.ts';
import { ManualClock } from '../../src/shell/clock.ts';
import { Prng } from '../../src/sim/prng.ts';
import { StoreCorruptError } from '../../src/storage/errors.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { keys } from '../../src/storage/record-codec.ts';
import { DAMAGE_MARKER_FILE, markStoreDamaged } from '../../src/storage/scrub.ts';
import { CLUSTER_ID, crashStep, seed, tempDir, wideFinalized } from './lmdb-fixtures.ts';

const options = (dir: string) => ({ path: dir, clusterId: CLUSTER_ID, replica: 2 });

async function storeWith(dir: string, steps: number): Promise<void> {
  const store = await LmdbStore.open(options(dir));
  for (let sequence = 1; sequence <= steps; sequence++) await store.apply(crashStep(sequence), sequence);
  await store.close();
}

/** Flips one byte of the finalized record at `sequence` through the raw LMDB API. */
async function damageFinalized(dir: string, sequence: number): Promise<void> {
  const db = open<Uint8Array, Uint8Array>({ path: dir, keyEncoding: 'binary', encoding: 'binary' });
  const value = Uint8Array.from(db.get(keys.finalized(sequence))!);
  value[40]! ^= 0x10;
  await db.put(keys.finalized(sequence), value);
  await db.close();
}

test('a pass reads every record verify reads, in chunks paced to the configured rate', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 60);
  const store = await LmdbStore.open(options(dir));
  t.after(() => store.close());
  const clock = new ManualClock();
  const passes: number[] = [];
  const damage: unknown[] = [];
  const scrubber = store.startScrub(
    { readsPerSecond: 1000, bytesPerSecond: 1 << 30, chunkReadsMax: 25, passIntervalMs: 60_000, clock },
    { onDamage: (error) => damage.push(error), onPass: (pass) => passes.push(pass.records) },
  );
  // The first chunk runs at once; each of 25 reads then waits 25 ms at 1,000 reads/s.
  clock.advance(0);
  assert.equal(scrubber.stats.chunks, 1);
  clock.advance(24);
  assert.equal(scrubber.stats.chunks, 1);
  clock.advance(1);
  assert.equal(scrubber.stats.chunks, 2);
  clock.advance(10_000);
  const report = store.verify();
  assert.deepEqual(passes, [report.records]);
  assert.ok(scrubber.stats.chunks > 10, `${scrubber.stats.chunks} chunks`);
  // Held to the rate: never more reads than 1,000 a second of clock time (plus one chunk).
  assert.ok(scrubber.stats.reads <= 1000 * 10.025 + 25);
  // The next pass waits for the interval.
  clock.advance(40_000);
  assert.equal(passes.length, 1);
  clock.advance(20_000);
  assert.equal(passes.length, 2);
  assert.deepEqual(damage, []);
  await store.close();
  assert.equal(scrubber.running, false, 'closing the store stops the scrub');
});

test('damage to old finalized history, which open does not read, is found by the scrub', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 40);
  await damageFinalized(dir, 3);
  const store = await LmdbStore.open(options(dir));
  t.after(() => store.close());
  const clock = new ManualClock();
  const found: StoreCorruptError[] = [];
  const scrubber = store.startScrub(
    { chunkReadsMax: 10, clock },
    {
      onDamage: (error) => found.push(error),
      onPass: () => assert.fail('a pass over a damaged store ended clean'),
    },
  );
  clock.advance(60_000);
  assert.equal(found.length, 1);
  assert.equal(found[0]!.code, 'checksum');
  assert.match(found[0]!.message, /finalized record at sequence 3/);
  assert.match(found[0]!.message, /wipe the data directory/);
  assert.match(found[0]!.message, /restore a backup/);
  assert.equal(scrubber.running, false);
  // Reads of it fail as well: it is never served.
  assert.throws(() => store.finalizedAt(3), StoreCorruptError);
});

test('a broken reference is found too: an index entry whose finalized record is gone', async (t) => {
  const dir = tempDir(t);
  const store0 = await LmdbStore.open(options(dir));
  await store0.apply([wideFinalized()], 1);
  await store0.apply(crashStep(2), 2);
  await store0.close();
  const db = open<Uint8Array, Uint8Array>({ path: dir, keyEncoding: 'binary', encoding: 'binary' });
  await db.remove(keys.finalized(1));
  await db.close();
  const store = await LmdbStore.open(options(dir));
  t.after(() => store.close());
  const found: StoreCorruptError[] = [];
  const scrubber = store.startScrub({ clock: new ManualClock() }, { onDamage: (error) => found.push(error) });
  assert.throws(() => scrubber.chunk(), StoreCorruptError);
  assert.equal(found[0]?.code, 'inconsistent');
  assert.match(found[0]!.message, /points at no kept finalized record/);
});

test('writes and pruning between chunks are never mistaken for damage (randomized)', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 30);
  const store = await LmdbStore.open(options(dir));
  t.after(() => store.close());
  const random = new Prng(seed);
  t.diagnostic(`seed ${seed} (FC_SEED replays it)`);
  const scrubber = store.startScrub(
    { chunkReadsMax: 7, clock: new ManualClock() },
    { onDamage: (error) => assert.fail(`false alarm: ${error.message}`) },
  );
  let sequence = 30;
  let passes = 0;
  for (let round = 0; round < 400 && passes < 3; round++) {
    const { passDone } = scrubber.chunk();
    if (passDone) passes++;
    const action = random.int(3);
    if (action === 0) {
      sequence++;
      await store.apply(crashStep(sequence), sequence);
    } else if (action === 1 && sequence > 10) {
      await store.pruneFinalized(sequence - 10 - random.int(5));
    }
  }
  assert.equal(passes, 3, 'three clean passes while the store changed under them');
  assert.ok(store.verify().records > 0);
});

test('damage found while the node ran is refused at the next open, until the directory is wiped', async (t) => {
  const dir = tempDir(t);
  await storeWith(dir, 5);
  const store = await LmdbStore.open(options(dir));
  markStoreDamaged(
    dir,
    new StoreCorruptError('checksum', dir, 'the finalized record at sequence 2 fails its check'),
  );
  await store.close();
  await assert.rejects(LmdbStore.open(options(dir)), (error: unknown) => {
    assert.ok(error instanceof StoreCorruptError);
    assert.equal(error.code, 'checksum');
    assert.match(error.message, /finalized record at sequence 2 .*found while the node ran/);
    assert.match(error.message, /wipe the data directory/);
    assert.match(error.message, /restore a backup/);
    return true;
  });
  assert.ok(fs.existsSync(path.join(dir, DAMAGE_MARKER_FILE)));
  fs.rmSync(dir, { recursive: true });
  const fresh = await LmdbStore.open(options(dir));
  assert.equal(fresh.lastFinalized, 0);
  await fresh.close();
});

test('scrub figures must be positive integers', async (t) => {
  const dir = tempDir(t);
  const store = await LmdbStore.open(options(dir));
  t.after(() => store.close());
  assert.throws(() => store.startScrub({ readsPerSecond: 0 }, { onDamage: () => undefined }), ConfigError);
  assert.throws(() => store.startScrub({ passIntervalMs: 1.5 }, { onDamage: () => undefined }), ConfigError);
});
