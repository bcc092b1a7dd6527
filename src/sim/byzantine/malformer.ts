/**
 * The malformer: part of what it sends is mangled on the way out (bits flipped, cut short,
 * bytes appended, the version or type byte changed, a run of bytes repeated), and now and then
 * it sends bytes that were never a message. Most such frames fail to decode; a flip inside a
 * PRE-PREPARE's batch decodes but no longer matches the signed digest; a flip in a signed field
 * breaks the signature. All of it is drawn from the run's PRNG, so a seed replays it.
 */
import type { Message } from '../../protocol/index.ts';
import { encodeMessage } from '../../wire/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The chance that a peer gets a mangled frame instead of the real one, and in addition to it. */
const REPLACE_RATE = 0.25;
const EXTRA_RATE = 0.1;
/** The chance per tick of a frame of random bytes, and its longest length. */
const NOISE_RATE = 0.05;
const NOISE_BYTES_MAX = 300;

export class Malformer extends ByzantineReplica {
  readonly strategy = 'malformer';

  protected override onTick(): void {
    if (this.prng.chance(NOISE_RATE)) {
      this.sendFrame(this.prng.pick(this.peers), this.#noise(this.prng.int(NOISE_BYTES_MAX + 1)));
    }
  }

  protected override transmit(message: Message, peers: readonly number[], encoded?: Uint8Array): void {
    const frame = encoded ?? encodeMessage(message);
    for (const peer of peers) {
      const draw = this.prng.float();
      if (draw < REPLACE_RATE) {
        this.sendFrame(peer, this.#mangle(frame));
      } else {
        this.sendFrame(peer, frame);
        if (draw < REPLACE_RATE + EXTRA_RATE) this.sendFrame(peer, this.#mangle(frame));
      }
    }
  }

  #mangle(frame: Uint8Array): Uint8Array {
    switch (this.prng.int(6)) {
      case 0: {
        const out = frame.slice();
        const flips = 1 + this.prng.int(3);
        for (let i = 0; i < flips; i++) {
          const index = this.prng.int(out.length);
          out[index] = out[index]! ^ (1 << this.prng.int(8));
        }
        return out;
      }
      case 1:
        return frame.slice(0, this.prng.int(frame.length));
      case 2: {
        const extra = this.#noise(1 + this.prng.int(8));
        const out = new Uint8Array(frame.length + extra.length);
        out.set(frame);
        out.set(extra, frame.length);
        return out;
      }
      case 3: {
        // The codec version (byte 0) or the wire type id (byte 1) changed.
        const out = frame.slice();
        const index = this.prng.int(2);
        out[index] = (out[index]! + 1 + this.prng.int(255)) & 0xff;
        return out;
      }
      case 4: {
        // A run of bytes repeated in place: lengths and counts no longer line up.
        const start = this.prng.int(frame.length);
        const length = 1 + this.prng.int(Math.min(16, frame.length - start));
        const out = new Uint8Array(frame.length + length);
        out.set(frame.subarray(0, start + length));
        out.set(frame.subarray(start), start + length);
        return out;
      }
      default:
        return this.#noise(this.prng.int(frame.length + 1));
    }
  }

  #noise(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.prng.int(256);
    return out;
  }
}
