/**
 * The binary vertex list of `POST /v1/vertices` (`src/wire/vertex-list.ts`): it carries each
 * vertex's fields as peers exchange them, and refuses a list that is cut, padded or too large
 * before it allocates for it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeVertexList, encodeVertexList } from '../../src/wire/vertex-list.ts';

const limits = { countMax: 8, payloadBytesMax: 64, parentsMax: 2 };
const parent = new Uint8Array(32).fill(9);
const vertices = [
  { payload: new Uint8Array([1, 2, 3]), parents: [parent], validThrough: 2 ** 40 },
  { payload: new Uint8Array(0), parents: [], validThrough: 0 },
];

test('a list decodes to the fields it was made of, validThrough 0 included', () => {
  const bytes = encodeVertexList(vertices);
  // u32 count; then u32 + payload + u16 + parents + u64 per vertex.
  assert.equal(bytes.length, 4 + (4 + 3 + 2 + 32 + 8) + (4 + 0 + 2 + 8));
  const decoded = decodeVertexList(Buffer.from(bytes), limits);
  assert.ok(decoded.ok);
  assert.deepEqual(
    decoded.vertices.map((v) => ({ ...v, payload: [...v.payload], parents: v.parents.map((p) => [...p]) })),
    vertices.map((v) => ({ ...v, payload: [...v.payload], parents: v.parents.map((p) => [...p]) })),
  );
  // The payloads are copies, not views into the request body.
  const body = Buffer.from(bytes);
  const again = decodeVertexList(body, limits);
  assert.ok(again.ok);
  body.fill(0);
  assert.deepEqual([...again.vertices[0]!.payload], [1, 2, 3]);
});

test('a cut, padded or oversized list is refused with the decoder code that says why', () => {
  const bytes = encodeVertexList(vertices);
  const cases: [string, Uint8Array, string][] = [
    ['empty body', new Uint8Array(0), 'truncated'],
    ['cut inside a payload', bytes.subarray(0, 10), 'truncated'],
    ['a byte after the list', Uint8Array.of(...bytes, 7), 'trailing-bytes'],
    ['a count the body cannot hold', Uint8Array.of(0, 0, 0, 3, ...bytes.subarray(4)), 'truncated'],
    ['more vertices than countMax', encodeVertexList(Array(9).fill(vertices[1])), 'limit-exceeded'],
    [
      'a payload over payloadBytesMax',
      encodeVertexList([{ payload: new Uint8Array(65), parents: [], validThrough: 1 }]),
      'limit-exceeded',
    ],
    [
      'more parents than parentsMax',
      encodeVertexList([{ payload: new Uint8Array(1), parents: [parent, parent, parent], validThrough: 1 }]),
      'limit-exceeded',
    ],
  ];
  for (const [name, body, code] of cases) {
    const decoded = decodeVertexList(body, limits);
    assert.equal(decoded.ok, false, name);
    if (!decoded.ok) {
      assert.equal(decoded.error.code, code, name);
      assert.ok(decoded.error.detail.length > 0, name);
    }
  }
});
