/**
 * The parts of the engine's pipeline on their own: per-sender ordering of verified messages,
 * one verification per distinct signature, proposal batching by count, bytes and delay, group
 * commit in the memory store, and asynchronous delivery and partitions in the memory network.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insecureSimulationScheme, type PublicKey, type SignatureScheme } from '../../src/crypto/index.ts';
import { ProposalBatcher } from '../../src/engine/batcher.ts';
import { InboundPipeline } from '../../src/engine/inbound.ts';
import { SignatureVerifier } from '../../src/engine/verifier.ts';
import {
  createVertex,
  type Draft,
  type Message,
  type Prepare,
  type Vertex,
} from '../../src/protocol/index.ts';
import { ManualClock } from '../../src/shell/clock.ts';
import { signDraft } from '../../src/shell/signing.ts';
import { MemoryStore } from '../../src/storage/index.ts';
import { MemoryNetwork } from '../../src/transport/index.ts';
import { decodeLimitsFor, encodeMessage } from '../../src/wire/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

const scheme = insecureSimulationScheme;
const keys = [0, 1, 2, 3].map((i) => scheme.keyPairFromSeed(new Uint8Array(32).fill(i + 1)));
const clusterId = 'pipeline-test';
const limits = decodeLimitsFor({
  replicaCount: 4,
  maxSignatureBytes: scheme.signatureBytes,
  batchCountMax: 16,
  batchBytesMax: 1 << 16,
  vertexPayloadBytesMax: 1 << 16,
  vertexParentsMax: 4,
  watermarkWindow: 32,
  stateEntriesMax: 16,
  maxFrameBytes: 1 << 20,
});

function prepare(replica: number, sequence: number, epoch = 0): Message {
  const draft: Draft<Prepare> = {
    kind: 'prepare',
    epoch,
    view: 0,
    sequence,
    digest: new Uint8Array(32),
    replica,
  };
  return signDraft({ scheme, privateKey: keys[replica]!.privateKey, clusterId }, draft);
}

/** The insecure scheme, but each verification waits until the test releases it. */
function heldScheme(): { scheme: SignatureScheme; release: (index: number) => void; started: () => number } {
  const held: (() => void)[] = [];
  const held_scheme: SignatureScheme = {
    ...scheme,
    verifyAsync(key: PublicKey, message: Uint8Array, signature: Uint8Array, context: Uint8Array) {
      const valid = scheme.verify(key, message, signature, context);
      return new Promise<boolean>((resolve) => held.push(() => resolve(valid)));
    },
  };
  return { scheme: held_scheme, release: (index) => held[index]!(), started: () => held.length };
}

function pipeline(verifyWith: SignatureScheme, perSenderMax = 100) {
  const checked: { from: string; sequence: number; outcome: string }[] = [];
  const verifier = new SignatureVerifier({
    scheme: verifyWith,
    clusterId,
    cacheMax: 1000,
    keyOf: (_epoch, replica) => keys[replica]?.publicKey,
  });
  const inbound = new InboundPipeline({
    limits: () => limits,
    verifier,
    perSenderMax,
    // The engine's rule for a replica in epoch 0 (`BftEngine.#admit`), reduced to what these tests send.
    admit: (_from, message) => ('epoch' in message && message.epoch !== 0 ? 'other-epoch' : 'check'),
    hooks: {
      malformed: () => checked.push({ from: '', sequence: -1, outcome: 'malformed' }),
      otherEpoch: (from, message) =>
        checked.push({ from, sequence: (message as Prepare).sequence, outcome: 'other-epoch' }),
      overloaded: (from, message) =>
        checked.push({ from, sequence: (message as Prepare).sequence, outcome: 'overloaded' }),
      checked: (from, message, outcome) =>
        checked.push({ from, sequence: (message as Prepare).sequence, outcome }),
      failed: (error) => assert.fail(String(error)),
    },
  });
  return { inbound, verifier, checked };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('verification completes out of order; each sender is stepped in the order it sent', async () => {
  const held = heldScheme();
  const { inbound, checked } = pipeline(held.scheme);
  inbound.receive('n1', encodeMessage(prepare(1, 1)));
  inbound.receive('n1', encodeMessage(prepare(1, 2)));
  inbound.receive('n2', encodeMessage(prepare(2, 1)));
  assert.equal(held.started(), 3);
  // The second message of sender 1 verifies first: it must wait for the first.
  held.release(1);
  await settle();
  assert.deepEqual(checked, []);
  // Sender 2 does not wait for sender 1.
  held.release(2);
  await settle();
  assert.deepEqual(checked, [{ from: 'n2', sequence: 1, outcome: 'valid' }]);
  held.release(0);
  await settle();
  assert.deepEqual(checked.slice(1), [
    { from: 'n1', sequence: 1, outcome: 'valid' },
    { from: 'n1', sequence: 2, outcome: 'valid' },
  ]);
  assert.equal(inbound.waiting, 0);
});

test('a message of another epoch is dropped before its signatures are checked, and blames nobody', async () => {
  const held = heldScheme();
  const { inbound, checked } = pipeline(held.scheme);
  inbound.receive('n1', encodeMessage(prepare(1, 1, 1)));
  inbound.receive('n1', encodeMessage(prepare(1, 2)));
  assert.equal(held.started(), 1, 'only the epoch-0 PREPARE is verified');
  assert.deepEqual(checked, [{ from: 'n1', sequence: 1, outcome: 'other-epoch' }]);
  held.release(0);
  await settle();
  assert.deepEqual(checked.at(-1), { from: 'n1', sequence: 2, outcome: 'valid' });
  assert.equal(inbound.waiting, 0);
});

test('each distinct signature is verified once, nested or repeated, in flight or cached', async () => {
  const held = heldScheme();
  const { inbound, verifier, checked } = pipeline(held.scheme);
  const frame = encodeMessage(prepare(3, 9));
  inbound.receive('n3', frame);
  inbound.receive('n3', frame);
  assert.equal(held.started(), 1, 'the second copy shares the verification in flight');
  held.release(0);
  await settle();
  inbound.receive('n3', frame);
  assert.equal(held.started(), 1, 'a verified signature is not checked again');
  assert.equal(checked.length, 3);
  assert.deepEqual(verifier.stats, { checks: 3, cached: 2, verified: 1 });
});

test('bad signatures, unknown signers and malformed frames get their own outcome; a flood is bounded', async () => {
  const { inbound, checked } = pipeline(scheme, 2);
  const forged = { ...prepare(1, 1), signature: new Uint8Array(scheme.signatureBytes) } as Message;
  inbound.receive('n1', encodeMessage(forged));
  inbound.receive('n2', Uint8Array.of(9, 9, 9));
  const noKey = new SignatureVerifier({ scheme, clusterId, cacheMax: 10, keyOf: () => undefined });
  assert.equal(noKey.verify(prepare(1, 1)), 'unknown-sender');
  await settle();
  assert.deepEqual(
    checked.map((c) => c.outcome),
    ['malformed', 'invalid-signature'],
    'the malformed frame is refused at once; the forged one after its check',
  );
  // A sender with perSenderMax frames waiting has further frames dropped.
  const held = heldScheme();
  const bounded = pipeline(held.scheme, 2);
  for (let sequence = 1; sequence <= 4; sequence++)
    bounded.inbound.receive('n1', encodeMessage(prepare(1, sequence)));
  assert.deepEqual(
    bounded.checked.map((c) => c.outcome),
    ['overloaded', 'overloaded'],
  );
  assert.equal(bounded.inbound.waiting, 2);
});

test('proposals are batched by count, by bytes and by delay', async () => {
  const clock = new ManualClock();
  const batches: number[][] = [];
  const vertices = Array.from({ length: 10 }, (_, i) =>
    createVertex(new Uint8Array(100).fill(i), { validThrough: TEST_VALID_THROUGH }),
  );
  const index = (vertex: Vertex) => vertices.indexOf(vertex);
  const batcher = new ProposalBatcher({
    maxVertices: 4,
    maxBytes: 350,
    maxDelayMs: 5,
    clock,
    atTurnEnd: () => false,
    flush: (batch) => batches.push(batch.map(index)),
  });
  for (const vertex of vertices.slice(0, 4)) batcher.add(vertex);
  // The byte limit (3 x 100 <= 350 < 4 x 100) cuts before the count limit does.
  await settle();
  assert.deepEqual(batches, [[0, 1, 2]]);
  assert.equal(batcher.size, 1);
  // The delay sends the rest.
  clock.advance(4);
  await settle();
  assert.equal(batches.length, 1);
  clock.advance(1);
  assert.deepEqual(batches, [[0, 1, 2], [3]]);
  const countOnly = new ProposalBatcher({
    maxVertices: 2,
    maxBytes: 1 << 20,
    maxDelayMs: 5,
    clock,
    atTurnEnd: () => false,
    flush: (b) => batches.push(b.map(index)),
  });
  for (const vertex of vertices.slice(4, 9)) countOnly.add(vertex);
  await settle();
  assert.deepEqual(batches.slice(2), [
    [4, 5],
    [6, 7],
  ]);
  countOnly.flush();
  assert.deepEqual(batches.at(-1), [8]);
  // With no delay, a batch goes at the end of the turn.
  const immediate = new ProposalBatcher({
    maxVertices: 100,
    maxBytes: 1 << 20,
    maxDelayMs: 0,
    clock,
    atTurnEnd: () => false,
    flush: (b) => batches.push(b.map(index)),
  });
  immediate.add(vertices[9]!);
  immediate.add(vertices[0]!);
  assert.deepEqual(batches.at(-1), [8]);
  await settle();
  assert.deepEqual(batches.at(-1), [9, 0]);
});

test('a batch opened while no sequence is in flight goes at the end of the turn, not at its delay', async () => {
  const clock = new ManualClock();
  const batches: number[][] = [];
  const vertices = Array.from({ length: 6 }, (_, i) =>
    createVertex(new Uint8Array(100).fill(i), { validThrough: TEST_VALID_THROUGH }),
  );
  const index = (vertex: Vertex) => vertices.indexOf(vertex);
  let idle = true;
  const batcher = new ProposalBatcher({
    maxVertices: 100,
    maxBytes: 1 << 20,
    maxDelayMs: 25,
    clock,
    atTurnEnd: () => idle,
    flush: (batch) => {
      batches.push(batch.map(index));
      // Handing a batch over starts a round: the pipeline is busy until the engine says otherwise.
      idle = false;
    },
  });
  // Proposals of one turn share the batch, which goes when the turn ends.
  batcher.add(vertices[0]!);
  batcher.add(vertices[1]!);
  assert.deepEqual(batches, []);
  await settle();
  assert.deepEqual(batches, [[0, 1]]);
  // While that round runs, proposals wait for the delay...
  batcher.add(vertices[2]!);
  await settle();
  clock.advance(24);
  await settle();
  assert.deepEqual(batches, [[0, 1]]);
  clock.advance(1);
  assert.deepEqual(batches, [[0, 1], [2]]);
  // ...or for the round to end: the engine flushes once the pipeline is idle again.
  batcher.add(vertices[3]!);
  batcher.add(vertices[4]!);
  clock.advance(10);
  await settle();
  assert.equal(batcher.size, 2);
  idle = true;
  batcher.flush();
  assert.deepEqual(batches.at(-1), [3, 4]);
  // The delay's timer of a flushed batch does not fire for the next one.
  idle = false;
  batcher.add(vertices[5]!);
  clock.advance(20);
  await settle();
  assert.equal(batcher.size, 1);
  clock.advance(5);
  assert.deepEqual(batches.at(-1), [5]);
});

test('the memory store group-commits: writes made while a flush is under way share the next one', async () => {
  const clock = new ManualClock();
  const store = new MemoryStore({ flushLatencyMs: 2, clock });
  const write = { kind: 'truncate', through: 0 } as const;
  const receipts: number[] = [];
  for (let through = 1; through <= 3; through++)
    void store.apply([write], through).then((r) => receipts.push(r.through));
  await settle();
  // The flush under way took writes 1 to 3; these wait for the next one.
  for (let through = 4; through <= 8; through++)
    void store.apply([write], through).then((r) => receipts.push(r.through));
  clock.advance(2);
  await settle();
  assert.deepEqual(receipts, [1, 2, 3]);
  await settle();
  clock.advance(2);
  await settle();
  assert.deepEqual(receipts, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(store.stats, { flushes: 2, applied: 8 });
});

test('the memory network delivers asynchronously, in order, and partitions drop frames', async () => {
  const network = new MemoryNetwork();
  const [a, b, c] = ['a', 'b', 'c'].map((id) => network.endpoint(id));
  const received: string[] = [];
  for (const endpoint of [a!, b!, c!]) {
    endpoint.onFrame((from, frame) => received.push(`${from}>${endpoint.nodeId}:${frame[0]}`));
    await endpoint.start();
  }
  a!.broadcast(Uint8Array.of(1));
  a!.send('b', Uint8Array.of(2));
  assert.deepEqual(received, [], 'nothing is delivered inside send');
  await settle();
  assert.deepEqual(received, ['a>b:1', 'a>c:1', 'a>b:2']);
  network.partition(['a'], ['b', 'c']);
  a!.broadcast(Uint8Array.of(3));
  b!.send('c', Uint8Array.of(4));
  await settle();
  assert.deepEqual(received.slice(3), ['b>c:4']);
  assert.deepEqual(a!.connectedPeers(), []);
  network.heal();
  await c!.stop();
  a!.broadcast(Uint8Array.of(5));
  await settle();
  assert.deepEqual(received.slice(4), ['a>b:5']);
  assert.deepEqual(a!.connectedPeers(), ['b']);
});
