import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeMessage,
  encodeFrame,
  encodeMessage,
  encodeMessageFrame,
  FRAME_PREFIX_BYTES,
  FrameDecoder,
} from '../../src/wire/index.ts';
import { arbitraries, hex, limits, numRuns, seed } from './fixtures.ts';

/** Splits `bytes` at the given cut points (taken modulo its length, sorted). */
function chunk(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => (bytes.length === 0 ? 0 : cut % (bytes.length + 1))))].sort(
    (a, b) => a - b,
  );
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

test('encodeFrame writes a u32 big-endian length, then the body', () => {
  assert.deepEqual(encodeFrame(Uint8Array.of(7, 8, 9)), Uint8Array.of(0, 0, 0, 3, 7, 8, 9));
  assert.deepEqual(encodeFrame(new Uint8Array(0)), Uint8Array.of(0, 0, 0, 0));
});

test(`encodeMessageFrame equals encodeFrame(encodeMessage(m)) (seed ${seed})`, () => {
  fc.assert(
    fc.property(arbitraries.message, (message) => {
      assert.equal(hex(encodeMessageFrame(message)), hex(encodeFrame(encodeMessage(message))));
    }),
    { seed, numRuns },
  );
});

test(`arbitrary chunking of a sequence of frames yields the same bodies, never buffering more than max + 4 (seed ${seed})`, () => {
  const maxFrameBytes = 300;
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: maxFrameBytes }), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (bodies, cuts) => {
        const decoder = new FrameDecoder(maxFrameBytes);
        const received: Uint8Array[] = [];
        for (const piece of chunk(concat(bodies.map(encodeFrame)), cuts)) {
          const result = decoder.push(piece);
          assert.ok(result.ok);
          received.push(...result.frames);
          assert.ok(decoder.bufferedBytes <= maxFrameBytes + FRAME_PREFIX_BYTES);
        }
        assert.deepEqual(received.map(hex), bodies.map(hex));
        assert.equal(decoder.bufferedBytes, 0, 'nothing left over after whole frames');
      },
    ),
    { seed, numRuns },
  );
});

test(`messages framed, chunked arbitrarily and decoded come back equal (seed ${seed})`, () => {
  fc.assert(
    fc.property(
      fc.array(arbitraries.message, { maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (messages, cuts) => {
        const decoder = new FrameDecoder(limits.maxFrameBytes);
        const decoded = [];
        for (const piece of chunk(concat(messages.map(encodeMessageFrame)), cuts)) {
          const result = decoder.push(piece);
          assert.ok(result.ok);
          for (const body of result.frames) {
            const message = decodeMessage(body, limits);
            assert.ok(message.ok);
            decoded.push(message.message);
          }
        }
        assert.deepEqual(decoded, messages);
      },
    ),
    { seed, numRuns: numRuns / 3 },
  );
});

test('a declared length over maxFrameBytes yields frame-too-large as soon as the prefix arrives, and the decoder stays failed', () => {
  const decoder = new FrameDecoder(100);
  const ok = decoder.push(encodeFrame(new Uint8Array(100)));
  assert.ok(ok.ok && ok.frames.length === 1, 'a frame of exactly maxFrameBytes is accepted');
  assert.deepEqual(decoder.push(Uint8Array.of(0, 0)), { ok: true, frames: [] });
  const refused = decoder.push(Uint8Array.of(0, 101));
  assert.ok(!refused.ok);
  assert.equal(refused.error.code, 'frame-too-large');
  const later = decoder.push(encodeFrame(new Uint8Array(1)));
  assert.ok(!later.ok && later.error.code === 'frame-too-large', 'framing is lost for good');
  const huge = new FrameDecoder(1 << 20).push(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
  assert.ok(!huge.ok && huge.error.code === 'frame-too-large');
});

test('a frame that is declared large but stalls holds only the bytes that arrived', () => {
  const decoder = new FrameDecoder(16 << 20);
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, 16 << 20);
  assert.ok(decoder.push(Uint8Array.from([...prefix, 1, 2, 3])).ok);
  assert.equal(decoder.bufferedBytes, FRAME_PREFIX_BYTES + 3);
});

test('an empty body is emitted as soon as its length prefix arrives, even at the end of a chunk', () => {
  const decoder = new FrameDecoder(100);
  assert.deepEqual(decoder.push(Uint8Array.of(0, 0, 0, 1, 9, 0, 0, 0, 0)), {
    ok: true,
    frames: [Uint8Array.of(9), new Uint8Array(0)],
  });
  assert.equal(decoder.bufferedBytes, 0);
});

test('bodies are copies: reusing a pushed chunk does not change an emitted body', () => {
  const decoder = new FrameDecoder(100);
  const bytes = encodeFrame(Uint8Array.of(1, 2, 3));
  const result = decoder.push(bytes);
  bytes.fill(0);
  assert.ok(result.ok);
  assert.deepEqual(result.frames, [Uint8Array.of(1, 2, 3)]);
});
