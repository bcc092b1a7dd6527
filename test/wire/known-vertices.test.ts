/**
 * The decoder takes a vertex it was given as known instead of hashing it again, but only when
 * every byte matches: a vertex that shares its fingerprint and differs anywhere is hashed anew.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message, PrePrepare, Request } from '../../src/protocol/messages.ts';
import { createVertex, type Vertex } from '../../src/protocol/types.ts';
import { decodeLimitsFor, decodeMessage, encodeMessage } from '../../src/wire/index.ts';
import { fingerprintOfVertex, KnownVertices } from '../../src/wire/known-vertices.ts';

const limits = decodeLimitsFor({
  replicaCount: 4,
  maxSignatureBytes: 64,
  batchCountMax: 8,
  batchBytesMax: 8192,
  vertexPayloadBytesMax: 1024,
  vertexParentsMax: 4,
  watermarkWindow: 8,
  stateEntriesMax: 4,
  maxFrameBytes: 1 << 20,
});

const parent = new Uint8Array(32).fill(7);

function longPayload(fill: number): Uint8Array {
  return new Uint8Array(1000).fill(fill);
}

function prePrepare(batch: readonly Vertex[]): PrePrepare {
  return {
    kind: 'pre-prepare',
    epoch: 0,
    view: 0,
    sequence: 1,
    digest: new Uint8Array(32),
    batch,
    replica: 0,
    signature: new Uint8Array([1]),
  };
}

function decoded(message: Message, known: KnownVertices): Message {
  const result = decodeMessage(encodeMessage(message), limits, false, known);
  assert.ok(result.ok, 'decodes');
  return result.message;
}

test('a batch vertex the replica knows is taken as it is; the others are hashed', () => {
  const held = createVertex(longPayload(1), { validThrough: 50, parents: [parent] });
  const other = createVertex(new Uint8Array([1, 2, 3]), { validThrough: 50 });
  const known = new KnownVertices(10, 1 << 20);
  known.add(held);
  const { batch } = decoded(prePrepare([other, held]), known) as PrePrepare;
  assert.equal(batch![1], held, 'the known object itself');
  assert.notEqual(batch![0], other);
  assert.deepEqual(batch![0]!.hash, other.hash, 'hashed anew');

  // Read once: it left the index, and the next copy is hashed. A REQUEST is always hashed: the
  // vertices a replica is asked to hold are the ones it learns there.
  assert.notEqual((decoded(prePrepare([held]), known) as PrePrepare).batch![0], held);
  known.add(held);
  const request: Request = { kind: 'request', vertices: [held], replica: 1, hold: true };
  assert.notEqual((decoded(request, known) as Request).vertices[0], held);
  assert.equal(known.size, 1);
});

test('a vertex with the same fingerprint that differs in any byte is hashed, never taken', () => {
  // Two payloads whose vertices share a fingerprint (found by search; checked here).
  const held = createVertex(Buffer.from('0000aa6306439973', 'hex'), { validThrough: 50 });
  const twin = createVertex(Buffer.from('00014f2e06367cce', 'hex'), { validThrough: 50 });
  assert.equal(fingerprintOfVertex(twin), fingerprintOfVertex(held), 'the two share a fingerprint');
  const known = new KnownVertices(10, 1 << 20);
  known.add(held);
  const otherParent = parent.slice();
  otherParent[31] = 8;
  const lookalikes = [
    twin,
    createVertex(held.payload, { validThrough: 50, parents: [otherParent] }),
    createVertex(held.payload, { validThrough: 50 + 2 ** 32 }),
  ];
  const { batch } = decoded(prePrepare(lookalikes), known) as PrePrepare;
  for (const [i, vertex] of batch!.entries()) {
    assert.notEqual(vertex, held, `lookalike ${i} taken for the known vertex`);
    assert.deepEqual(vertex.hash, lookalikes[i]!.hash, `lookalike ${i} hashed from its own bytes`);
  }
});

test('an index full by count or by bytes starts again empty', () => {
  const vertices = [0, 1, 2].map((i) => createVertex(new Uint8Array([i]), { validThrough: 50 }));
  const known = new KnownVertices(2, 1 << 20);
  known.add(vertices[0]!);
  known.add(vertices[1]!);
  assert.equal(known.size, 2);
  // At capacity: emptied before the next one, which vertices never read again (expired, or
  // refused by the core) would otherwise keep out for good.
  known.add(vertices[2]!);
  assert.equal(known.size, 1);
  const { batch } = decoded(prePrepare(vertices), known) as PrePrepare;
  assert.notEqual(batch![0], vertices[0]);
  assert.notEqual(batch![1], vertices[1]);
  assert.equal(batch![2], vertices[2]);
  assert.equal(known.size, 0);

  // By bytes: a peer's large vertices cannot keep more than the bound alive. Two 1,000-byte
  // vertices fit in 2,500 bytes, a third empties the index first; one read frees its bytes.
  const large = [1, 2, 3, 4].map((fill) => createVertex(longPayload(fill), { validThrough: 50 }));
  const bounded = new KnownVertices(100, 2500);
  bounded.add(large[0]!);
  bounded.add(large[1]!);
  assert.equal(bounded.size, 2);
  bounded.add(large[2]!);
  assert.equal(bounded.size, 1, 'emptied before the third');
  assert.equal((decoded(prePrepare([large[2]!]), bounded) as PrePrepare).batch![0], large[2]);
  bounded.add(large[0]!);
  bounded.add(large[1]!);
  bounded.add(large[3]!);
  assert.equal(bounded.size, 1, 'the bytes of the one read were given back, no more');
});

test("a vertex that takes another one's fingerprint takes its place in the bytes bound too", () => {
  const held = createVertex(Buffer.from('0000aa6306439973', 'hex'), { validThrough: 50 });
  const twin = createVertex(Buffer.from('00014f2e06367cce', 'hex'), { validThrough: 50 });
  const other = createVertex(Buffer.from('0102030405060708', 'hex'), { validThrough: 50 });
  // Room for two 8-byte payloads, not three.
  const known = new KnownVertices(100, 20);
  known.add(held);
  known.add(twin);
  assert.equal(known.size, 1, 'the twin replaced the held vertex');
  known.add(other);
  assert.equal(known.size, 2, 'the replaced vertex no longer counts against the bound');
  assert.equal((decoded(prePrepare([twin]), known) as PrePrepare).batch![0], twin);
});
