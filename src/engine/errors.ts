/**
 * The engine's errors, one hierarchy as in the MongoDB driver: {@link ProposalRejectedError}
 * (the engine could not take a proposal: the caller may retry or give up), misuse of the API
 * ({@link EngineStateError}), and a slow subscriber ({@link SubscriberOverflowError}). Bad
 * configuration is the protocol's {@link ConfigError}, naming the field. Tests branch on
 * `code`, never on message text.
 */
import { CretoaiError } from '../errors.ts';

export { ConfigError } from '../protocol/index.ts';

/** Why a proposal was not accepted, or was abandoned before it became final. */
export const PROPOSAL_REJECTION_CODES = Object.freeze([
  /**
   * The engine holds `pendingProposalsMax` proposals that are not final yet, or this vertex is
   * pending with 16 callers waiting for it already (`PROPOSAL_WAITERS_MAX`): back off.
   */
  'full',
  /** The engine is not running (not started, stopping, stopped, or halted). */
  'stopped',
  /** The vertex can never fit in a batch or a frame (`batchMaxBytes`, `vertexPayloadBytesMax`, `vertexParentsMax`). */
  'oversized',
  /**
   * The vertex's hash does not match its payload, parents and validThrough (it was not made by
   * `createVertex`), or its validThrough lies more than `dedupHorizonSequences` ahead.
   */
  'invalid',
  /** The vertex was finalized before, so long ago that its position is no longer known here. */
  'duplicate',
  /**
   * The cluster finalized the vertex's validThrough sequence without it: it can never be final.
   * Its payload may be proposed again as a new vertex (a new validThrough) without risk of a double.
   */
  'expired',
] as const);

/** Why `propose()` refused or gave up on a vertex: one of `PROPOSAL_REJECTION_CODES`. */
export type ProposalRejectionCode = (typeof PROPOSAL_REJECTION_CODES)[number];

/** `propose()` could not accept the vertex, or gave up on it; `code` says why. */
export class ProposalRejectedError extends CretoaiError {
  override readonly name = 'ProposalRejectedError';
  readonly code: ProposalRejectionCode;
  constructor(code: ProposalRejectionCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The engine was used in a way its lifecycle does not allow (started twice, for example). */
export class EngineStateError extends CretoaiError {
  readonly code = 'engine-state';
  override readonly name = 'EngineStateError';
}

/**
 * A subscriber to the finalized stream fell `finalizedBufferMax` vertices behind; it has been
 * dropped rather than letting its buffer grow without bound. It sees every vertex up to the
 * overflow, then this error.
 */
export class SubscriberOverflowError extends CretoaiError {
  override readonly name = 'SubscriberOverflowError';
  readonly code = 'overflow';
}

/**
 * The replica entered an epoch that lists a public key for this node whose private half it was
 * not given (a key rotation without the new key in `EngineReconfiguration.keyPairs`): it cannot
 * sign, so it halts rather than vote with a key its peers no longer accept. Restart it with the
 * key; it resumes where it stopped.
 */
export class EpochKeyError extends CretoaiError {
  override readonly name = 'EpochKeyError';
  readonly code = 'epoch-key';
}

/**
 * A joiner reached the epoch it was to join, and the request that opened it there is not the one
 * its operator gave it (`EngineReconfiguration.joining`): the chain it was given is not the
 * cluster's history, so it takes no part and halts. Start it again with the right chain.
 */
export class JoinRefusedError extends CretoaiError {
  override readonly name = 'JoinRefusedError';
  readonly code = 'join-refused';
}
