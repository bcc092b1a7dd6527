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
import {
  buildStateReply,
  createReplica,
  DurableImage,
  durableReceipt,
  type Input,
  isSignedKind,
  type Message,
  type Ready,
  type ReplicaState,
  step,
  type Vertex,
} from '../../src/protocol/index.ts';
import { signAs, vertices } from '../support/cluster.ts';
import { testReader, testRequest } from '../support/reconfiguration.ts';

const reader = testReader();
const request = testRequest;

/** Cores by node id; a message to replica i goes to node i of the sender's epoch. */
class NodeCluster {
  readonly states = new Map<string, ReplicaState>();
  readonly images = new Map<string, DurableImage>();
  readonly signed = new Map<string, Message[]>();
  readonly delivered = new Map<string, string[]>();
  inbox: { from: string; to: string; message: Message }[] = [];
  /** Nodes cut off from the others: what they send and what is sent to them is lost. */
  readonly cut = new Set<string>();

  readonly nodes: readonly string[];

  constructor(nodes: readonly string[]) {
    this.nodes = nodes;
    for (const [self, node] of nodes.entries()) {
      this.states.set(
        node,
        createReplica({
          clusterId: 'renumbering',
          replicaCount: nodes.length,
          self,
          checkpointInterval: 4,
          watermarkWindow: 8,
          pipelineDepth: 2,
          statusIntervalTicks: 5,
          reconfiguration: { reader, nodes },
        }),
      );
      this.images.set(node, new DurableImage());
      this.signed.set(node, []);
      this.delivered.set(node, []);
    }
  }

  /** The node ids of `node`'s current epoch, in replica-id order. */
  epochNodes(node: string): readonly string[] {
    return this.states.get(node)!.config.reconfiguration!.nodes;
  }

  input(node: string, input: Input): Ready {
    const state = this.states.get(node)!;
    const ready = step(state, input);
    this.#handle(node, ready);
    return ready;
  }

  run(): void {
    while (this.inbox.length > 0) {
      const { from, to, message } = this.inbox.shift()!;
      if (from !== to && (this.cut.has(from) || this.cut.has(to))) continue;
      // The link names the sender; the receiver numbers it in its own epoch.
      const id = this.epochNodes(to).indexOf(from);
      if (id < 0) continue;
      this.input(to, { kind: 'message', from: id, message });
    }
  }

  tickAll(count: number): void {
    for (let i = 0; i < count; i++) {
      for (const node of this.nodes) this.input(node, { kind: 'tick' });
      this.run();
    }
  }

  #handle(node: string, ready: Ready): void {
    const state = this.states.get(node)!;
    const image = this.images.get(node)!;
    for (const write of ready.writes) image.apply(write);
    const { messages, deliveries } = ready.released.open(durableReceipt(state.writeOrdinal));
    for (const outbound of messages) {
      const message = 'draft' in outbound ? signAs(outbound.draft, state.config.self) : outbound.relay;
      if ('draft' in outbound) this.signed.get(node)!.push(message);
      this.#route(node, outbound.to, message);
    }
    for (const delivery of deliveries)
      this.delivered.get(node)!.push(Buffer.from(delivery.digest).toString('hex'));
    for (const serve of ready.serveState) {
      const reply = buildStateReply(image, serve, 1 << 20);
      if (reply !== null) this.#route(node, serve.to, signAs(reply, serve.signer));
    }
  }

  #route(from: string, to: number | 'all' | 'others', message: Message): void {
    const epochNodes = this.epochNodes(from);
    const targets =
      to === 'all'
        ? epochNodes
        : to === 'others'
          ? epochNodes.filter((node) => node !== from)
          : [epochNodes[to]!];
    for (const target of targets) this.inbox.push({ from, to: target, message });
  }
}

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
