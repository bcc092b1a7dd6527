import { createHash, hash } from 'node:crypto';

/** Length in bytes of every digest in the protocol (SHA-256). */
export const DIGEST_BYTES = 32;

/**
 * SHA-256 over the concatenation of `parts`.
 *
 * Callers domain-separate their inputs themselves (every protocol digest starts with a
 * distinct ASCII tag), so that a vertex hash can never collide with a batch digest.
 */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  if (total > ONE_SHOT_BYTES_MAX) {
    const streaming = createHash('sha256');
    for (const part of parts) streaming.update(part);
    return digestOfLatin1(streaming.digest('binary'));
  }
  // Small inputs (vertex hashes, votes, chain digests: the hot path) cost half as much with
  // one native call over one buffer as with a Hash object fed part by part.
  const joined = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return sha256Of(joined);
}

/**
 * SHA-256 of one buffer, in one native call. The digest comes back as a 32-character 'binary' (latin1)
 * string and is copied into an array on V8's heap: a Buffer from the call would be a backing
 * store of its own, which costs more to allocate and collect than the hash itself.
 */
export function sha256Of(bytes: Uint8Array): Uint8Array {
  return digestOfLatin1(hash('sha256', bytes, 'binary'));
}

/**
 * SHA-256 of one buffer as lower-case hex, in one native call: for a caller that keeps the key
 * form too, and gets the bytes from it with {@link digestOfHex} rather than hex from the bytes.
 */
export function sha256Hex(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'hex');
}

/** The value of each lower-case hex digit by character code below 128, -1 for every other character. */
export const HEX_DIGIT_VALUES = (() => {
  const values = new Int8Array(128).fill(-1);
  for (let digit = 0; digit < 16; digit++) values[digit.toString(16).charCodeAt(0)] = digit;
  return values;
})();

/**
 * The bytes of a digest this process wrote as hex (64 lower-case digits), on V8's heap. Parsed
 * here rather than by `Buffer.from(hex, 'hex')`, whose Buffer and copy cost a vertex more than
 * the parsing (docs/benchmarks.md); the hex comes from this process, so it is not checked.
 */
export function digestOfHex(hex: string): Uint8Array {
  const out = new Uint8Array(DIGEST_BYTES);
  for (let i = 0; i < DIGEST_BYTES; i++) {
    out[i] =
      ((HEX_DIGIT_VALUES[hex.charCodeAt(2 * i) & 127]! & 15) << 4) |
      (HEX_DIGIT_VALUES[hex.charCodeAt(2 * i + 1) & 127]! & 15);
  }
  return out;
}

/** The bytes of a digest given as a latin1 string (one character a byte). */
function digestOfLatin1(text: string): Uint8Array {
  const out = new Uint8Array(DIGEST_BYTES);
  for (let i = 0; i < DIGEST_BYTES; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Inputs up to this size are copied into one buffer and hashed in one call. */
const ONE_SHOT_BYTES_MAX = 64 * 1024;

/** Constant-time-irrelevant equality of two byte strings (digests are public). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex of `bytes`: the key form of a digest in maps and logs. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
