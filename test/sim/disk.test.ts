/**
 * The simulated disk and store: what the engine's durability rests on in every seed, so each
 * of its rules is checked on its own here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DurableWrite } from '../../src/protocol/index.ts';
import { createVertex } from '../../src/protocol/index.ts';
import { SimDisk } from '../../src/sim/disk.ts';
import { EventQueue } from '../../src/sim/event-queue.ts';
import { Prng } from '../../src/sim/prng.ts';
import { SimProcess } from '../../src/sim/process.ts';
import { SimulatedSyncError } from '../../src/sim/sim-store.ts';
import { StoreClosedError, StoreCorruptError } from '../../src/storage/errors.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

const accepted = (text: string): DurableWrite => ({
  kind: 'accepted',
  vertices: [createVertex(new TextEncoder().encode(text), { validThrough: TEST_VALID_THROUGH })],
});

function setup() {
  const queue = new EventQueue();
  const disk = new SimDisk(0);
  const process = new SimProcess(0, 0, queue, () => {});
  const store = disk.open(process, new Prng(1), { syncLatencyMs: [5, 5] });
  const run = (untilMs: number): void => {
    while (queue.runNext(untilMs));
  };
  return { queue, disk, process, store, run };
}

test('a write is durable only once its sync completes, and writes queued meanwhile share the next sync', async () => {
  const { disk, store, run } = setup();
  const receipts: number[] = [];
  store.apply([accepted('a')], 1).then((receipt) => receipts.push(receipt.through));
  store.apply([accepted('b')], 2).then((receipt) => receipts.push(receipt.through));
  run(4);
  await Promise.resolve();
  assert.equal(disk.image.accepted.size, 0, 'not durable before the sync completes');
  assert.deepEqual(receipts, []);
  run(5);
  await Promise.resolve();
  assert.equal(disk.image.accepted.size, 2);
  assert.deepEqual(receipts, [1, 2]);
  assert.equal(store.syncs, 1, 'one sync for both');
});

test('a crash loses every write whose sync had not completed, and its receipt never comes', async () => {
  const { disk, process, store, run } = setup();
  let settled = false;
  store.apply([accepted('a')], 1).then(
    () => (settled = true),
    () => (settled = true),
  );
  run(2);
  process.kill();
  run(100);
  await Promise.resolve();
  assert.equal(disk.image.accepted.size, 0);
  assert.equal(settled, false);
});

test('a failed sync refuses its writes and every later one; nothing of it is durable', async () => {
  const { disk, store, run } = setup();
  disk.planSyncFailure(0);
  const first = store.apply([accepted('a')], 1);
  run(10);
  await assert.rejects(first, SimulatedSyncError);
  await assert.rejects(store.apply([accepted('b')], 2), StoreClosedError);
  assert.equal(disk.image.accepted.size, 0);
});

test('a record damaged at rest refuses the next open with the store checksum error; a wiped disk opens empty', async () => {
  const { disk, store, run, queue } = setup();
  store.apply([accepted('a'), accepted('b')], 1);
  run(10);
  assert.ok(disk.damage(new Prng(7)));
  const process = new SimProcess(0, 1, queue, () => {});
  assert.throws(
    () => disk.open(process, new Prng(1), { syncLatencyMs: [0, 0] }),
    (error: unknown) => error instanceof StoreCorruptError && error.code === 'checksum',
  );
  disk.wipe();
  const reopened = disk.open(process, new Prng(1), { syncLatencyMs: [0, 0] });
  const loading = reopened.load(16);
  run(20);
  const snapshot = await loading;
  assert.equal(snapshot.accepted.length, 0);
  assert.equal(disk.wipes, 1);
});
