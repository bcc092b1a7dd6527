/**
 * The typed outcome of decoding untrusted bytes.
 *
 * A Byzantine peer can send any byte string, so decoding never throws: it returns either the
 * message or a {@link DecodeError} whose machine-readable code the shell counts in metrics and
 * may report as evidence of a malformed message. Tests branch on the code, never on the text.
 */
import type { Message } from '../protocol/messages.ts';

/**
 * Every reason the decoder refuses its input, listed once so that {@link DecodeErrorCode} is
 * derived from it and cannot drift.
 */
export const DECODE_ERROR_CODES = Object.freeze([
  // The frame (or a declared frame length) is larger than `maxFrameBytes`.
  'frame-too-large',
  // The input ends before a field it declares, or a declared count cannot fit in what is left.
  'truncated',
  // Bytes follow a complete message; a canonical encoding has none.
  'trailing-bytes',
  // The codec version byte is not one this build reads.
  'unknown-version',
  // The wire type id names no message kind.
  'unknown-type',
  // A count or length is within the encoding's range but above its configured limit.
  'limit-exceeded',
  // A field holds a value no valid message has (a replica id >= n, a view above 2^53 - 1, an
  // empty signature).
  'invalid-value',
  // A field has a valid meaning but not its one canonical encoding (a boolean byte other than 0
  // or 1), so accepting it would break the rule that every accepted input re-encodes exactly.
  'non-canonical',
] as const);

/** Why the decoder refused an input; see {@link DECODE_ERROR_CODES}. */
export type DecodeErrorCode = (typeof DECODE_ERROR_CODES)[number];

/** A refused input: the code to branch on and a sentence for logs. */
export interface DecodeError {
  readonly code: DecodeErrorCode;
  readonly detail: string;
}

/** The result of decoding: the message, or why there is none. */
export type DecodeResult =
  | { readonly ok: true; readonly message: Message }
  | { readonly ok: false; readonly error: DecodeError };
