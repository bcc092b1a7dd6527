/**
 * The replica's state, and the small helpers every handler uses to read it and to record
 * output. The state is mutated in place by `step` (as etcd-io/raft mutates its `raft` struct):
 * copying maps per message would cost more than the whole protocol.
 */
import { primaryOf, type ReplicaConfig } from './config.ts';
import type { DeliveredSet } from './delivered-set.ts';
import type {
  Delivery,
  DurableWrite,
  EquivocationEvidence,
  Outbound,
  RefusedVertex,
  ReplicaEvent,
  StateServeRequest,
  Suspicion,
  Verdict,
} from './effects.ts';
import type { Handover } from './epoch-switch.ts';
import type { EpochRecord, NextEpoch } from './epochs.ts';
import type { LogEntry } from './log.ts';
import { createLogEntry } from './log.ts';
import type {
  Checkpoint,
  CheckpointCertificate,
  Draft,
  Message,
  NewView,
  StateRequest,
  ViewChange,
  ViewTimeout,
} from './messages.ts';
import { type Digest, type ReplicaId, type Vertex, vertexPayloadBytes } from './types.ts';

/** A client vertex this replica accepted and holds until it is final. */
export interface PendingVertex {
  readonly vertex: Vertex;
  readonly sinceTick: number;
  /** This replica when its own client submitted it; else the peer it is held for. */
  readonly source: ReplicaId;
  /**
   * The peers that said they hold this replica's client vertex durably (HELD), while too few
   * have for it to be acknowledged; null once acknowledged, or when it is not this replica's to
   * acknowledge. A list, not a Set: it holds at most `acknowledgeCopies` (f) distinct peers, and
   * a Set a pending vertex is a larger object the collector keeps for the vertex's life.
   */
  copies: ReplicaId[] | null;
}

/** A vertex another replica asked this one to watch, with who asked and since when. */
export interface WatchedVertex {
  readonly source: ReplicaId;
  readonly sinceTick: number;
  readonly validThrough: number;
}

/** A vertex queued at the primary for ordering, with the replica that sent it. */
export interface QueuedVertex {
  readonly vertex: Vertex;
  readonly source: ReplicaId;
}

/** An outstanding state transfer: fetch finalized entries up to `target`. */
export interface StateTransfer {
  target: number;
  peer: ReplicaId;
  sentTick: number;
  /** When it started: with the last execution, whether it still makes progress (see `timers.ts`). */
  readonly startTick: number;
}

/**
 * Everything one replica holds: its view, message log, checkpoints, pending client vertices and
 * the output of the step under way. Only `step` and its handlers change it.
 */
export interface ReplicaState {
  /** The configuration of the current epoch: its validators, quorums and this replica's id in it. */
  config: ReplicaConfig;
  /** Ticks since the replica started (or restarted). */
  now: number;

  /**
   * The epoch this replica votes in: everything it signs names it, and it acts only on messages
   * that name it. Always 0 until reconfiguration (docs/reconfiguration.md) can move it.
   */
  epoch: number;
  /** The epochs this replica knows, in order: the current one and those before it, and the next once a request closes the current one. */
  epochs: EpochRecord[];
  /** The last sequence of the current epoch, once a request has closed it; null while open. */
  epochEnd: number | null;
  /** The epoch the closing request opens, until the replica switches to it. */
  nextEpoch: NextEpoch | null;
  /** Whether this replica is a validator of the current epoch; one that left votes for nothing. */
  member: boolean;
  /**
   * Whether it is a learner: not a validator of the current epoch but of a later one it joins,
   * walking the history up to it by state transfer (`learner.ts`). Never true with `member`.
   */
  learning: boolean;
  /** The epoch before the current one, until nothing of it needs checking (see `epoch-switch.ts`). */
  handover: Handover | null;
  /**
   * The validators of each epoch this replica has been in, by node id, indexed by epoch number
   * (empty without reconfiguration): ids are per epoch, and a peer behind is answered in its
   * epoch's numbering.
   */
  epochNodes: (readonly string[])[];
  /**
   * Peers whose STATUS named a later epoch, with the sequence each had executed: f + 1 of them
   * mean the cluster changed epochs without this replica (see `onOtherEpoch`).
   */
  laterEpochPeers: Map<ReplicaId, number>;
  /**
   * CHECKPOINTs of the epoch before, at its end, gathered by a replica that switched without the
   * hand-over certificate, by their signers' ids in that epoch (see `collectHandoverVote`).
   */
  handoverVotes: Map<ReplicaId, Checkpoint>;
  /**
   * The view whose VIEW-CHANGE `sendViewChange` held back because this replica could not back
   * it yet (no hand-over certificate); sent once it can, while that view change lasts.
   */
  viewChangeWithheld: number | null;

  // View.
  /** The current view, or the view being changed to while `viewActive` is false. */
  view: number;
  viewActive: boolean;
  /** The NEW-VIEW that installed `view`, or this replica's own draft as its new primary. */
  newView: NewView | Draft<NewView> | null;
  /** The highest-view VIEW-CHANGE from each replica (including this one, once signed). */
  viewChanges: Map<ReplicaId, ViewChange>;
  /** Consecutive view changes without executing anything: the timeout's back-off exponent. */
  viewChangeAttempts: number;
  /** When a quorum of VIEW-CHANGEs for `view` arrived, starting the NEW-VIEW timer. */
  newViewTimerStart: number | null;
  /** The highest VIEW-TIMEOUT from each replica (this one included): see `view-timeouts.ts`. */
  timeouts: Map<ReplicaId, ViewTimeout>;
  /** The timeout certificate this replica left its last view with (empty if it joined or a NEW-VIEW moved it). */
  timeoutCertificate: readonly ViewTimeout[];
  /** When this replica last sent VIEW-TIMEOUT for `view`, or null if it has not. */
  lastComplaintTick: number | null;
  /**
   * Why it gave up on `view`: its own timer ('timeout', a suspicion of the primary when it
   * leaves) or a ban of the primary (already blamed); null if it has not given up.
   */
  complaintReason: 'timeout' | 'banned' | null;
  /** When each peer found in a lower view was last helped to this one. */
  behindHelped: Map<ReplicaId, number>;
  /** When the replica entered (or started changing to) `view`: client vertices age from here. */
  viewStartTick: number;

  // Log, execution and checkpoints.
  log: Map<number, LogEntry>;
  /** The chain digest at sequence 0. */
  readonly genesis: Digest;
  lastExecuted: number;
  /** The highest sequence with a PRE-PREPARE accepted in the current view. */
  highestAccepted: number;
  /** The chain digest after `lastExecuted`. */
  lastChainDigest: Digest;
  /** The stable checkpoint; its sequence is the low watermark h. */
  stable: CheckpointCertificate;
  /** CHECKPOINT votes above the stable checkpoint, by sequence then sender. */
  checkpointVotes: Map<number, Map<ReplicaId, Checkpoint>>;
  /** This replica's chain digests at checkpoint sequences above the stable one. */
  ownCheckpoints: Map<number, Digest>;

  // Ordering (as primary).
  /** The next sequence this replica assigns as primary. */
  nextSequence: number;
  /** Vertices waiting to be ordered, in arrival order, keyed by hash. */
  queue: Map<string, QueuedVertex>;
  queuedPerSource: Map<ReplicaId, number>;
  /** The payload bytes of `queue` (`vertexPayloadBytes`): whether a batch's bytes wait. */
  queuedBytes: number;
  /** Hashes in batches this replica proposed and has not executed yet. */
  proposedHashes: Map<string, number>;

  // Client vertices and censorship timers.
  pending: Map<string, PendingVertex>;
  /** Of `pending`, how many each peer asked this replica to hold (bounded per peer). */
  heldPerSource: Map<ReplicaId, number>;
  /** Vertices another replica asked everyone to watch (its client saw no progress). */
  watched: Map<string, WatchedVertex>;
  watchedPerSource: Map<ReplicaId, number>;
  lastRequestRetryTick: number;
  /**
   * When a vertex in `pending` or `watched` was last finalized: the primary is making progress
   * on this replica's client work (Castro and Liskov's timer restart, 4.5.2). See
   * `clientWaitExpired`.
   */
  lastClientProgressTick: number;

  // Exactly once: what was finalized within the horizon, and when held vertices expire.
  delivered: DeliveredSet;
  /** Keys of `pending` and `watched` vertices by their validThrough: they expire after it. */
  expiring: Map<number, string[]>;
  /**
   * A vertex this replica held for a full timeout in the current view expired without being
   * ordered: the primary let it, so the view timer fires at the next tick (see `expireHeld`).
   */
  heldVertexExpired: boolean;

  // Liveness.
  /** When the replica last executed a batch, or accepted work into an idle pipeline. */
  lastProgressTick: number;
  lastStatusTick: number;
  statusAnswered: Map<ReplicaId, number>;
  stateServed: Map<ReplicaId, number>;
  /**
   * The latest STATE-REQUEST of each peer that came when it had been served in the same tick:
   * answered on the next tick instead of dropped (see `onStateRequest`).
   */
  stateDeferred: Map<ReplicaId, StateRequest>;
  /**
   * The highest sequence each peer signed a vote for above this replica's window, in its
   * view: f + 1 peers past the window mean the cluster moved on without it (see `noteAhead`).
   */
  aheadSeen: Map<ReplicaId, number>;
  stateTransfer: StateTransfer | null;

  /** Ordinal of the last durable write this replica asked for. */
  writeOrdinal: number;
  /** Output of the step under way. */
  out: StepOutput;
}

/** Output gathered while a step runs. */
export class StepOutput {
  writes: DurableWrite[] = [];
  messages: Outbound[] = [];
  deliveries: Delivery[] = [];
  acknowledged: string[] = [];
  serveState: StateServeRequest[] = [];
  evidence: EquivocationEvidence[] = [];
  suspicions: Suspicion[] = [];
  events: ReplicaEvent[] = [];
  refused: RefusedVertex[] = [];
  verdict: Verdict | null = null;
}

// ---------------------------------------------------------------------------------------------
// Reading state

export function primary(state: ReplicaState, view = state.view): ReplicaId {
  return primaryOf(state.config, view);
}

export function isPrimary(state: ReplicaState): boolean {
  return primary(state) === state.config.self;
}

/** Takes a queued vertex off the primary's ordering queue (ordered, final, or dropped). */
export function dequeue(state: ReplicaState, key: string, queued: QueuedVertex): void {
  state.queue.delete(key);
  state.queuedBytes -= vertexPayloadBytes(queued.vertex);
  const left = (state.queuedPerSource.get(queued.source) ?? 1) - 1;
  if (left === 0) state.queuedPerSource.delete(queued.source);
  else state.queuedPerSource.set(queued.source, left);
}

/** Empties the ordering queue: it belonged to a view or an epoch that ended. */
export function clearQueue(state: ReplicaState): void {
  state.queue.clear();
  state.queuedPerSource.clear();
  state.queuedBytes = 0;
}

/**
 * Whether no sequence is in flight: the view is active, every PRE-PREPARE accepted in it is
 * executed, and as primary nothing waits to be ordered. A batch proposed now starts a round at
 * once instead of queueing behind one.
 */
export function pipelineIdle(state: ReplicaState): boolean {
  if (!state.viewActive || state.highestAccepted > state.lastExecuted) return false;
  return !isPrimary(state) || state.queue.size === 0;
}

/**
 * Whether a batch of client vertices opened now should go at the end of the turn rather than
 * wait behind the round in flight: when the pipeline is idle, and always at a backup of an active
 * view. The primary alone decides what shares a sequence (it waits for `pipelineFillCount`), so
 * a backup that also waited for the round would add a round to every vertex sent through it.
 */
export function proposeAtTurnEnd(state: ReplicaState): boolean {
  return (state.viewActive && !isPrimary(state)) || pipelineIdle(state);
}

/**
 * The id in epoch `epoch` of the node that is replica `id` of the current epoch, or null when it
 * was not a validator of that epoch (or the replica does not know the epoch).
 */
export function idInEpoch(state: ReplicaState, epoch: number, id: ReplicaId): ReplicaId | null {
  if (epoch === state.epoch) return id;
  const node = state.epochNodes[state.epoch]?.[id];
  const index = node === undefined ? -1 : (state.epochNodes[epoch]?.indexOf(node) ?? -1);
  return index < 0 ? null : index;
}

/** Whether `sequence` lies inside the watermarks (h, h + L], bounded by {@link voteCeiling}. */
export function inWindow(state: ReplicaState, sequence: number): boolean {
  return sequence > state.stable.sequence && sequence <= voteCeiling(state);
}

/**
 * The highest sequence this replica may vote for in the normal case: the high watermark h + L of
 * 4.3, but counted from the highest checkpoint it has executed when that is below h. A replica
 * can adopt a stable checkpoint it has not executed (a quorum's CHECKPOINTs, or a NEW-VIEW), and
 * until state transfer brings it there it has not executed what lies below h either, such as a
 * reconfiguration request that ends its epoch below h + L. Bounding its votes by what it has
 * executed keeps it from voting past an epoch's end it does not know of yet (see
 * docs/reconfiguration.md, "Where an epoch ends").
 */
export function voteCeiling(state: ReplicaState): number {
  const { checkpointInterval, watermarkWindow } = state.config;
  const executedCheckpoint = state.lastExecuted - (state.lastExecuted % checkpointInterval);
  const window = Math.min(state.stable.sequence, executedCheckpoint) + watermarkWindow;
  // No vote of an epoch may reach past its end (docs/reconfiguration.md).
  return state.epochEnd === null ? window : Math.min(window, state.epochEnd);
}

export function entryAt(state: ReplicaState, sequence: number): LogEntry {
  let entry = state.log.get(sequence);
  if (entry === undefined) {
    entry = createLogEntry(sequence, state.view);
    state.log.set(sequence, entry);
  }
  return entry;
}

/** The view-change timeout now: the base doubled per failed attempt, capped. */
export function currentTimeout(state: ReplicaState): number {
  const { viewChangeTimeoutTicks, viewChangeTimeoutMaxTicks } = state.config;
  const factor = 2 ** Math.min(state.viewChangeAttempts, 30);
  return Math.min(viewChangeTimeoutTicks * factor, viewChangeTimeoutMaxTicks);
}

// ---------------------------------------------------------------------------------------------
// Recording output

export function persist(state: ReplicaState, write: DurableWrite): void {
  state.writeOrdinal++;
  state.out.writes.push(write);
}

export function sendDraft(state: ReplicaState, to: Outbound['to'], draft: Draft): void {
  state.out.messages.push({ to, draft });
}

export function relay(state: ReplicaState, to: Outbound['to'], message: Message): void {
  state.out.messages.push({ to, relay: message });
}

/** The verdict on a message that changed the replica's state. */
export const ACCEPTED: Verdict = Object.freeze({ outcome: 'accepted' });

/** The verdict on a harmless message that changes nothing. */
export function ignored(reason: Extract<Verdict, { outcome: 'ignored' }>['reason']): Verdict {
  return { outcome: 'ignored', reason };
}

/** The verdict on a provably wrong message; `offender` is blamed. */
export function rejected(
  reason: Extract<Verdict, { outcome: 'rejected' }>['reason'],
  offender: ReplicaId,
): Verdict {
  return { outcome: 'rejected', reason, offender };
}

export function emit(state: ReplicaState, event: ReplicaEvent): void {
  state.out.events.push(event);
}
