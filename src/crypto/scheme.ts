/**
 * The signature-scheme interface shared by ML-DSA-87 (production) and the insecure scheme
 * the deterministic simulator uses, so that the engine and the simulator drive the same
 * code whichever scheme signs.
 */
import { CryptoError } from './errors.ts';

/** The names of the schemes; a key carries the name of the scheme that made it. */
export type SchemeName = 'ml-dsa-87' | 'insecure-simulation';

/**
 * The longest signing context FIPS 204 allows (its length is encoded in one byte). Callers
 * put a domain-separation label here, for example the cluster id and message type.
 */
export const CONTEXT_BYTES_MAX = 255;

/**
 * A public key. Only the scheme's own functions create one, so that each can keep a parsed
 * handle (for ML-DSA-87, the `node:crypto` KeyObject) and never re-parse the key per verify.
 */
export interface PublicKey {
  /** The scheme this key belongs to; another scheme refuses it with `scheme-mismatch`. */
  readonly scheme: SchemeName;
  /** The raw encoding (FIPS 204 `pk` for ML-DSA-87); a fresh copy on every read. */
  readonly raw: Uint8Array;
}

/**
 * A private key. It has no byte accessor on purpose: the secret leaves only through the
 * scheme's `exportSeed` or a PEM export, so that it is never logged or serialized by accident.
 */
export interface PrivateKey {
  /** The scheme this key belongs to; another scheme refuses it with `scheme-mismatch`. */
  readonly scheme: SchemeName;
}

/** A private key with its public key. */
export interface KeyPair {
  /** The public half, to hand to peers. */
  readonly publicKey: PublicKey;
  /** The private half, for signing. */
  readonly privateKey: PrivateKey;
}

/**
 * A signature scheme with FIPS 204 semantics: a signature binds a message and a context of
 * at most {@link CONTEXT_BYTES_MAX} bytes.
 *
 * Inputs from the local program (keys of another scheme, an over-long context, a seed of the
 * wrong length) throw {@link CryptoError}. Inputs from peers (signature bytes) never throw:
 * `verify` returns `false`, because a Byzantine peer must not be able to crash a replica.
 */
export interface SignatureScheme {
  /** The scheme's name, as carried by its keys. */
  readonly name: SchemeName;
  /** The exact length of a raw public key. */
  readonly publicKeyBytes: number;
  /** The exact length of a key seed. */
  readonly seedBytes: number;
  /** The exact length of a signature; `verify` returns `false` for any other length. */
  readonly signatureBytes: number;

  /** A fresh key pair from the operating system's random source. */
  generateKeyPair(): KeyPair;
  /** The key pair a seed determines (for ML-DSA-87 the FIPS 204 32-byte seed xi). */
  keyPairFromSeed(seed: Uint8Array): KeyPair;
  /** The seed that re-creates `privateKey` through {@link SignatureScheme.keyPairFromSeed}. */
  exportSeed(privateKey: PrivateKey): Uint8Array;
  /** Parses a raw public key; throws CryptoError `invalid-public-key` on bytes of the wrong length. */
  importPublicKey(raw: Uint8Array): PublicKey;

  /** Signs `message` under `context` on the calling thread. */
  sign(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Uint8Array;
  /** Signs `message` under `context` on the libuv thread pool (where the scheme has real work). */
  signAsync(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
  /** Whether `signature` is valid for `message` under `context`; never throws for bad signature bytes. */
  verify(publicKey: PublicKey, message: Uint8Array, signature: Uint8Array, context: Uint8Array): boolean;
  /** {@link SignatureScheme.verify} on the libuv thread pool; never rejects for bad signature bytes. */
  verifyAsync(
    publicKey: PublicKey,
    message: Uint8Array,
    signature: Uint8Array,
    context: Uint8Array,
  ): Promise<boolean>;
}

/**
 * Throws CryptoError `invalid-context` for a context FIPS 204 cannot encode. Every scheme
 * checks this itself, rather than relying on the backend, so that both schemes refuse the
 * same inputs with the same code.
 */
export function checkContext(context: Uint8Array): void {
  if (context.length > CONTEXT_BYTES_MAX) {
    throw new CryptoError(
      'invalid-context',
      `a signing context is at most ${CONTEXT_BYTES_MAX} bytes, got ${context.length}`,
    );
  }
}

/** Throws CryptoError `scheme-mismatch` unless `key` belongs to the scheme `expected`. */
export function checkScheme(key: PublicKey | PrivateKey, expected: SchemeName): void {
  if (key.scheme !== expected) {
    throw new CryptoError('scheme-mismatch', `a ${key.scheme} key was given to the ${expected} scheme`);
  }
}
