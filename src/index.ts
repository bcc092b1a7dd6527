/**
 * cretoai-consensus: Byzantine-fault-tolerant consensus (PBFT) with ML-DSA-87 signatures.
 *
 * Layers, from the bottom: `crypto` (digests and signature schemes), `wire` (the bounded
 * binary codec and sign-bytes), `protocol` (the replica as a pure state machine), `byzantine`
 * (detection, reputation, evidence), the shell helpers every driver of the core shares, and
 * the engine an application embeds, with its metrics, stores and transports.
 *
 * It needs Node 24 or later, and says so in one sentence on import anywhere older.
 */

// First: on an older Node, fail here with that sentence rather than later with a crypto error.
import './runtime/require-node.js';

export * from './byzantine/index.ts';
export * from './crypto/index.ts';
export {
  type AcceptedProposal,
  type BftConfig,
  BftEngine,
  type Clock,
  type EngineDependencies,
  type EngineEvents,
  type EngineState,
  EngineStateError,
  type EngineStatus,
  FinalizedHistoryError,
  type FinalizedOptions,
  type FinalizedPlace,
  type FinalizedVertex,
  ManualClock,
  PROPOSAL_REJECTION_CODES,
  PROPOSAL_WAITERS_MAX,
  ProposalRejectedError,
  type ProposalRejectionCode,
  type ProposalResult,
  resolveBftConfig,
  type StopOptions,
  SubscriberOverflowError,
  systemClock,
} from './engine/index.ts';
export { ArgumentError, CretoaiError } from './errors.ts';
export {
  createLocalCluster,
  LOCAL_CLUSTER_NODES_MAX,
  type LocalCluster,
  type LocalClusterOptions,
} from './local-cluster.ts';
export * from './metrics/index.ts';
export * from './protocol/index.ts';
export { ReleaseQueue } from './shell/release-queue.ts';
export {
  CONSENSUS_CONTEXT,
  type PublicKeys,
  type SigningIdentity,
  signDraft,
  verifyMessage,
} from './shell/signing.ts';
export * from './storage/index.ts';
export * from './transport/index.ts';
export * from './wire/index.ts';
