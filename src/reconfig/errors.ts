/**
 * Why a reconfiguration request is refused. A node refuses a bad request when it is submitted,
 * and the CLI when it is built, signed or checked, so that an honest submitter learns at once
 * and nothing is ordered (docs/reconfiguration.md).
 */
import { CretoaiError } from '../errors.ts';

/** Every reason a request is refused; stable across releases. */
export const RECONFIGURATION_ERROR_CODES = Object.freeze([
  // Not a request of this cluster, unreadable, or proposing an epoch that is not well formed.
  'malformed',
  // It changes an epoch other than the current one: already applied, or not yet reached.
  'stale-epoch',
  // A signature that does not verify, or that names no operator of the epoch it changes.
  'signatures',
  // Fewer distinct operator signatures than the epoch's threshold (or no operators at all).
  'threshold',
] as const);

/** Why a request is refused; see {@link RECONFIGURATION_ERROR_CODES}. */
export type ReconfigurationErrorCode = (typeof RECONFIGURATION_ERROR_CODES)[number];

/** A refused reconfiguration request; branch on `code`, the message says what to fix. */
export class ReconfigurationError extends CretoaiError {
  override readonly name = 'ReconfigurationError';
  readonly code: ReconfigurationErrorCode;

  constructor(code: ReconfigurationErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
