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

/** Receives one collection: what is counted, its size, its bound (or null) and where the bound comes from. */
export type BoundVisitor = (name: string, size: number, max: number | null, bound: string) => void;

/** Every collection with its size and bound. */
export function boundedSizes(parts: BoundedParts): BoundedSize[] {
  const sizes: BoundedSize[] = [];
  visitBoundedSizes(parts, (name, size, max, bound) => sizes.push({ name, size, max, bound }));
  return sizes;
}

/**
 * Hands every collection to `visit`, allocating nothing per collection: the simulator reads them
 * after every event of every seed, where a list of objects each time showed as 5% of its CPU.
 */
export function visitBoundedSizes(parts: BoundedParts, visit: BoundVisitor): void {
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
  // Client vertices held: this replica's own (pendingProposalsMax) and those held for peers
  // (watchedVerticesPerReplicaMax each). After a restart every restored one counts as its own,
  // so until they are final the peers' share can be there twice.
  const peersShare = n * core.watchedVerticesPerReplicaMax;
  const pendingMax = core.pendingVerticesMax + 2 * peersShare;
  const heldMax = pendingMax + peersShare;
  // The engine's own.
  visit(
    'inbound frames from one sender',
    parts.inboundLongestSender,
    config.inboundFramesPerPeerMax,
    'inboundFramesPerPeerMax',
  );
  visit(
    'inbound frames waiting',
    parts.inboundWaiting,
    n * config.inboundFramesPerPeerMax,
    'validators x inboundFramesPerPeerMax',
  );
  visit('verified signatures cached', parts.verifierCached, config.verifiedCacheMax, 'verifiedCacheMax');
  visit(
    'signatures being verified',
    parts.verifierInFlight,
    null,
    'none configured: the signatures of the inbound frames waiting',
  );
  visit(
    'messages being signed or sent',
    parts.outboundSize,
    null,
    'none configured: what the steps under way released',
  );
  visit(
    'sealed step effects awaiting durability',
    parts.releasesSize,
    null,
    'none configured: one per step while its writes are in flight',
  );
  visit(
    'store writes in flight',
    parts.writesInFlight,
    null,
    'none configured: one per step with writes, until the store syncs',
  );
  visit(
    'core inputs queued',
    parts.inputsQueued,
    null,
    'none configured: drained in the turn that queued them',
  );
  visit('proposals pending', parts.proposalsPending, config.pendingProposalsMax, 'pendingProposalsMax');
  visit(
    'finalized proposal results remembered',
    parts.proposalsRecent,
    parts.proposalsRecentMax,
    'min(pendingProposalsMax, 16384)',
  );
  visit('vertices in the batcher', parts.batcherVertices, config.pendingProposalsMax, 'pendingProposalsMax');
  visit('banned validators', parts.banned, n, 'validators');
  visit('evidence held', parts.evidence, 2 * n, '2 x validators');
  // The core's.
  visit('log entries above the stable checkpoint', logAbove, window, 'watermarkWindow');
  visit(
    'log entries at or below the stable checkpoint',
    state.log.size - logAbove,
    null,
    'none configured: committed entries awaiting execution, kept until the replica executes them ' +
      '(or state transfer fills the gap before them); at most the stable checkpoint minus the last executed sequence',
  );
  visit(
    'checkpoint votes',
    checkpointVotes,
    n * checkpointVotesPerReplica,
    'validators x (watermarkWindow / checkpointInterval + 2)',
  );
  visit(
    'own checkpoints above the stable one',
    state.ownCheckpoints.size,
    null,
    'none configured: one per checkpoint executed above the stable one, and a replica catching up by ' +
      'state transfer executes ahead of its stable checkpoint until a peer shows it the certificate',
  );
  visit('view changes held', state.viewChanges.size, n, 'validators');
  visit('view timeouts held', state.timeouts.size, n, 'validators');
  visit('replicas helped to a view', state.behindHelped.size, n, 'validators');
  visit(
    'vertices queued for ordering',
    state.queue.size,
    n * core.queuedVerticesPerReplicaMax,
    'validators x queuedVerticesPerReplicaMax',
  );
  visit('ordering queue sources', state.queuedPerSource.size, n, 'validators');
  visit(
    'payload bytes queued for ordering',
    state.queuedBytes,
    n * core.queuedVerticesPerReplicaMax * core.batchBytesMax,
    'validators x queuedVerticesPerReplicaMax x batchMaxBytes',
  );
  visit(
    'vertices proposed, not executed',
    state.proposedHashes.size,
    window * core.batchCountMax,
    'watermarkWindow x batchMaxVertices',
  );
  visit(
    'client vertices held',
    state.pending.size,
    pendingMax,
    'pendingProposalsMax + 2 x validators x watchedVerticesPerReplicaMax',
  );
  visit('peers held for', state.heldPerSource.size, n, 'validators');
  visit(
    'vertices watched for other replicas',
    state.watched.size,
    n * core.watchedVerticesPerReplicaMax,
    'validators x watchedVerticesPerReplicaMax',
  );
  visit('watched vertex sources', state.watchedPerSource.size, n, 'validators');
  visit(
    'held vertices by expiry',
    expiring,
    heldMax,
    'pendingProposalsMax + 3 x validators x watchedVerticesPerReplicaMax',
  );
  visit(
    'delivered vertices remembered',
    state.delivered.size,
    core.dedupHorizonSequences * core.batchCountMax,
    'dedupHorizonSequences x batchMaxVertices',
  );
  visit('status answers remembered', state.statusAnswered.size, n, 'validators');
  visit('state requests served', state.stateServed.size, n, 'validators');
  visit('state requests deferred', state.stateDeferred.size, n, 'validators');
}
