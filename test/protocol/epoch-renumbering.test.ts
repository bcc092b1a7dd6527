/**
 * Replica ids are indices in each epoch's validator list (docs/reconfiguration.md, "The switch,
 * in detail"), so removing the leader renumbers everyone after it. This harness addresses cores
 * by node id and translates ids with each core's own epoch, as the engine will; the tests remove
 * the leader and then another validator while clients keep submitting, and check that one
 * history results, that each vote names the signer's id of its epoch, and that client vertices
 * held across the change are finalized.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSignedKind, type Vertex } from '../../src/protocol/index.ts';
import { vertices } from '../support/cluster.ts';
import { NodeCluster } from '../support/node-cluster.ts';
import { testRequest } from '../support/reconfiguration.ts';

const request = testRequest;

test('removing the leader renumbers the others; they elect the next one and lose nothing', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e'];
  const c = new NodeCluster(nodes);
  const submit = (node: string, label: string): Vertex[] => {
    const load = vertices(2, label);
    c.input(node, { kind: 'propose', vertices: load });
    c.run();
    return load;
  };
  submit('a', 'before');
  // Remove the leader 'a': b, c, d, e become replicas 0 to 3, and b leads view 0 of epoch 1.
  c.input('c', { kind: 'propose', vertices: [request(0, ['b', 'c', 'd', 'e'])] });
  c.run();
  const held = submit('d', 'during');
  for (let round = 0; round < 10; round++) submit(nodes[1 + (round % 4)]!, `after-${round}`);
  c.tickAll(20);

  const a = c.states.get('a')!;
  assert.equal(a.member, false, 'the old leader left');
  for (const [self, node] of ['b', 'c', 'd', 'e'].entries()) {
    const state = c.states.get(node)!;
    assert.equal(state.epoch, 1, node);
    assert.equal(state.config.self, self, `${node} is replica ${self} of epoch 1`);
    assert.equal(state.config.replicaCount, 4);
  }
  assert.equal(c.states.get('b')!.view, 0, 'b leads view 0 of epoch 1: no view change was needed');
  // One history, which holds every client vertex.
  const longest = c.delivered.get('b')!;
  for (const node of nodes) {
    const mine = c.delivered.get(node)!;
    assert.deepEqual(mine, longest.slice(0, mine.length), node);
  }
  for (const node of ['b', 'c', 'd', 'e']) assert.equal(c.delivered.get(node)!.length, longest.length);
  for (const vertex of held) {
    const key = Buffer.from(vertex.hash).toString('hex');
    assert.ok(c.states.get('b')!.delivered.has(key), 'a vertex submitted during the change is final');
  }
  // Each vote names its signer's id in its epoch: d was 3 in epoch 0 and is 2 in epoch 1.
  for (const message of c.signed.get('d')!) {
    if (!isSignedKind(message)) continue;
    assert.equal(message.replica, message.epoch === 0 ? 3 : 2, `${message.kind} of epoch ${message.epoch}`);
  }
  // Nothing of epoch 1 signed by the leader that left.
  assert.ok(c.signed.get('a')!.every((message) => !isSignedKind(message) || message.epoch === 0));
});

test('a validator cut off through two epoch changes that renumber it catches up and rejoins', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e', 'f'];
  const c = new NodeCluster(nodes);
  const submit = (node: string, label: string): void => {
    c.input(node, { kind: 'propose', vertices: vertices(2, label) });
    c.run();
  };
  submit('a', 'before');
  c.cut.add('f');
  c.input('c', { kind: 'propose', vertices: [request(0, ['b', 'c', 'd', 'e', 'f'])] });
  c.run();
  for (let round = 0; round < 6; round++) submit('c', `epoch-1-${round}`);
  c.tickAll(5);
  assert.equal(c.states.get('c')!.epoch, 1);
  c.input('d', { kind: 'propose', vertices: [request(1, ['c', 'd', 'e', 'f'])] });
  c.run();
  for (let round = 0; round < 6; round++) submit('d', `epoch-2-${round}`);
  c.tickAll(5);
  assert.equal(c.states.get('c')!.epoch, 2);
  assert.equal(c.states.get('f')!.epoch, 0, 'f heard nothing');

  // f is back: it is replica 5 of epoch 0 and 3 of epoch 2, and the others number it so.
  c.cut.clear();
  for (let tick = 0; tick < 300 && c.states.get('f')!.epoch < 2; tick++) c.tickAll(1);
  const f = c.states.get('f')!;
  assert.equal(f.epoch, 2, 'f walked through epochs 1 and 2');
  assert.equal(f.config.self, 3);
  for (let round = 0; round < 10; round++) submit(['c', 'd', 'e', 'f'][round % 4]!, `after-${round}`);
  c.tickAll(40);
  const longest = c.delivered.get('c')!;
  for (const node of nodes) {
    const mine = c.delivered.get(node)!;
    assert.deepEqual(mine, longest.slice(0, mine.length), node);
  }
  assert.equal(c.delivered.get('f')!.length, longest.length, 'f caught up');
  assert.ok(
    c.signed
      .get('f')!
      .some((message) => isSignedKind(message) && message.epoch === 2 && message.kind === 'commit'),
    'f votes in epoch 2',
  );
  // a and b left, one after the other, and signed nothing after they did.
  assert.equal(c.states.get('a')!.member, false);
  assert.equal(c.states.get('b')!.member, false);
  assert.ok(c.signed.get('a')!.every((message) => !isSignedKind(message) || message.epoch === 0));
  assert.ok(c.signed.get('b')!.every((message) => !isSignedKind(message) || message.epoch <= 1));
});
