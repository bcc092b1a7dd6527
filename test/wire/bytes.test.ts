/**
 * What the decoders return never aliases their input, whatever array it came in (a Buffer, whose
 * `slice` aliases, or an LMDB read buffer that is reused): payloads and digests are copies, as
 * plain Uint8Arrays. And a decoded vertex is the vertex that was encoded, keyed alike.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/crypto/index.ts';
import type { Request } from '../../src/protocol/messages.ts';
import { createVertex, hasValidHash, vertexKey } from '../../src/protocol/types.ts';
import { copyBytes } from '../../src/wire/bytes.ts';
import { decodeMessage, encodeMessage } from '../../src/wire/index.ts';
import { decodeVertexList, encodeVertexList } from '../../src/wire/vertex-list.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { limits } from './fixtures.ts';

test('copyBytes returns a plain Uint8Array that does not alias its source, small or large', () => {
  for (const length of [0, 32, 64, 65, 300, 5000]) {
    const source = Buffer.alloc(length + 10, 7).subarray(5, 5 + length);
    const copy = copyBytes(source);
    assert.equal(Object.getPrototypeOf(copy), Uint8Array.prototype, `${length} bytes`);
    assert.deepEqual(copy, new Uint8Array(length).fill(7));
    source.fill(9);
    assert.ok(
      copy.every((byte) => byte === 7),
      `${length} bytes: the copy changed with its source`,
    );
  }
});

test('a decoded message and vertex list keep their payloads after the input buffer is overwritten', () => {
  const vertices = [0, 1].map((i) =>
    createVertex(new Uint8Array(100).fill(i + 1), { validThrough: TEST_VALID_THROUGH }),
  );
  const request: Request = { kind: 'request', vertices, replica: 0, hold: false };
  const input = Buffer.from(encodeMessage(request));
  const decoded = decodeMessage(input, limits);
  assert.ok(decoded.ok);
  const listInput = Buffer.from(encodeVertexList(vertices));
  const list = decodeVertexList(listInput, { countMax: 4, payloadBytesMax: 128, parentsMax: 4 });
  assert.ok(list.ok);
  input.fill(0);
  listInput.fill(0);
  const got = (decoded.message as Request).vertices;
  // Equal to the vertices encoded: the fields, the hash, and the key derived from it.
  assert.deepEqual(got, vertices);
  assert.deepEqual(
    list.vertices.map((vertex) => vertex.payload),
    vertices.map((vertex) => vertex.payload),
  );
  for (const [i, vertex] of got.entries()) {
    assert.equal(Object.getPrototypeOf(vertex.payload), Uint8Array.prototype);
    assert.equal(vertexKey(vertex), toHex(vertices[i]!.hash));
    assert.ok(hasValidHash(vertex), 'a decoded vertex was hashed from its fields');
    // A copy of it is not a vertex hashed here: its hash is checked again.
    assert.equal(hasValidHash({ ...vertex, hash: vertices[1 - i]!.hash }), false);
  }
});
