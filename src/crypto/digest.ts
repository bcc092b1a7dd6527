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
    return asDigest(streaming.digest());
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

/** SHA-256 of one buffer, in one native call. */
export function sha256Of(bytes: Uint8Array): Uint8Array {
  return asDigest(hash('sha256', bytes, 'buffer') as Buffer);
}

/** Inputs up to this size are copied into one buffer and hashed in one call. */
const ONE_SHOT_BYTES_MAX = 64 * 1024;

/** A digest Buffer viewed as a plain Uint8Array, without copying. */
function asDigest(out: Buffer): Uint8Array {
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

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
