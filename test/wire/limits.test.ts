import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../src/protocol/errors.ts';
import type {
  Checkpoint,
  Commit,
  Message,
  PrePrepare,
  Prepare,
  ViewChange,
} from '../../src/protocol/messages.ts';
import { MESSAGE_KINDS } from '../../src/protocol/messages.ts';
import type { Vertex } from '../../src/protocol/types.ts';
import { createVertex } from '../../src/protocol/types.ts';
import type { DecodeLimits } from '../../src/wire/index.ts';
import {
  decodeLimitsFor,
  decodeMessage,
  encodedSizeBound,
  encodeMessage,
  WIRE_TYPE_IDS,
} from '../../src/wire/index.ts';
import { messageArbitraries } from '../support/arbitraries.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { limits as baseLimits, numRuns, seed } from './fixtures.ts';

/** Every count limit at 2, so that a message at a limit and one above it are both small. */
const tight: DecodeLimits = {
  ...baseLimits,
  batchCountMax: 2,
  batchBytesMax: 64,
  vertexPayloadBytesMax: 16,
  vertexParentsMax: 2,
  checkpointProofMax: 2,
  preparesPerCertificateMax: 2,
  preparedCertificatesMax: 2,
  viewChangesMax: 2,
  newViewPrePreparesMax: 2,
  requestVerticesMax: 2,
  stateEntriesMax: 2,
  commitsPerEntryMax: 2,
};

const signature = new Uint8Array([0xaa, 0xbb]);
const digest = new Uint8Array(32).fill(3);

function outcome(message: Message, limits: DecodeLimits = tight): string {
  const result = decodeMessage(encodeMessage(message), limits);
  return result.ok ? 'ok' : result.error.code;
}

function outcomeOf(bytes: Uint8Array, limits: DecodeLimits = tight): string {
  const result = decodeMessage(bytes, limits);
  return result.ok ? 'ok' : result.error.code;
}

const repeat = <T>(count: number, make: (index: number) => T): T[] =>
  Array.from({ length: count }, (_, i) => make(i));
const emptyVertex = (): Vertex => createVertex(new Uint8Array(0), { validThrough: TEST_VALID_THROUGH });
const prepare = (replica = 1): Prepare => ({
  kind: 'prepare',
  epoch: 0,
  view: 1,
  sequence: 5,
  digest,
  replica,
  signature,
});
const commit = (): Commit => ({
  kind: 'commit',
  epoch: 0,
  view: 1,
  sequence: 5,
  digest,
  replica: 1,
  signature,
});
const checkpoint = (): Checkpoint => ({
  kind: 'checkpoint',
  epoch: 0,
  sequence: 8,
  stateDigest: digest,
  replica: 2,
  signature,
});
const header = (): PrePrepare => ({
  kind: 'pre-prepare',
  epoch: 0,
  view: 1,
  sequence: 5,
  digest,
  batch: null,
  replica: 1,
  signature,
});
const viewChange = (proof = 0, prepared = 0, prepares = 0): ViewChange => ({
  kind: 'view-change',
  epoch: 0,
  view: 2,
  checkpoint: { sequence: 8, stateDigest: digest, proof: repeat(proof, checkpoint) },
  prepared: repeat(prepared, () => ({ prePrepare: header(), prepares: repeat(prepares, () => prepare()) })),
  replica: 3,
  signature,
});

/** For each limit: a message exactly at it and one just above it. */
const atAndAbove: ReadonlyArray<readonly [keyof DecodeLimits, (count: number) => Message]> = [
  ['batchCountMax', (c) => ({ ...header(), batch: repeat(c, emptyVertex) })],
  [
    'batchBytesMax',
    // Two vertices of 32 payload bytes is exactly 64; one more byte crosses the limit.
    (c) => ({
      ...header(),
      batch: [
        createVertex(new Uint8Array(16), { validThrough: TEST_VALID_THROUGH }),
        createVertex(new Uint8Array(c - 16 - 32), { parents: [digest], validThrough: TEST_VALID_THROUGH }),
      ],
    }),
  ],
  [
    'vertexPayloadBytesMax',
    (c) => ({
      kind: 'request',
      vertices: [createVertex(new Uint8Array(c), { validThrough: TEST_VALID_THROUGH })],
      replica: 0,
      hold: false,
    }),
  ],
  [
    'vertexParentsMax',
    (c) => ({
      kind: 'request',
      vertices: [
        createVertex(new Uint8Array(0), {
          parents: repeat(c, () => digest),
          validThrough: TEST_VALID_THROUGH,
        }),
      ],
      replica: 0,
      hold: false,
    }),
  ],
  [
    'requestVerticesMax',
    (c) => ({ kind: 'request', vertices: repeat(c, emptyVertex), replica: 0, hold: false }),
  ],
  ['checkpointProofMax', (c) => viewChange(c)],
  ['preparedCertificatesMax', (c) => viewChange(0, c)],
  ['preparesPerCertificateMax', (c) => viewChange(0, 1, c)],
  [
    'viewChangesMax',
    (c) => ({
      kind: 'new-view',
      epoch: 0,
      view: 2,
      viewChanges: repeat(c, () => viewChange()),
      prePrepares: [],
      replica: 2,
      signature,
    }),
  ],
  [
    'newViewPrePreparesMax',
    (c) => ({
      kind: 'new-view',
      epoch: 0,
      view: 2,
      viewChanges: [],
      prePrepares: repeat(c, header),
      replica: 2,
      signature,
    }),
  ],
  [
    'stateEntriesMax',
    (c) => ({
      kind: 'state-reply',
      epoch: 0,
      entries: repeat(c, (i) => ({ sequence: i + 1, view: 1, batch: [], commits: [] })),
      replica: 0,
      signature,
    }),
  ],
  [
    'commitsPerEntryMax',
    (c) => ({
      kind: 'state-reply',
      epoch: 0,
      entries: [{ sequence: 1, view: 1, batch: [], commits: repeat(c, commit) }],
      replica: 0,
      signature,
    }),
  ],
  ['maxSignatureBytes', (c) => ({ ...prepare(), signature: new Uint8Array(c) })],
];

for (const [limit, make] of atAndAbove) {
  test(`a message at ${limit} decodes; one over it is refused as limit-exceeded`, () => {
    const value = tight[limit];
    assert.equal(outcome(make(value)), 'ok', `at the limit (${value})`);
    assert.equal(outcome(make(value + 1)), 'limit-exceeded', `one over the limit (${value + 1})`);
  });
}

test('a batch of batchCountMax + 1 vertices is refused as limit-exceeded with the derived limits too', () => {
  const batch = repeat(baseLimits.batchCountMax + 1, emptyVertex);
  assert.equal(outcome({ ...header(), batch }, baseLimits), 'limit-exceeded');
});

/** A DataView over exactly `bytes`: an encoded message may lie anywhere in a shared buffer. */
function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A REQUEST whose vertex count field says `count` but carries no vertices. */
function requestDeclaring(count: number): Uint8Array {
  const bytes = encodeMessage({ kind: 'request', vertices: [], replica: 0, hold: false });
  dataView(bytes).setUint32(5, count);
  return bytes;
}

test('a huge declared count in a tiny frame is refused before any allocation, whatever the limit', () => {
  const generous: DecodeLimits = { ...tight, requestVerticesMax: 0xffff_ffff };
  // Over the configured limit: refused by the limit.
  assert.equal(outcomeOf(requestDeclaring(0xffff_ffff)), 'limit-exceeded');
  // Under a huge limit: refused because 2^32 - 1 vertices cannot fit in the bytes that remain.
  // The count is checked against the bytes left before the array exists; allocating first would
  // throw a RangeError or exhaust memory, so a typed result shows the order is right.
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 1000; i++)
    assert.equal(outcomeOf(requestDeclaring(0xffff_ffff), generous), 'truncated');
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, 'no large buffers were allocated');

  // The same for a payload length and a signature length that outrun the frame.
  const payload = encodeMessage({ kind: 'request', vertices: [emptyVertex()], replica: 0, hold: false });
  dataView(payload).setUint32(8, 0xffff_fff0);
  assert.equal(outcomeOf(payload, { ...generous, vertexPayloadBytesMax: 0xffff_ffff }), 'truncated');
  const signed = encodeMessage(prepare());
  dataView(signed).setUint16(signed.length - signature.length - 2, 0xffff);
  assert.equal(outcomeOf(signed, { ...generous, maxSignatureBytes: 0xffff }), 'truncated');
});

test('a frame over maxFrameBytes is refused as frame-too-large before it is parsed', () => {
  const bytes = encodeMessage(prepare());
  assert.equal(outcomeOf(bytes, { ...tight, maxFrameBytes: bytes.length }), 'ok');
  assert.equal(outcomeOf(bytes, { ...tight, maxFrameBytes: bytes.length - 1 }), 'frame-too-large');
  assert.equal(outcomeOf(new Uint8Array(100), { ...tight, maxFrameBytes: 99 }), 'frame-too-large');
});

test('replica ids >= replicaCount are refused as invalid-value, in the outer message and nested ones', () => {
  const n = tight.replicaCount;
  assert.equal(outcome(prepare(n - 1)), 'ok');
  assert.equal(outcome(prepare(n)), 'invalid-value');
  assert.equal(outcome(prepare(0xffff)), 'invalid-value');
  const nested: ViewChange = {
    ...viewChange(0, 1, 0),
    prepared: [{ prePrepare: header(), prepares: [prepare(n)] }],
  };
  assert.equal(outcome(nested), 'invalid-value');
  assert.equal(outcome({ ...checkpoint(), replica: n }), 'invalid-value');
});

test('u64 fields above Number.MAX_SAFE_INTEGER are refused as invalid-value; 2^53 - 1 itself is accepted', () => {
  const bytes = encodeMessage({ ...prepare(), view: Number.MAX_SAFE_INTEGER });
  assert.equal(outcomeOf(bytes), 'ok');
  // The view is at offset 8 (version, type, epoch u32, replica u16). 2^53 has high word
  // 0x0020_0000.
  assert.equal(dataView(bytes).getBigUint64(8), BigInt(Number.MAX_SAFE_INTEGER));
  const over = bytes.slice();
  dataView(over).setUint32(8, 0x0020_0000);
  dataView(over).setUint32(12, 0);
  assert.equal(outcomeOf(over), 'invalid-value');
  const max = bytes.slice();
  dataView(max).setBigUint64(8, 0xffff_ffff_ffff_ffffn);
  assert.equal(outcomeOf(max), 'invalid-value');
});

test('an epoch may be any u32: no limit applies to it, in the outer message or nested ones', () => {
  assert.equal(outcome({ ...prepare(), epoch: 0xffff_ffff }), 'ok');
  const nested: ViewChange = {
    ...viewChange(1, 1, 1),
    epoch: 7,
    checkpoint: { sequence: 8, stateDigest: digest, proof: [{ ...checkpoint(), epoch: 0xffff_ffff }] },
    prepared: [{ prePrepare: { ...header(), epoch: 1 }, prepares: [{ ...prepare(), epoch: 0x8000_0000 }] }],
  };
  const result = decodeMessage(encodeMessage(nested), tight);
  assert.ok(result.ok);
  assert.deepEqual(result.message, nested);
});

test('booleans other than 0 and 1 are refused as non-canonical (status flag, batch presence)', () => {
  const status = encodeMessage({
    kind: 'status',
    epoch: 0,
    view: 3,
    viewActive: true,
    lastExecuted: 4,
    stableSequence: 0,
    replica: 1,
    signature,
  });
  // version, type, epoch u32, replica u16, view u64, then the flag.
  assert.equal(status[16], 1);
  for (const value of [2, 0x80, 0xff]) {
    const bad = status.slice();
    bad[16] = value;
    assert.equal(outcomeOf(bad), 'non-canonical', `flag ${value}`);
  }
  const prePrepare = encodeMessage(header());
  // version, type, epoch, replica, view, sequence, digest, then the presence flag.
  assert.equal(prePrepare[56], 0);
  const bad = prePrepare.slice();
  bad[56] = 2;
  assert.equal(outcomeOf(bad), 'non-canonical');
});

test('an empty signature is refused as invalid-value', () => {
  const bytes = encodeMessage(prepare());
  const empty = Uint8Array.from([...bytes.subarray(0, bytes.length - signature.length - 2), 0, 0]);
  assert.equal(outcomeOf(empty), 'invalid-value');
});

test('a nested PRE-PREPARE is a header only: a presence byte after its digest is not accepted', () => {
  const bytes = encodeMessage({
    kind: 'new-view',
    epoch: 0,
    view: 2,
    viewChanges: [],
    prePrepares: [header()],
    replica: 2,
    signature,
  });
  assert.equal(bytes[1], WIRE_TYPE_IDS['new-view']);
  assert.equal(outcomeOf(bytes), 'ok');
  // version, type, epoch u32, replica u16, view u64, view-change count u16, pre-prepare count
  // u32, then the header's epoch, replica, view, sequence and digest: 76 bytes in all.
  assert.deepEqual([...bytes.subarray(76, 80)], [0, 2, 0xaa, 0xbb], "then the header's signature");
  const withFlag = Uint8Array.from([...bytes.subarray(0, 76), 0, ...bytes.subarray(76)]);
  assert.notEqual(outcomeOf(withFlag), 'ok');
});

test('decodeLimitsFor derives certificate limits from n and the window, and refuses bad figures', () => {
  const options = {
    replicaCount: 4,
    maxSignatureBytes: 4627,
    batchCountMax: 100,
    batchBytesMax: 1 << 20,
    vertexPayloadBytesMax: 1 << 16,
    vertexParentsMax: 8,
    watermarkWindow: 32,
    stateEntriesMax: 16,
    maxFrameBytes: 8 << 20,
  };
  const limits = decodeLimitsFor(options);
  assert.deepEqual(limits, {
    maxFrameBytes: 8 << 20,
    replicaCount: 4,
    maxSignatureBytes: 4627,
    batchCountMax: 100,
    batchBytesMax: 1 << 20,
    vertexPayloadBytesMax: 1 << 16,
    vertexParentsMax: 8,
    checkpointProofMax: 4,
    preparesPerCertificateMax: 4,
    preparedCertificatesMax: 32,
    viewChangesMax: 4,
    newViewPrePreparesMax: 32,
    requestVerticesMax: 100,
    stateEntriesMax: 16,
    commitsPerEntryMax: 4,
  });
  assert.ok(Object.isFrozen(limits));
  assert.throws(() => decodeLimitsFor({ ...options, replicaCount: 0 }), ConfigError);
  assert.throws(() => decodeLimitsFor({ ...options, replicaCount: 65_537 }), ConfigError);
  assert.throws(() => decodeLimitsFor({ ...options, maxSignatureBytes: 65_536 }), ConfigError);
  assert.throws(() => decodeLimitsFor({ ...options, watermarkWindow: 1.5 }), ConfigError);
  assert.throws(() => decodeLimitsFor({ ...options, vertexParentsMax: -1 }), ConfigError);
});

test(`encodedSizeBound bounds every message generated at the limits, with full-size signatures (seed ${seed})`, () => {
  // Lists may reach their limits here, so that the bound is exercised near its worst case.
  const arbitraries = messageArbitraries({
    limits: tight,
    signatureBytes: tight.maxSignatureBytes,
    maxListLength: 2,
  });
  for (const kind of MESSAGE_KINDS) {
    fc.assert(
      fc.property(arbitraries.byKind[kind], (message: Message) => {
        assert.ok(encodeMessage(message).length <= encodedSizeBound(kind, tight), kind);
      }),
      { seed, numRuns: numRuns / 3 },
    );
  }
});
