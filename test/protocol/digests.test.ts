import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { sha256 } from '../../src/crypto/index.ts';
import { vertexHash } from '../../src/protocol/index.ts';

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
  const tag = new TextEncoder().encode('cretoai/vertex/v1');
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 5 }),
      (payload, parents) => {
        const expected = streaming(tag, u32(payload.length), payload, u32(parents.length), ...parents);
        assert.equal(hex(vertexHash(payload, parents)), expected);
      },
    ),
    { seed, numRuns: 300 },
  );
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
