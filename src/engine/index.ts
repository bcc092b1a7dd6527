/**
 * The engine: `BftEngine`, the asynchronous shell an application embeds around the PBFT core.
 */

export { createVertex, type Vertex, type VertexOptions } from '../protocol/index.ts';
export { type Clock, ManualClock, systemClock, type Timer } from '../shell/clock.ts';
export type { BoundedSize, BoundVisitor } from './bounds.ts';
export { type BftConfig, type ResolvedBftConfig, resolveBftConfig } from './config.ts';
export {
  type AcceptedProposal,
  BftEngine,
  type EngineDependencies,
  type EngineEvents,
  type EngineStatus,
  type StopOptions,
} from './engine.ts';
export type { EngineReconfiguration, EpochMembers } from './epoch-roster.ts';
export {
  ConfigError,
  EngineStateError,
  EpochKeyError,
  JoinRefusedError,
  PROPOSAL_REJECTION_CODES,
  ProposalRejectedError,
  type ProposalRejectionCode,
  SubscriberOverflowError,
} from './errors.ts';
export {
  FinalizedHistoryError,
  type FinalizedOptions,
  type FinalizedPlace,
} from './finalized-replay.ts';
export type { FinalizedVertex } from './finalized-stream.ts';
export { ENGINE_STATES, type EngineState } from './lifecycle.ts';
export { PROPOSAL_WAITERS_MAX, type ProposalResult } from './proposals.ts';
export type { EngineProbe, EngineTestSeams, OutboundQueuePart, ReleaseQueuePart } from './seams.ts';
export type { TracePoint, Tracer, TraceStep } from './trace.ts';
export type { VerifierStats } from './verifier.ts';
