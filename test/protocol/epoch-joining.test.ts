/**
 * Joiners (docs/reconfiguration.md, "Joining, in detail"): a node that was not a validator of the
 * epoch before the one it joins walks the history as a learner, by state transfer, and votes
 * only in its epoch, once it holds what every member holds. Cores are addressed by node id, as
 * the engine addresses them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSignedKind, type Vertex } from '../../src/protocol/index.ts';
import { vertices } from '../support/cluster.ts';
import { NodeCluster } from '../support/node-cluster.ts';
import { testRequest } from '../support/reconfiguration.ts';

function submitter(c: NodeCluster) {
  return (node: string, label: string): Vertex[] => {
    const load = vertices(2, label);
    c.input(node, { kind: 'propose', vertices: load });
    c.run();
    return load;
  };
}

const keyOf = (vertex: Vertex): string => Buffer.from(vertex.hash).toString('hex');

/** One history: every node's deliveries are a prefix of the longest, and `full` nodes hold it all. */
function assertOneHistory(c: NodeCluster, full: readonly string[]): void {
  const longest = [...c.delivered.values()].reduce((a, b) => (b.length > a.length ? b : a));
  for (const node of c.all) {
    const mine = c.delivered.get(node)!;
    assert.deepEqual(mine, longest.slice(0, mine.length), `${node} delivered a prefix of the history`);
  }
  for (const node of full)
    assert.equal(c.delivered.get(node)!.length, longest.length, `${node} holds it all`);
  for (const node of c.all) {
    const keys = c.deliveredVertices.get(node)!;
    assert.equal(new Set(keys).size, keys.length, `${node} delivered no vertex twice`);
  }
}

/** Nothing `node` signed names an epoch below `epoch`, or an id other than `ids[epoch]`. */
function assertSignedOnlyFrom(
  c: NodeCluster,
  node: string,
  epoch: number,
  ids: Record<number, number>,
): void {
  for (const message of c.signed.get(node)!) {
    if (!isSignedKind(message)) continue;
    assert.ok(message.epoch >= epoch, `${node} signed a ${message.kind} of epoch ${message.epoch}`);
    assert.equal(message.replica, ids[message.epoch], `${node}'s ${message.kind} of epoch ${message.epoch}`);
  }
}

test('a node added to the validators learns the history and then votes in its epoch', () => {
  const c = new NodeCluster(['a', 'b', 'c', 'd']);
  const submit = submitter(c);
  const before: Vertex[] = [];
  for (let round = 0; round < 12; round++) before.push(...submit('abcd'[round % 4]!, `before-${round}`));
  const add = testRequest(0, ['a', 'b', 'c', 'd', 'e']);
  // e starts at once, from its operator's chain: a learner of epoch 0 until epoch 1.
  c.join('e', { epoch: 1, opening: add.payload });
  assert.equal(c.states.get('e')!.learning, true);
  c.input('b', { kind: 'propose', vertices: [add] });
  c.run();
  c.tickAll(30);
  const e = c.states.get('e')!;
  assert.equal(e.epoch, 1, 'e reached its epoch');
  assert.equal(e.member, true);
  assert.equal(e.learning, false);
  assert.equal(e.config.self, 4);
  for (const vertex of before)
    assert.ok(e.delivered.has(keyOf(vertex)), 'e knows what was finalized before it');
  assert.deepEqual(e.epochs, c.states.get('a')!.epochs, 'e holds the same epoch history');

  for (let round = 0; round < 10; round++) submit('abcde'[round % 5]!, `after-${round}`);
  c.tickAll(40);
  assertOneHistory(c, ['a', 'b', 'c', 'd', 'e']);
  assert.ok(
    c.signed.get('e')!.some((message) => message.kind === 'commit' && message.epoch === 1),
    'e votes in epoch 1',
  );
  // It signed nothing of epoch 0, where it has no id: only its requests, under its id in epoch 1.
  assertSignedOnlyFrom(c, 'e', 1, { 1: 4 });
  assert.equal(c.states.get('a')!.lastChainDigest.toString(), e.lastChainDigest.toString());
});

test('growing from four to seven in one request: the new epoch waits for its joiners, then goes on', () => {
  const c = new NodeCluster(['a', 'b', 'c', 'd']);
  const submit = submitter(c);
  for (let round = 0; round < 8; round++) submit('abcd'[round % 4]!, `before-${round}`);
  const grow = testRequest(0, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  c.input('a', { kind: 'propose', vertices: [grow] });
  c.run();
  // The joiners come up late: until they have caught up, epoch 1 has four of the five it needs.
  c.tickAll(10);
  for (const node of ['e', 'f', 'g']) c.join(node, { epoch: 1, opening: grow.payload });
  const held = submit('c', 'during');
  c.tickAll(60);
  for (const node of ['e', 'f', 'g']) assert.equal(c.states.get(node)!.member, true, `${node} joined`);
  for (let round = 0; round < 14; round++) submit('abcdefg'[round % 7]!, `after-${round}`);
  c.tickAll(60);
  assertOneHistory(c, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  for (const vertex of held) assert.ok(c.states.get('g')!.delivered.has(keyOf(vertex)));
  for (const [id, node] of ['e', 'f', 'g'].entries()) assertSignedOnlyFrom(c, node, 1, { 1: 4 + id });
});

test('a replacement under a reused id, with an empty store, walks the history it took part in', () => {
  const c = new NodeCluster(['a', 'b', 'c', 'd']);
  const submit = submitter(c);
  for (let round = 0; round < 6; round++) submit('abcd'[round % 4]!, `before-${round}`);
  // d's machine is gone: remove it, then add it back on a new machine (an empty store).
  c.input('a', { kind: 'propose', vertices: [testRequest(0, ['a', 'b', 'c'])] });
  c.run();
  c.cut.add('d');
  for (let round = 0; round < 6; round++) submit('abc'[round % 3]!, `without-d-${round}`);
  c.tickAll(20);
  assert.equal(c.states.get('a')!.epoch, 1);
  const back = testRequest(1, ['d', 'a', 'b', 'c']);
  c.input('b', { kind: 'propose', vertices: [back] });
  c.run();
  c.cut.delete('d');
  c.join('d', { epoch: 2, opening: back.payload });
  // Restarted halfway through its walk, it goes on from what it holds.
  c.input('d', { kind: 'tick' });
  c.run(() => c.states.get('d')!.epoch === 1);
  c.restart('d');
  assert.equal(c.states.get('d')!.learning, true, 'still a learner after a restart');
  c.tickAll(40);
  const d = c.states.get('d')!;
  assert.equal(d.epoch, 2);
  assert.equal(d.config.self, 0, 'd leads view 0 of epoch 2');
  for (let round = 0; round < 8; round++) submit('dabc'[round % 4]!, `after-${round}`);
  c.tickAll(60);
  assertOneHistory(c, ['a', 'b', 'c', 'd']);
  // Though d was replica 3 of epoch 0, the new d signed nothing there.
  assertSignedOnlyFrom(c, 'd', 2, { 2: 0 });
});

test('a joiner whose chain is not the history takes no part in the epoch', () => {
  const c = new NodeCluster(['a', 'b', 'c', 'd']);
  const submit = submitter(c);
  for (let round = 0; round < 4; round++) submit('abcd'[round % 4]!, `before-${round}`);
  const ordered = testRequest(0, ['a', 'b', 'c', 'd', 'e'], ':ordered');
  const given = testRequest(0, ['a', 'b', 'c', 'd', 'e'], ':given-to-e');
  c.input('a', { kind: 'propose', vertices: [ordered] });
  c.run();
  c.join('e', { epoch: 1, opening: given.payload });
  c.tickAll(60);
  const e = c.states.get('e')!;
  assert.equal(e.epoch, 1, 'e walked to epoch 1');
  assert.equal(e.member, false, 'and refused to join it');
  assert.equal(e.learning, false);
  assert.ok(c.signed.get('e')!.every((message) => message.kind === 'state-request'));
  c.restart('e');
  assert.equal(c.states.get('e')!.member, false, 'a restart does not make it a member either');
});
