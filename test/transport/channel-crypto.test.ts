/**
 * Frame protection after the handshake: a record opens only at the receiver of its own
 * connection and direction, exactly once, in the order it was sealed. Any bit flipped (in the
 * length prefix or the record), any record replayed, reordered, dropped, reflected back or
 * moved to another connection is refused, and once one is refused the stream stays refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  deriveChannelKeys,
  RecordOpener,
  RecordSealer,
  SEAL_OVERHEAD_BYTES,
} from '../../src/transport/channel-crypto.ts';
import { FRAME_PREFIX_BYTES, FrameDecoder } from '../../src/wire/frame.ts';
import { testSeed } from './tcp-support.ts';

/** A fresh connection's two directions, from a random secret and transcript. */
function connection() {
  const keys = deriveChannelKeys(new Uint8Array(randomBytes(64)), new Uint8Array(randomBytes(32)));
  return {
    keys,
    sealer: new RecordSealer(keys.dialerToAcceptor),
    opener: new RecordOpener(keys.dialerToAcceptor),
    backSealer: new RecordSealer(keys.acceptorToDialer),
    backOpener: new RecordOpener(keys.acceptorToDialer),
  };
}

/** The records of a sealed stream, split by the transport's frame decoder. */
function records(stream: Uint8Array): Uint8Array[] {
  const result = new FrameDecoder(1 << 20).push(stream);
  assert.ok(result.ok);
  return result.frames;
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

const frames = fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 12 });

describe('sealed frames', () => {
  it('open in order at the other end of their own direction, as they were sealed (property)', () => {
    const seed = testSeed('channel round trip');
    fc.assert(
      fc.property(frames, (plain) => {
        const { sealer, opener } = connection();
        const sealed = plain.map((frame) => sealer.sealFrame(frame));
        for (const [i, frame] of sealed.entries()) {
          assert.equal(frame.length, FRAME_PREFIX_BYTES + plain[i]!.length + SEAL_OVERHEAD_BYTES);
        }
        assert.deepEqual(
          records(concat(sealed)).map((record) => opener.open(record)),
          plain,
        );
      }),
      { seed, numRuns: 200 },
    );
  });

  it('refuse any bit flipped in a length prefix or a record, and everything after it (property)', () => {
    const seed = testSeed('channel bit flip');
    fc.assert(
      fc.property(frames, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (plain, which, at, bit) => {
        const { sealer, opener } = connection();
        const sealed = plain.map((frame) => sealer.sealFrame(frame));
        const target = which % sealed.length;
        const damaged = sealed[target]!.slice();
        const offset = at % damaged.length;
        damaged[offset]! ^= 1 << bit;
        // The prefix is read by the frame decoder: a changed length misframes the stream, which
        // either fails to split or hands the opener a record that does not open.
        const tail = concat([damaged, ...sealed.slice(target + 1)]);
        for (const record of records(concat(sealed.slice(0, target))))
          assert.notEqual(opener.open(record), null);
        const split = new FrameDecoder(1 << 20).push(tail);
        if (!split.ok) return;
        const opened = split.frames.map((record) => opener.open(record));
        assert.ok(opened.length === 0 || opened.every((frame) => frame === null));
      }),
      { seed, numRuns: 400 },
    );
  });

  it('refuse a record replayed, reordered or dropped (property)', () => {
    const seed = testSeed('channel replay');
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 2, maxLength: 8 }),
        fc.nat(),
        fc.constantFrom('replay', 'swap', 'drop'),
        (plain, which, how) => {
          const { sealer, opener } = connection();
          const sealed = plain.map((frame) => sealer.seal(frame));
          const i = which % (sealed.length - 1);
          const order = [...sealed.keys()];
          if (how === 'replay') order.splice(i + 1, 0, i);
          else if (how === 'swap') [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
          else order.splice(i, 1);
          const opened = order.map((index) => opener.open(sealed[index]!));
          // Everything before the change opens; the first changed record and all after it do not.
          const firstChanged = how === 'replay' ? i + 1 : i;
          for (const [k, frame] of opened.entries()) {
            if (k < firstChanged) assert.deepEqual(frame, plain[order[k]!]);
            else assert.equal(frame, null);
          }
        },
      ),
      { seed, numRuns: 300 },
    );
  });

  it('refuse a record moved to another connection or reflected to its sender', () => {
    const one = connection();
    const two = connection();
    const record = one.sealer.seal(Uint8Array.of(7, 7, 7));
    // Same position (the first record) in another connection: another key.
    assert.equal(two.opener.open(record), null);
    // Back to the sender's own opener for the other direction.
    assert.equal(one.backOpener.open(record), null);
    // The right receiver would have taken it, but a refused stream stays refused.
    const three = connection();
    assert.equal(three.opener.open(Uint8Array.of(1, 2, 3)), null);
    assert.equal(three.opener.open(three.sealer.seal(Uint8Array.of(1))), null);
    assert.deepEqual(one.opener.open(record), Uint8Array.of(7, 7, 7));
  });

  it('derive distinct keys per direction and per transcript', () => {
    const secret = new Uint8Array(64).fill(1);
    const a = deriveChannelKeys(secret, new Uint8Array(32).fill(2));
    const b = deriveChannelKeys(secret, new Uint8Array(32).fill(3));
    assert.notDeepEqual(a.dialerToAcceptor, a.acceptorToDialer);
    assert.notDeepEqual(a.dialerToAcceptor, b.dialerToAcceptor);
    assert.deepEqual(a, deriveChannelKeys(secret, new Uint8Array(32).fill(2)));
  });
});
