/**
 * Length-prefixed framing for byte streams: each frame is a u32 big-endian body length, then
 * the body (one encoded message).
 *
 * The decoder is incremental and bounded: it accepts chunks of any size, returns the complete
 * bodies they finish, and refuses a declared length above `maxFrameBytes` as soon as the four
 * length bytes arrive, before buffering any of that body. It never holds more than
 * `maxFrameBytes + 4` bytes, and it grows a body's buffer only as its bytes actually arrive, so
 * a peer that declares a large frame and then stalls costs little memory.
 */

import { ArgumentError } from '../errors.ts';
import { integerField } from '../protocol/errors.ts';
import type { Message } from '../protocol/messages.ts';
import { encodedMessageBytes, writeMessage } from './codec.ts';
import type { DecodeError } from './errors.ts';
import { Writer } from './writer.ts';

/** Bytes of the length prefix. */
export const FRAME_PREFIX_BYTES = 4;

/** The largest body a u32 length prefix can declare. */
const FRAME_LENGTH_LIMIT = 0xffff_ffff;

/**
 * `body` framed for a stream: u32 length, then the body.
 *
 * @throws ArgumentError when the body is longer than a u32 can declare.
 */
export function encodeFrame(body: Uint8Array): Uint8Array {
  if (body.length > FRAME_LENGTH_LIMIT)
    throw new ArgumentError(`a frame body of ${body.length} bytes is too long`);
  const out = new Uint8Array(FRAME_PREFIX_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, FRAME_PREFIX_BYTES);
  return out;
}

/**
 * `encodeFrame(encodeMessage(message))` in one allocation and without copying the body: the
 * transport's send path.
 */
export function encodeMessageFrame(message: Message): Uint8Array {
  const bodyBytes = encodedMessageBytes(message);
  const w = new Writer(FRAME_PREFIX_BYTES + bodyBytes);
  w.u32(bodyBytes);
  writeMessage(w, message);
  return w.finish();
}

/** The outcome of pushing a chunk: the bodies completed by it, or why the stream is refused. */
export type FramePushResult =
  | { readonly ok: true; readonly frames: Uint8Array[] }
  | { readonly ok: false; readonly error: DecodeError };

/**
 * Splits a byte stream into frame bodies.
 *
 * Once a declared length is refused, framing is lost for good (the decoder cannot know where the
 * next frame would start), so the decoder stays failed: every later push returns the same error
 * and the caller should close the connection.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  /** The length prefix being read; `#prefixFilled` of its four bytes have arrived. */
  readonly #prefix = new Uint8Array(FRAME_PREFIX_BYTES);
  #prefixFilled = 0;
  /** The body being read, once its length is known: `#bodyFilled` of `#bodyLength` bytes. */
  #body: Uint8Array | null = null;
  #bodyLength = 0;
  #bodyFilled = 0;
  #error: DecodeError | null = null;

  /** @param maxFrameBytes - the largest body accepted (as `DecodeLimits.maxFrameBytes`). */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = integerField('maxFrameBytes', maxFrameBytes, undefined, 0, FRAME_LENGTH_LIMIT);
  }

  /** Bytes held for the frame in progress (prefix and body so far). */
  get bufferedBytes(): number {
    return this.#body === null ? this.#prefixFilled : FRAME_PREFIX_BYTES + this.#bodyFilled;
  }

  /**
   * Consumes `chunk` and returns the bodies it completes, in order. Each body is a fresh array
   * the caller owns; `chunk` is not retained and may be reused.
   */
  push(chunk: Uint8Array): FramePushResult {
    if (this.#error !== null) return { ok: false, error: this.#error };
    const frames: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#body === null) {
        const take = Math.min(FRAME_PREFIX_BYTES - this.#prefixFilled, chunk.length - at);
        this.#prefix.set(chunk.subarray(at, at + take), this.#prefixFilled);
        this.#prefixFilled += take;
        at += take;
        if (this.#prefixFilled < FRAME_PREFIX_BYTES) break;
        const length = new DataView(this.#prefix.buffer).getUint32(0);
        if (length > this.#maxFrameBytes) {
          this.#error = {
            code: 'frame-too-large',
            detail: `declared frame length ${length} > ${this.#maxFrameBytes}`,
          };
          return { ok: false, error: this.#error };
        }
        this.#prefixFilled = 0;
        if (length === 0) {
          // An empty body is complete as soon as its length is known.
          frames.push(new Uint8Array(0));
          continue;
        }
        this.#bodyLength = length;
        this.#bodyFilled = 0;
        // Size the buffer by what has arrived, not by what was declared.
        this.#body = new Uint8Array(Math.min(length, chunk.length - at));
      }
      const body: Uint8Array = this.#body;
      const take = Math.min(this.#bodyLength - this.#bodyFilled, chunk.length - at);
      let target = body;
      if (this.#bodyFilled + take > body.length) {
        target = new Uint8Array(
          Math.min(this.#bodyLength, Math.max(this.#bodyFilled + take, body.length * 2)),
        );
        target.set(body.subarray(0, this.#bodyFilled));
        this.#body = target;
      }
      target.set(chunk.subarray(at, at + take), this.#bodyFilled);
      this.#bodyFilled += take;
      at += take;
      if (this.#bodyFilled === this.#bodyLength) {
        frames.push(target);
        this.#body = null;
      }
    }
    return { ok: true, frames };
  }
}
