/**
 * Every queue, cache and map the engine holds (its own and the protocol core's), with the bound
 * that limits it: "put a limit on everything" made checkable. The simulator reads these after
 * every event of every seed and fails a run in which one exceeds its bound.
 *
 * A bound names the configured figures it comes from. A few collections have no configured
 * bound of their own, because something else already limits them (the send queue holds what
 * the steps under way released, each step's output being bounded by the core); those are listed
 * with `max` null and the reason, so that their high-water marks are reported rather than hidden.
 */
import type { ReplicaState } from '../protocol/index.ts';
import type { ResolvedBftConfig } from './config.ts';

/** One collection and its bound. */
export interface BoundedSize {
  /** What is counted. */
  readonly name: string;
  readonly size: number;
  /** The most it may hold, or null when no configured figure bounds it (see `bound`). */
  readonly max: number | null;
  /** The configured figures the bound comes from, or what limits the collection instead. */
  readonly bound: string;
}

/** The engine's parts that hold collections, as `boundedSizes` reads them. */
export interface BoundedParts {
  readonly config: ResolvedBftConfig;
  readonly state: ReplicaState;
  readonly inboundWaiting: number;
  readonly inboundLongestSender: number;
  readonly verifierCached: number;
  readonly verifierInFlight: number;
  readonly outboundSize: number;
  readonly releasesSize: number;
  readonly inputsQueued: number;
  readonly writesInFlight: number;
  readonly proposalsPending: number;
  readonly proposalsRecent: number;
  readonly proposalsRecentMax: number;
  readonly batcherVertices: number;
  readonly banned: number;
  readonly evidence: number;
}

/** Every collection with its size and bound. */
export function boundedSizes(parts: BoundedParts): BoundedSize[] {
  const { config, state } = parts;
  const core = config.replica;
  const n = core.replicaCount;
  const window = core.watermarkWindow;
  const checkpointVotesPerReplica = window / core.checkpointInterval + 2;
  let checkpointVotes = 0;
  for (const votes of state.checkpointVotes.values()) checkpointVotes += votes.size;
  const stable = state.stable.sequence;
  let logAbove = 0;
  for (const sequence of state.log.keys()) if (sequence > stable) logAbove++;
  let expiring = 0;
  for (const keys of state.expiring.values()) expiring += keys.length;
  const heldMax = core.pendingVerticesMax + n * core.watchedVerticesPerReplicaMax;
  const sizes: BoundedSize[] = [
    // The engine's own.
    {
      name: 'inbound frames from one sender',
      size: parts.inboundLongestSender,
      max: config.inboundFramesPerPeerMax,
      bound: 'inboundFramesPerPeerMax',
    },
    {
      name: 'inbound frames waiting',
      size: parts.inboundWaiting,
      max: n * config.inboundFramesPerPeerMax,
      bound: 'validators x inboundFramesPerPeerMax',
    },
    {
      name: 'verified signatures cached',
      size: parts.verifierCached,
      max: config.verifiedCacheMax,
      bound: 'verifiedCacheMax',
    },
    {
      name: 'signatures being verified',
      size: parts.verifierInFlight,
      max: null,
      bound: 'none configured: the signatures of the inbound frames waiting',
    },
    {
      name: 'messages being signed or sent',
      size: parts.outboundSize,
      max: null,
      bound: 'none configured: what the steps under way released',
    },
    {
      name: 'sealed step effects awaiting durability',
      size: parts.releasesSize,
      max: null,
      bound: 'none configured: one per step while its writes are in flight',
    },
    {
      name: 'store writes in flight',
      size: parts.writesInFlight,
      max: null,
      bound: 'none configured: one per step with writes, until the store syncs',
    },
    {
      name: 'core inputs queued',
      size: parts.inputsQueued,
      max: null,
      bound: 'none configured: drained in the turn that queued them',
    },
    {
      name: 'proposals pending',
      size: parts.proposalsPending,
      max: config.pendingProposalsMax,
      bound: 'pendingProposalsMax',
    },
    {
      name: 'finalized proposal results remembered',
      size: parts.proposalsRecent,
      max: parts.proposalsRecentMax,
      bound: 'min(pendingProposalsMax, 16384)',
    },
    {
      name: 'vertices in the batcher',
      size: parts.batcherVertices,
      max: config.pendingProposalsMax,
      bound: 'pendingProposalsMax',
    },
    { name: 'banned validators', size: parts.banned, max: n, bound: 'validators' },
    { name: 'evidence held', size: parts.evidence, max: 2 * n, bound: '2 x validators' },
    // The core's.
    {
      name: 'log entries above the stable checkpoint',
      size: logAbove,
      max: window,
      bound: 'watermarkWindow',
    },
    {
      name: 'log entries at or below the stable checkpoint',
      size: state.log.size - logAbove,
      max: null,
      bound:
        'none configured: committed entries awaiting execution, kept until the replica executes them ' +
        '(or state transfer fills the gap before them); at most the stable checkpoint minus the last executed sequence',
    },
    {
      name: 'checkpoint votes',
      size: checkpointVotes,
      max: n * checkpointVotesPerReplica,
      bound: 'validators x (watermarkWindow / checkpointInterval + 2)',
    },
    {
      name: 'own checkpoints above the stable one',
      size: state.ownCheckpoints.size,
      max: null,
      bound:
        'none configured: one per checkpoint executed above the stable one, and a replica catching up by ' +
        'state transfer executes ahead of its stable checkpoint until a peer shows it the certificate',
    },
    { name: 'view changes held', size: state.viewChanges.size, max: n, bound: 'validators' },
    { name: 'view timeouts held', size: state.timeouts.size, max: n, bound: 'validators' },
    { name: 'replicas helped to a view', size: state.behindHelped.size, max: n, bound: 'validators' },
    {
      name: 'vertices queued for ordering',
      size: state.queue.size,
      max: n * core.queuedVerticesPerReplicaMax,
      bound: 'validators x queuedVerticesPerReplicaMax',
    },
    { name: 'ordering queue sources', size: state.queuedPerSource.size, max: n, bound: 'validators' },
    {
      name: 'vertices proposed, not executed',
      size: state.proposedHashes.size,
      max: window * core.batchCountMax,
      bound: 'watermarkWindow x batchMaxVertices',
    },
    {
      name: 'client vertices held',
      size: state.pending.size,
      max: core.pendingVerticesMax,
      bound: 'pendingProposalsMax',
    },
    {
      name: 'vertices watched for other replicas',
      size: state.watched.size,
      max: n * core.watchedVerticesPerReplicaMax,
      bound: 'validators x watchedVerticesPerReplicaMax',
    },
    { name: 'watched vertex sources', size: state.watchedPerSource.size, max: n, bound: 'validators' },
    {
      name: 'held vertices by expiry',
      size: expiring,
      max: heldMax,
      bound: 'pendingProposalsMax + validators x watchedVerticesPerReplicaMax',
    },
    {
      name: 'delivered vertices remembered',
      size: state.delivered.size,
      max: core.dedupHorizonSequences * core.batchCountMax,
      bound: 'dedupHorizonSequences x batchMaxVertices',
    },
    { name: 'status answers remembered', size: state.statusAnswered.size, max: n, bound: 'validators' },
    { name: 'state requests served', size: state.stateServed.size, max: n, bound: 'validators' },
    { name: 'state requests deferred', size: state.stateDeferred.size, max: n, bound: 'validators' },
  ];
  return sizes;
}
