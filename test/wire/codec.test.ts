import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ArgumentError } from '../../src/errors.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { MESSAGE_KINDS } from '../../src/protocol/messages.ts';
import { createVertex, vertexHash } from '../../src/protocol/types.ts';
import {
  CODEC_VERSION,
  DECODE_ERROR_CODES,
  decodeMessage,
  encodedMessageBytes,
  encodedSizeBound,
  encodeMessage,
  WIRE_TYPE_IDS,
} from '../../src/wire/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { arbitraries, hex, limits, numRuns, seed } from './fixtures.ts';

/** Decodes and, when accepted, checks the one canonical-encoding rule: it re-encodes exactly. */
function decodeCanonically(bytes: Uint8Array): void {
  const result = decodeMessage(bytes, limits);
  if (result.ok) {
    assert.equal(hex(encodeMessage(result.message)), hex(bytes), 'an accepted input re-encodes to itself');
  } else {
    assert.ok(DECODE_ERROR_CODES.includes(result.error.code), `typed error code ${result.error.code}`);
    assert.equal(typeof result.error.detail, 'string');
  }
}

test('wire type ids are the MESSAGE_KINDS index plus one, and the header is version 3 then the id', () => {
  // Version 2: vertices carry validThrough. Version 3: every signed message starts with its
  // epoch. Version 1 is retired, never reused; version 2 is read back from stores only.
  assert.equal(CODEC_VERSION, 3);
  MESSAGE_KINDS.forEach((kind, index) => {
    assert.equal(WIRE_TYPE_IDS[kind], index + 1, kind);
  });
});

for (const kind of MESSAGE_KINDS) {
  test(`round trip: decode(encode(m)) deep-equals m for every ${kind} (seed ${seed})`, () => {
    fc.assert(
      fc.property(arbitraries.byKind[kind], (message: Message) => {
        const bytes = encodeMessage(message);
        assert.equal(bytes[0], CODEC_VERSION);
        assert.equal(bytes[1], WIRE_TYPE_IDS[kind]);
        assert.equal(bytes.length, encodedMessageBytes(message), 'encodedMessageBytes is exact');
        assert.ok(bytes.length <= encodedSizeBound(kind, limits), 'encodedSizeBound bounds the size');
        const result = decodeMessage(bytes, limits);
        assert.ok(result.ok, result.ok ? '' : `${result.error.code}: ${result.error.detail}`);
        assert.deepEqual(result.message, message);
      }),
      { seed, numRuns },
    );
  });
}

test('the decoder recomputes vertex hashes and never reads one from the wire', () => {
  const vertex = createVertex(new Uint8Array([1, 2, 3]), {
    parents: [new Uint8Array(32).fill(9)],
    validThrough: TEST_VALID_THROUGH,
  });
  const forged = { ...vertex, hash: new Uint8Array(32) };
  const message: Message = {
    kind: 'request',
    vertices: [forged],
    replica: 0,
    hold: false,
  };
  const result = decodeMessage(encodeMessage(message), limits);
  assert.ok(result.ok);
  assert.ok(result.message.kind === 'request');
  assert.deepEqual(
    result.message.vertices[0]?.hash,
    vertexHash(vertex.payload, vertex.parents, vertex.validThrough),
  );
});

test('golden PREPARE: version, type id, then epoch u32, replica u16, view u64, sequence u64, digest, signature', () => {
  const prepare = (epoch: number): Message => ({
    kind: 'prepare',
    epoch,
    view: 1,
    sequence: 2,
    digest: new Uint8Array(32).fill(7),
    replica: 3,
    signature: Uint8Array.of(5, 5),
  });
  const golden = (epoch: readonly number[]) =>
    [
      '03', // codec version
      '02', // wire type id of PREPARE
      ...epoch.map((byte) => byte.toString(16).padStart(2, '0')),
      '0003', // replica
      '0000000000000001', // view
      '0000000000000002', // sequence
      '07'.repeat(32), // digest
      '0002', // signature length
      '0505', // signature
    ].join('');
  assert.equal(hex(encodeMessage(prepare(0))), golden([0, 0, 0, 0]));
  assert.equal(hex(encodeMessage(prepare(0x0102_0304))), golden([1, 2, 3, 4]));
  assert.equal(hex(encodeMessage(prepare(0xffff_ffff))), golden([0xff, 0xff, 0xff, 0xff]));
  assert.equal(encodedMessageBytes(prepare(0)), 2 + 4 + 2 + 8 + 8 + 32 + 2 + 2);
  const decoded = decodeMessage(Uint8Array.from(Buffer.from(golden([0, 0, 0, 9]), 'hex')), limits);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.message, prepare(9));
});

test('decoded byte fields are copies: reusing the input buffer does not change the message', () => {
  const message: Message = {
    kind: 'prepare',
    epoch: 0,
    view: 1,
    sequence: 2,
    digest: new Uint8Array(32).fill(7),
    replica: 3,
    signature: new Uint8Array(16).fill(5),
  };
  const bytes = Buffer.from(encodeMessage(message));
  const result = decodeMessage(bytes, limits);
  bytes.fill(0);
  assert.ok(result.ok);
  assert.deepEqual(result.message, message);
});

test(`arbitrary bytes: decode never throws, and every accepted input re-encodes exactly (seed ${seed})`, () => {
  // Most random strings fail at the header, so half the inputs start with a valid header and a
  // random type id to reach the field decoders.
  const headed = fc
    .tuple(fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 400 }))
    .map(([type, tail]) => Uint8Array.from([CODEC_VERSION, type, ...tail]));
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), headed), decodeCanonically), {
    seed,
    numRuns: numRuns * 5,
  });
});

/** One way of damaging a valid frame body. */
type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly count: number }
  | { readonly kind: 'overwrite'; readonly at: number; readonly bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  // Length and count fields: overwrite two or four bytes with extremes or random values.
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.constantFrom(
        Uint8Array.of(0xff, 0xff),
        Uint8Array.of(0xff, 0xff, 0xff, 0xff),
        Uint8Array.of(0, 0),
        Uint8Array.of(0, 0, 0, 1),
        Uint8Array.of(0, 0x20),
      ),
      fc.uint8Array({ minLength: 2, maxLength: 4 }),
    ),
  }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = bytes.length === 0 ? 0 : m.at % bytes.length;
  switch (m.kind) {
    case 'flip': {
      const out = bytes.slice();
      out[at] = (out[at] ?? 0) ^ (1 << m.bit);
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'insert':
      return Uint8Array.from([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
    case 'delete':
      return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + m.count)]);
    case 'overwrite': {
      const out = bytes.slice();
      out.set(m.bytes.subarray(0, Math.max(0, out.length - at)), at);
      return out;
    }
  }
}

test(`mutated valid frames (bit flips, truncation, insertion, deletion, length corruption): decode never throws and accepted results re-encode exactly (seed ${seed})`, () => {
  fc.assert(
    fc.property(
      arbitraries.message,
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      (message, mutations) => {
        let bytes = encodeMessage(message);
        for (const m of mutations) bytes = mutate(bytes, m);
        decodeCanonically(bytes);
      },
    ),
    { seed, numRuns: numRuns * 3 },
  );
});

test(`every truncation of a valid frame is refused as truncated (seed ${seed})`, () => {
  fc.assert(
    fc.property(arbitraries.message, (message) => {
      const bytes = encodeMessage(message);
      // Checking every prefix of large messages is slow; a spread of cut points suffices.
      const step = Math.max(1, Math.floor(bytes.length / 64));
      for (let cut = 0; cut < bytes.length; cut += step) {
        const result = decodeMessage(bytes.subarray(0, cut), limits);
        assert.ok(!result.ok && result.error.code === 'truncated', `prefix of ${cut} bytes`);
      }
    }),
    { seed, numRuns: numRuns / 3 },
  );
});

test('a byte after a complete message is refused as trailing-bytes', () => {
  const message: Message = {
    kind: 'state-request',
    epoch: 0,
    fromSequence: 1,
    toSequence: 9,
    replica: 0,
    signature: new Uint8Array([1]),
  };
  const result = decodeMessage(Uint8Array.from([...encodeMessage(message), 0]), limits);
  assert.equal(result.ok ? 'ok' : result.error.code, 'trailing-bytes');
});

test('an unknown codec version is refused as unknown-version, unknown type ids as unknown-type', () => {
  const message: Message = {
    kind: 'state-request',
    epoch: 0,
    fromSequence: 1,
    toSequence: 9,
    replica: 0,
    signature: new Uint8Array([1]),
  };
  const bytes = encodeMessage(message);
  const code = (b: Uint8Array): string => {
    const result = decodeMessage(b, limits);
    return result.ok ? 'ok' : result.error.code;
  };
  assert.equal(code(bytes), 'ok');
  assert.equal(code(Uint8Array.from([4, ...bytes.subarray(1)])), 'unknown-version');
  // Version 2 (before epochs) is accepted from a store only, never from a peer.
  assert.equal(code(Uint8Array.from([2, ...bytes.subarray(1)])), 'unknown-version');
  assert.equal(code(Uint8Array.from([1, ...bytes.subarray(1)])), 'unknown-version');
  assert.equal(code(Uint8Array.from([0, ...bytes.subarray(1)])), 'unknown-version');
  for (const id of [0, MESSAGE_KINDS.length + 1, 255]) {
    assert.equal(
      code(Uint8Array.from([CODEC_VERSION, id, ...bytes.subarray(2)])),
      'unknown-type',
      `id ${id}`,
    );
  }
  assert.equal(code(new Uint8Array(0)), 'truncated');
  assert.equal(code(Uint8Array.of(CODEC_VERSION)), 'truncated');
});

test('the encoder refuses values the layout cannot carry, with an ArgumentError', () => {
  const prepare = {
    kind: 'prepare' as const,
    epoch: 0,
    view: 1,
    sequence: 2,
    digest: new Uint8Array(32),
    replica: 0,
    signature: new Uint8Array([1]),
  };
  assert.throws(() => encodeMessage({ ...prepare, view: Number.MAX_SAFE_INTEGER + 1 }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, view: -1 }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, epoch: -1 }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, epoch: 0x1_0000_0000 }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, epoch: 0.5 }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, sequence: 1.5 }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, replica: 0x1_0000 }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, digest: new Uint8Array(31) }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, signature: new Uint8Array(0) }), ArgumentError);
  assert.throws(() => encodeMessage({ ...prepare, signature: new Uint8Array(0x1_0000) }), ArgumentError);
  const header = { ...prepare, kind: 'pre-prepare' as const, batch: [] };
  assert.throws(
    () =>
      encodeMessage({
        kind: 'new-view',
        epoch: 0,
        view: 1,
        viewChanges: [],
        prePrepares: [header],
        replica: 0,
        signature: new Uint8Array([1]),
      }),
    ArgumentError,
    'a nested PRE-PREPARE must not carry a batch',
  );
});
