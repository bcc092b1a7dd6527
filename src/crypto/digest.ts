import { createHash } from 'node:crypto';

/** Length in bytes of every digest in the protocol (SHA-256). */
export const DIGEST_BYTES = 32;

/**
 * SHA-256 over the concatenation of `parts`.
 *
 * Callers domain-separate their inputs themselves (every protocol digest starts with a
 * distinct ASCII tag), so that a vertex hash can never collide with a batch digest.
 */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  // `digest()` returns a fresh Buffer; view it as a plain Uint8Array without copying.
  const out = hash.digest();
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
