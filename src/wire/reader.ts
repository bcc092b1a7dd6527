/**
 * A big-endian cursor over untrusted bytes.
 *
 * Every read checks the bytes remaining first and reports a shortfall by throwing a
 * {@link DecodeFailure}, which `decodeMessage` catches at its one entry and turns into a
 * typed result: nothing else in the decoder needs to thread errors through return values, and
 * no failure escapes as an exception.
 */
import { DIGEST_BYTES } from '../crypto/digest.ts';
import { copyBytes } from './bytes.ts';
import type { DecodeErrorCode } from './errors.ts';

const TWO_POW_32 = 0x1_0000_0000;
/** The largest high word of a u64 that keeps the value at or below 2^53 - 1. */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

/**
 * The decoder's internal signal for a refused input. It deliberately does not extend Error:
 * capturing a stack trace for every malformed frame a Byzantine peer sends would cost time and
 * buy nothing, since the failure is an expected outcome, not a bug.
 */
export class DecodeFailure {
  readonly code: DecodeErrorCode;
  readonly detail: string;

  constructor(code: DecodeErrorCode, detail: string) {
    this.code = code;
    this.detail = detail;
  }
}

/** Reads big-endian fields from `bytes`, refusing to read past its end. */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  /** @param bytes - the input; what the reader returns never aliases it, but for `view`. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  /** Where the cursor is, for error details. */
  get offset(): number {
    return this.#offset;
  }

  /** Fails unless `count` more bytes are present. */
  need(count: number, what: string): void {
    if (count > this.#bytes.length - this.#offset) {
      throw new DecodeFailure(
        'truncated',
        `${what} needs ${count} bytes at offset ${this.#offset}, ${this.remaining} remain`,
      );
    }
  }

  /**
   * Checks a declared element count against its configured limit and against the bytes left,
   * given the smallest encoding of one element, before anything is allocated for it.
   */
  count(value: number, limit: number, minElementBytes: number, what: string): number {
    if (value > limit) throw new DecodeFailure('limit-exceeded', `${what}: ${value} > limit ${limit}`);
    if (value * minElementBytes > this.remaining) {
      throw new DecodeFailure(
        'truncated',
        `${what}: ${value} elements need at least ${value * minElementBytes} bytes, ${this.remaining} remain`,
      );
    }
    return value;
  }

  /** An unsigned byte. */
  u8(what: string): number {
    this.need(1, what);
    const value = this.#view.getUint8(this.#offset);
    this.#offset += 1;
    return value;
  }

  /** An unsigned 16-bit integer. */
  u16(what: string): number {
    this.need(2, what);
    const value = this.#view.getUint16(this.#offset);
    this.#offset += 2;
    return value;
  }

  /** An unsigned 32-bit integer. */
  u32(what: string): number {
    this.need(4, what);
    const value = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** A u64 that must be at most 2^53 - 1, so that it is exact as a JavaScript number. */
  u64(what: string): number {
    this.need(8, what);
    const high = this.#view.getUint32(this.#offset);
    const low = this.#view.getUint32(this.#offset + 4);
    if (high > MAX_SAFE_HIGH_WORD) {
      throw new DecodeFailure('invalid-value', `${what} at offset ${this.#offset} exceeds 2^53 - 1`);
    }
    this.#offset += 8;
    return high * TWO_POW_32 + low;
  }

  /** A boolean: exactly 0 or 1, since any other byte would not re-encode to itself. */
  bool(what: string): boolean {
    const value = this.u8(what);
    if (value > 1) throw new DecodeFailure('non-canonical', `${what} is ${value}, not 0 or 1`);
    return value === 1;
  }

  /**
   * A copy of the next `length` bytes. Copying (rather than a view) lets the caller reuse its
   * input buffer and keeps a retained digest from pinning a whole frame in memory.
   */
  bytes(length: number, what: string): Uint8Array {
    this.need(length, what);
    const start = this.#offset;
    this.#offset += length;
    return copyBytes(this.#bytes.subarray(start, this.#offset));
  }

  /**
   * The next `length` bytes as a view of the input, not a copy: for bytes the caller compares
   * or copies before the input is reused, never for bytes it keeps.
   */
  view(length: number, what: string): Uint8Array {
    this.need(length, what);
    const start = this.#offset;
    this.#offset += length;
    return this.#bytes.subarray(start, this.#offset);
  }

  /** A digest: exactly {@link DIGEST_BYTES} bytes. */
  digest(what: string): Uint8Array {
    return this.bytes(DIGEST_BYTES, what);
  }
}
