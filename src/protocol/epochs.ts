/**
 * Epochs in the core: a reconfiguration request, ordered like any vertex, closes the current
 * epoch at a sequence every replica computes alike (docs/reconfiguration.md, "Where an epoch
 * ends"). The core does not read requests itself: the shell gives it a deterministic reader
 * (`ReplicaOptions.reconfiguration`), and without one a request is an ordinary vertex.
 *
 * What this file does: when a batch executes, the first delivered vertex the reader accepts in
 * an open epoch closes it at `end(e)`; the history records that in the same step as the
 * finalized record; from then on the replica votes for nothing above `end(e)` and the primary
 * fills the sequences up to it.
 */
import type { ReplicaOptions } from './config.ts';
import { takesOver } from './epoch-config.ts';
import { invariant } from './errors.ts';
import { emit, persist, type ReplicaState } from './state.ts';
import type { Vertex } from './types.ts';

/** One epoch in a replica's durable history. */
export interface EpochRecord {
  readonly number: number;
  /** Its first sequence: 1 for epoch 0, `end(e - 1) + 1` for the others. */
  readonly start: number;
  /** Its last sequence, known once the request that closes it has executed; null while open. */
  readonly end: number | null;
  /** The sequence of the request that closed it; null while open. */
  readonly closedAt: number | null;
  /** The payload of the request that opened it; empty for epoch 0 (the cluster file's). */
  readonly opening: Uint8Array;
}

/** What a request that takes effect says of the next epoch. */
export interface NextEpoch {
  /** Its validators, by node id in leader order: a replica's id in it is its index. */
  readonly nodes: readonly string[];
  /** Its figures (K and L must equal the closing epoch's; see `RequestReader`). */
  readonly options: Omit<ReplicaOptions, 'self' | 'replicaCount' | 'clusterId'>;
}

/**
 * Reads a delivered vertex as a reconfiguration request of epoch `current`: the next epoch if the
 * request takes effect (it is one, its operator signatures check out against `current`'s
 * operators, it changes `current`, and the epoch it makes is well formed), null otherwise. Must
 * be deterministic and cheap for vertices that are no request: every replica calls it on every
 * delivered vertex of an open epoch and must reach the same answer.
 */
export type RequestReader = (payload: Uint8Array, current: EpochRecord) => NextEpoch | null;

/** How the core learns of reconfigurations; absent, it never leaves epoch 0. */
export interface ReconfigurationOptions {
  readonly reader: RequestReader;
  /**
   * The epoch's validators by node id, in replica-id order (epoch 0's, when a replica is
   * created): how a replica finds itself in the next epoch, where ids are indices again.
   */
  readonly nodes: readonly string[];
  /** This replica's node id: `nodes[self]` when absent. A joiner is in none of epoch 0's. */
  readonly node?: string;
  /**
   * The epoch this replica joins the validators in, for a node that was not one of the epoch
   * before (a new machine, or a replacement with an empty store): below it, the replica is a
   * learner (`learner.ts`). Absent for a node that has been a validator all along.
   */
  readonly joining?: JoinTarget;
}

/**
 * The epoch a joiner joins: its number (1 or more), the request that opens it (as its operator
 * was given it, in the chain of requests from the cluster file) and its validators by node id.
 */
export interface JoinTarget {
  readonly epoch: number;
  readonly opening: Uint8Array;
  readonly nodes: readonly string[];
}

/** Epoch 0 as the history holds it before any request: open, from sequence 1. */
export const EPOCH_ZERO: EpochRecord = Object.freeze({
  number: 0,
  start: 1,
  end: null,
  closedAt: null,
  opening: new Uint8Array(0),
});

/**
 * The last sequence of an epoch whose closing request executed at `requestSequence`: the end of
 * the watermark window of the last checkpoint below it. No replica that has not executed the
 * request votes above it (see `voteCeiling`), and it is a checkpoint sequence.
 */
export function epochEnd(
  requestSequence: number,
  checkpointInterval: number,
  watermarkWindow: number,
): number {
  const below = requestSequence - 1 - ((requestSequence - 1) % checkpointInterval);
  return below + watermarkWindow;
}

/** The first request among `vertices` that closes `current`, with the epoch it opens. */
export function closingRequest(
  reader: RequestReader,
  current: EpochRecord,
  vertices: readonly Vertex[],
): { readonly payload: Uint8Array; readonly next: NextEpoch } | null {
  for (const vertex of vertices) {
    const next = reader(vertex.payload, current);
    if (next !== null) return { payload: vertex.payload, next };
  }
  return null;
}

/** The history's record of the epoch the replica is in. */
export function currentEpochRecord(state: ReplicaState): EpochRecord {
  const record = state.epochs.find((epoch) => epoch.number === state.epoch);
  invariant(record !== undefined, `the history holds the current epoch ${state.epoch}`);
  return record;
}

/**
 * After the batch at `sequence` executed: if a delivered vertex is a request that closes the
 * current epoch, record where it ends and what it opens. At most one request closes an epoch;
 * later ones in it are skipped, at every replica alike, like any duplicate.
 */
export function closeEpochIfRequested(
  state: ReplicaState,
  sequence: number,
  delivered: readonly Vertex[],
): void {
  const { reconfiguration, checkpointInterval, watermarkWindow } = state.config;
  if (reconfiguration === null || state.epochEnd !== null || delivered.length === 0) return;
  const current = currentEpochRecord(state);
  const reader: RequestReader = (payload, epoch) => {
    const next = reconfiguration.reader(payload, epoch);
    return next !== null && takesOver(state.config, next) ? next : null;
  };
  const closing = closingRequest(reader, current, delivered);
  if (closing === null) return;
  const end = epochEnd(sequence, checkpointInterval, watermarkWindow);
  const closed: EpochRecord = { ...current, end, closedAt: sequence };
  const opened: EpochRecord = {
    number: current.number + 1,
    start: end + 1,
    end: null,
    closedAt: null,
    opening: closing.payload,
  };
  state.epochs = [...state.epochs.filter((epoch) => epoch.number < current.number), closed, opened];
  state.epochEnd = end;
  state.nextEpoch = closing.next;
  persist(state, { kind: 'epoch', record: closed });
  persist(state, { kind: 'epoch', record: opened });
  emit(state, { kind: 'epoch-closing', epoch: current.number, end, requestSequence: sequence });
}

/**
 * Whether the primary owes the sequences up to the end of a closing epoch: it fills those with
 * no batch yet with empty ones (PBFT's null requests), so that the epoch ends without waiting
 * for client load.
 */
export function owesFill(state: ReplicaState): boolean {
  return state.epochEnd !== null && state.nextSequence <= state.epochEnd;
}

/** Whether the closing epoch still has sequences to execute: work the view timer waits on. */
export function epochUnfinished(state: ReplicaState): boolean {
  return state.epochEnd !== null && state.lastExecuted < state.epochEnd;
}
