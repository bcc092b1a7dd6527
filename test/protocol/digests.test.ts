import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { digestOfHex, toHex } from '../../src/crypto/digest.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { createVertex, hasValidHash, vertexHash } from '../../src/protocol/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

const seed = Number(process.env.FC_SEED ?? 20261124);
const streaming = (...parts: Uint8Array[]): string => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
};
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const u32 = (value: number): Uint8Array => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
};

test(`a vertex hash is SHA-256 of tag, payload length, payload, parent count and parents (seed ${seed})`, () => {
  const tag = new TextEncoder().encode('cretoai/vertex/v2');
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 5 }),
      (payload, parents) => {
        const validThrough = 2 ** 40 + payload.length;
        const u64 = Buffer.alloc(8);
        u64.writeBigUInt64BE(BigInt(validThrough));
        const expected = streaming(tag, u32(payload.length), payload, u32(parents.length), ...parents, u64);
        assert.equal(hex(vertexHash(payload, parents, validThrough)), expected);
      },
    ),
    { seed, numRuns: 300 },
  );
  // Sizes around the reused input buffer's: its first size, grown, past its largest, and small
  // again after each (src/protocol/types.ts).
  for (const bytes of [16 * 1024, 20_000, 3, 1024 * 1024 + 1, 600, 2 * 1024 * 1024, 40]) {
    const payload = new Uint8Array(bytes).map((_, i) => (i * 7 + bytes) & 255);
    const u64 = Buffer.alloc(8);
    u64.writeBigUInt64BE(BigInt(TEST_VALID_THROUGH));
    const expected = streaming(tag, u32(payload.length), payload, u32(0), u64);
    assert.equal(hex(vertexHash(payload, [], TEST_VALID_THROUGH)), expected, `${bytes} bytes`);
    assert.equal(
      hex(createVertex(payload, { validThrough: TEST_VALID_THROUGH }).hash),
      expected,
      `${bytes} bytes`,
    );
  }
});

test(`sha256 over parts equals streaming SHA-256, below and above the one-shot size (seed ${seed})`, () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 40_000 }), { maxLength: 4 }),
      fc.nat(255),
      (sizes, fill) => {
        const parts = sizes.map((size) => new Uint8Array(size).fill(fill));
        assert.equal(hex(sha256(...parts)), streaming(...parts));
      },
    ),
    { seed, numRuns: 60 },
  );
});

test(`hasValidHash trusts createVertex's vertices and checks every other one (seed ${seed})`, () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 3 }),
      fc.nat(31),
      (payload, parents, flip) => {
        const built = createVertex(payload, { parents: parents, validThrough: TEST_VALID_THROUGH });
        assert.ok(Object.isFrozen(built), 'a built vertex cannot have its hash swapped');
        assert.ok(hasValidHash(built));
        // What marks it as hashed here is no property: it equals a plain object of its fields.
        assert.deepStrictEqual(built, {
          payload,
          parents,
          validThrough: TEST_VALID_THROUGH,
          hash: built.hash,
        });
        assert.deepEqual(Reflect.ownKeys(built), ['payload', 'parents', 'validThrough', 'hash']);
        // The same fields in an object of the caller's own: checked, and right.
        const validThrough = TEST_VALID_THROUGH;
        assert.ok(
          hasValidHash({ payload, parents, validThrough, hash: vertexHash(payload, parents, validThrough) }),
        );
        // Another validThrough is another vertex: the hash covers it.
        assert.equal(hasValidHash({ ...built, validThrough: validThrough + 1 }), false);
        const wrong = new Uint8Array(built.hash);
        wrong[flip]! ^= 1;
        assert.equal(hasValidHash({ ...built, hash: wrong }), false);
        assert.equal(hasValidHash({ ...built, hash: built.hash.subarray(1) }), false);
        if (parents.length > 0) {
          const short = [parents[0]!.subarray(1), ...parents.slice(1)];
          assert.equal(hasValidHash({ payload, parents: short, validThrough, hash: built.hash }), false);
        }
      },
    ),
    { seed, numRuns: 200 },
  );
});

test(`digestOfHex reads back the bytes of every digest toHex wrote (seed ${seed})`, () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
      const parsed = digestOfHex(toHex(bytes));
      assert.deepStrictEqual(parsed, new Uint8Array(bytes));
    }),
    { seed, numRuns: 500 },
  );
  assert.deepStrictEqual(digestOfHex('ff'.repeat(32)), new Uint8Array(32).fill(255));
  assert.deepStrictEqual(
    digestOfHex('0123456789abcdef'.repeat(4)).subarray(0, 8),
    Uint8Array.of(1, 35, 69, 103, 137, 171, 205, 239),
  );
});
