import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventQueue } from '../../src/sim/event-queue.ts';
import { type NetworkFaults, SimNetwork } from '../../src/sim/network.ts';
import { Prng } from '../../src/sim/prng.ts';

function network(faults: Partial<NetworkFaults> = {}) {
  const queue = new EventQueue();
  const received: Array<{ to: number; from: number; at: number; byte: number }> = [];
  const up = [true, true, true, true];
  const incarnations = [0, 0, 0, 0];
  const net = new SimNetwork(queue, new Prng(1), 4, {
    lossRate: 0,
    duplicateRate: 0,
    delayMinMs: 5,
    delayMaxMs: 5,
    ...faults,
  });
  net.attach({
    up: (replica) => up[replica]!,
    incarnation: (replica) => incarnations[replica]!,
    deliver: (to, from, frame) => received.push({ to, from, at: queue.now, byte: frame[0]! }),
  });
  const drain = (): void => {
    while (queue.runNext(Number.POSITIVE_INFINITY));
  };
  return { queue, net, received, drain, up, incarnations };
}

test('the event queue runs events in virtual time order, ties in scheduling order', () => {
  const queue = new EventQueue();
  const order: string[] = [];
  queue.schedule(10, () => order.push('b'));
  queue.schedule(5, () => order.push('a'));
  queue.schedule(10, () => order.push('c'));
  queue.schedule(0, () => queue.schedule(0, () => order.push('nested')));
  while (queue.runNext(100));
  assert.deepEqual(order, ['nested', 'a', 'b', 'c']);
  assert.equal(queue.now, 10);
});

test('the event queue stops at the deadline and leaves later events queued', () => {
  const queue = new EventQueue();
  let ran = 0;
  queue.schedule(50, () => ran++);
  queue.schedule(150, () => ran++);
  while (queue.runNext(100));
  assert.equal(ran, 1);
  assert.equal(queue.size, 1);
});

test('a partition drops messages across groups, including those in flight, and heals', () => {
  const { net, received, drain, queue } = network();
  net.send(0, 1, Uint8Array.of(1));
  net.partition = [0, 1, 0, 0];
  drain();
  assert.equal(received.length, 0, 'the message in flight is lost at the partition');
  net.send(0, 2, Uint8Array.of(2));
  net.send(0, 1, Uint8Array.of(3));
  drain();
  assert.deepEqual(
    received.map((r) => r.byte),
    [2],
  );
  assert.equal(net.connected(0, 1), false);
  net.heal();
  net.send(0, 1, Uint8Array.of(4));
  drain();
  assert.deepEqual(
    received.map((r) => r.byte),
    [2, 4],
  );
  assert.equal(received.at(-1)!.at, queue.now);
});

test('a one-way partition cuts one direction only, and breaks the connection both ways', () => {
  const { net, received, drain } = network();
  net.cutOneWay(0, 1);
  net.send(0, 1, Uint8Array.of(1));
  net.send(1, 0, Uint8Array.of(2));
  drain();
  assert.deepEqual(
    received.map((r) => `${r.from}->${r.to}`),
    ['1->0'],
  );
  assert.equal(net.connected(0, 1), false);
  assert.equal(net.connected(1, 0), false);
  assert.equal(net.connected(0, 2), true);
  net.restoreOneWay(0, 1);
  assert.equal(net.connected(0, 1), true);
});

test('a slow link delays its frames only', () => {
  const { net, received, drain } = network();
  net.slowDown(0, 1, 300);
  net.send(0, 1, Uint8Array.of(1));
  net.send(0, 2, Uint8Array.of(2));
  drain();
  assert.deepEqual(
    received.map((r) => [r.byte, r.at]),
    [
      [2, 5],
      [1, 305],
    ],
  );
});

test('a frame is lost when its receiver is down or restarted while it is in flight', () => {
  const { net, received, drain, up, incarnations } = network();
  up[1] = false;
  net.send(0, 1, Uint8Array.of(1));
  assert.equal(net.connected(0, 1), false);
  up[1] = true;
  net.send(0, 1, Uint8Array.of(2));
  incarnations[1]!++;
  drain();
  assert.equal(received.length, 0);
  net.send(0, 1, Uint8Array.of(3));
  drain();
  assert.deepEqual(
    received.map((r) => r.byte),
    [3],
  );
});

test('loss, duplication and reordering happen at the configured rates', () => {
  const { net, received, drain } = network({
    lossRate: 0.2,
    duplicateRate: 0.1,
    delayMinMs: 1,
    delayMaxMs: 100,
  });
  for (let i = 0; i < 2000; i++) net.send(0, 1, Uint8Array.of(i & 0xff));
  drain();
  assert.ok(net.stats.dropped > 300 && net.stats.dropped < 500, `dropped ${net.stats.dropped}`);
  assert.ok(net.stats.duplicated > 100 && net.stats.duplicated < 220, `duplicated ${net.stats.duplicated}`);
  assert.equal(received.length, 2000 - net.stats.dropped + net.stats.duplicated);
  const inOrder = received.every((r, i) => i === 0 || r.at >= received[i - 1]!.at);
  assert.ok(inOrder, 'deliveries are in virtual time order');
  const sentOrder = received.map((r) => r.byte);
  assert.notDeepEqual(
    sentOrder,
    [...sentOrder].sort((a, b) => a - b),
    'some messages were reordered',
  );
});
