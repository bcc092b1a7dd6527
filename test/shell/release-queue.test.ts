import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AfterPersist, durableReceipt, type Released } from '../../src/protocol/index.ts';
import { ReleaseQueue } from '../../src/shell/release-queue.ts';

const released = (sequence: number): Released => ({
  messages: [],
  deliveries: [{ sequence } as Released['deliveries'][number]],
  acknowledged: [],
});
const sequences = (batches: readonly Released[]): number[] => batches.map((b) => b.deliveries[0]!.sequence);

test('votes are released only once the writes that justify them are durable, in step order', () => {
  const queue = new ReleaseQueue();
  assert.deepEqual(queue.push(new AfterPersist(2, released(1))), []);
  // A later step without writes of its own still waits behind the earlier one.
  assert.deepEqual(queue.push(new AfterPersist(2, released(2))), []);
  assert.deepEqual(queue.push(new AfterPersist(5, released(3))), []);
  assert.deepEqual(sequences(queue.durable(durableReceipt(1))), []);
  assert.deepEqual(sequences(queue.durable(durableReceipt(3))), [1, 2]);
  assert.deepEqual(sequences(queue.durable(durableReceipt(2))), [], 'an older receipt changes nothing');
  assert.deepEqual(sequences(queue.durable(durableReceipt(5))), [3]);
  assert.equal(queue.size, 0);
});

test('a crash drops everything held: nothing sealed before the crash is ever sent', () => {
  const queue = new ReleaseQueue();
  queue.push(new AfterPersist(1, released(1)));
  queue.clear();
  assert.deepEqual(queue.durable(durableReceipt(1)), []);
});

test('an AfterPersist refuses to open with a receipt that does not cover its writes', () => {
  const sealed = new AfterPersist(3, released(1));
  assert.throws(() => sealed.open(durableReceipt(2)), /writes through 3 durable/);
  assert.equal(sealed.open(durableReceipt(3)).deliveries[0]!.sequence, 1);
});
