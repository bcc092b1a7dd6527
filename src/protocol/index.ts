/**
 * The PBFT replica as a pure, deterministic state machine, and the vocabulary around it.
 */
export * from './certificates.ts';
export * from './config.ts';
export { DurableImage, type DurableSnapshot } from './durable-image.ts';
export * from './effects.ts';
export {
  EPOCH_ZERO,
  type EpochRecord,
  epochEnd,
  type JoinTarget,
  type NextEpoch,
  type ReconfigurationOptions,
  type RequestReader,
} from './epochs.ts';
export { ConfigError, InvariantError } from './errors.ts';
export * from './messages.ts';
export * from './quorum.ts';
export { createReplica, type Input, step } from './replica.ts';
export { restoreReplica } from './restore.ts';
export { pipelineIdle, proposeAtTurnEnd, type ReplicaState } from './state.ts';
export { buildStateReply, type FinalizedLog, stateServeRange } from './state-reply.ts';
export * from './types.ts';
export { UNSIGNED } from './view-change.ts';
