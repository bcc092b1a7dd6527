/**
 * The one error type of the crypto layer.
 *
 * Every failure a caller can cause (a key of the wrong length, a PEM of the wrong algorithm,
 * an over-long context) is a {@link CryptoError} with a machine-readable {@link CryptoErrorCode},
 * so that callers and tests branch on the code, never on the message text. A signature that
 * does not verify is not an error: `verify` returns `false` for it, because bad signatures
 * arrive from Byzantine peers and must not be able to throw inside an honest replica.
 */
import { CretoaiError } from '../errors.ts';

/**
 * Every reason the crypto layer refuses an input. Listed once here so that the
 * {@link CryptoErrorCode} union is derived from it and cannot drift.
 */
export const CRYPTO_ERROR_CODES = Object.freeze([
  // Raw public-key bytes of the wrong length for the scheme.
  'invalid-public-key',
  // A key seed of the wrong length.
  'invalid-seed',
  // Text that is not a readable PEM key of the expected kind (public vs. private).
  'invalid-pem',
  // A well-formed PEM key of another algorithm (for example Ed25519 where ML-DSA-87 is expected).
  'wrong-key-type',
  // A private key without its 32-byte seed, which this layer needs to export and re-create keys.
  'missing-seed',
  // A signing context longer than 255 bytes (FIPS 204 limit).
  'invalid-context',
  // A key of one scheme given to another scheme.
  'scheme-mismatch',
  // An object that claims the right scheme but was not created by this module.
  'foreign-key',
] as const);

/** Why a crypto operation refused its input; see {@link CRYPTO_ERROR_CODES}. */
export type CryptoErrorCode = (typeof CRYPTO_ERROR_CODES)[number];

/**
 * A refused input to the crypto layer. These are programming or configuration errors (a
 * corrupt key file, a key of the wrong scheme), never the outcome of checking a peer's
 * signature.
 */
export class CryptoError extends CretoaiError {
  /** The reason, for callers to branch on. */
  readonly code: CryptoErrorCode;

  /**
   * @param code - the machine-readable reason.
   * @param message - a sentence for the operator.
   * @param options - `cause` carries the underlying `node:crypto` error, when there is one.
   */
  constructor(code: CryptoErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CryptoError';
    this.code = code;
  }
}
