/**
 * A big-endian byte writer over one growing buffer.
 *
 * The encoder sizes the buffer exactly before writing, so in the common case the writer never
 * grows and `finish()` returns the buffer itself without a copy. Growth (doubling) is only a
 * safety net for callers that estimate, such as the sign-bytes builder.
 *
 * Every write checks its range and throws a ArgumentError on a value the layout cannot carry: the
 * encoder's inputs come from this replica, so a bad value is a local bug, never peer input.
 */
import { DIGEST_BYTES } from '../crypto/digest.ts';
import { ArgumentError } from '../errors.ts';
import { allocBytes } from './bytes.ts';

const TWO_POW_32 = 0x1_0000_0000;

/** Appends big-endian fields to a growing buffer. */
export class Writer {
  #bytes: Uint8Array;
  #view: DataView;
  #offset: number;

  /**
   * @param capacity - the initial buffer size in bytes; exact sizes avoid growth and copies.
   * @param offset - bytes to leave at the start (for a frame's length prefix).
   */
  constructor(capacity: number, offset = 0) {
    this.#bytes = allocBytes(Math.max(capacity, offset));
    this.#view = viewOf(this.#bytes);
    this.#offset = offset;
  }

  /** Bytes written so far, including any reserved prefix. */
  get length(): number {
    return this.#offset;
  }

  /**
   * Makes room for `count` bytes and returns where they go. Callers must take the offset
   * before touching `#view` or `#bytes`: growth replaces both, and an expression such as
   * `this.#view.setUint16(this.#reserve(2), v)` would read the old view first.
   */
  #reserve(count: number): number {
    const at = this.#offset;
    const needed = at + count;
    if (needed > this.#bytes.length) {
      const grown = allocBytes(Math.max(needed, this.#bytes.length * 2, 64));
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
      this.#view = viewOf(grown);
    }
    this.#offset = needed;
    return at;
  }

  /** An unsigned byte. */
  u8(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new ArgumentError(`not a u8: ${value}`);
    const at = this.#reserve(1);
    this.#view.setUint8(at, value);
  }

  /** An unsigned 16-bit integer. */
  u16(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff)
      throw new ArgumentError(`not a u16: ${value}`);
    const at = this.#reserve(2);
    this.#view.setUint16(at, value);
  }

  /** An unsigned 32-bit integer. */
  u32(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new ArgumentError(`not a u32: ${value}`);
    }
    const at = this.#reserve(4);
    this.#view.setUint32(at, value);
  }

  /** A u64 holding a safe integer: the protocol's numbers never exceed 2^53 - 1. */
  u64(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new ArgumentError(`not a safe u64: ${value}`);
    const at = this.#reserve(8);
    this.#view.setUint32(at, Math.floor(value / TWO_POW_32));
    this.#view.setUint32(at + 4, value >>> 0);
  }

  /** A boolean as one byte, 0 or 1. */
  bool(value: boolean): void {
    const at = this.#reserve(1);
    this.#view.setUint8(at, value ? 1 : 0);
  }

  /** Raw bytes with no length prefix (the reader must know the length). */
  raw(bytes: Uint8Array): void {
    const at = this.#reserve(bytes.length);
    this.#bytes.set(bytes, at);
  }

  /** A digest: exactly {@link DIGEST_BYTES} bytes, no prefix. */
  digest(bytes: Uint8Array): void {
    if (bytes.length !== DIGEST_BYTES) {
      throw new ArgumentError(`a digest must be ${DIGEST_BYTES} bytes, got ${bytes.length}`);
    }
    this.raw(bytes);
  }

  /** The written bytes. When the capacity was exact, this is the buffer itself. */
  finish(): Uint8Array {
    return this.#offset === this.#bytes.length ? this.#bytes : this.#bytes.subarray(0, this.#offset);
  }
}

/** A DataView over exactly `bytes` (whose buffer may be a shared slab). */
function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
