/**
 * The wire layer: the versioned, bounded, strict binary codec for every protocol message, the
 * canonical bytes every signature covers, and length-prefixed framing for streams.
 */
export { CODEC_VERSION, decodeMessage, encodedMessageBytes, encodeMessage, WIRE_TYPE_IDS } from './codec.ts';
export type { DecodeError, DecodeErrorCode, DecodeResult } from './errors.ts';
export { DECODE_ERROR_CODES } from './errors.ts';
export type { FramePushResult } from './frame.ts';
export { encodeFrame, encodeMessageFrame, FRAME_PREFIX_BYTES, FrameDecoder } from './frame.ts';
export type { DecodeLimits, DecodeLimitsOptions } from './limits.ts';
export { decodeLimitsFor, encodedSizeBound, withReplicaCount } from './limits.ts';
export type { SignatureCheck } from './sign-bytes.ts';
export { SIGN_DOMAIN_TAGS, signaturesOf, signBytes } from './sign-bytes.ts';
