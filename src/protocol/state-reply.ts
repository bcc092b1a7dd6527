/**
 * Answering a STATE-REQUEST from the store. The core decides whom to answer and which range
 * (see `onStateRequest`); the shell reads the finalized records and signs the reply.
 */
import type { FinalizedRecord, StateServeRequest } from './effects.ts';
import type { Draft, FinalizedEntry, StateReply, StateRequest } from './messages.ts';
import type { ReplicaState } from './state.ts';
import { batchPayloadBytes } from './types.ts';

/** Read access to finalized records (synchronous: LMDB and memory stores read in place). */
export interface FinalizedLog {
  /** The record finalized at `sequence`, or undefined if it is not held (pruned, or not yet final). */
  finalizedAt(sequence: number): FinalizedRecord | undefined;
}

/**
 * What this replica serves for `request`, or null when it serves nothing: the epoch that holds
 * the first sequence asked for, and the last sequence it serves, which it has executed, lies in
 * that epoch (a reply carries one epoch's history: see `buildStateReply`), and is at most
 * `stateEntriesMax` entries on. The epoch is the request's, or an earlier one for a replica that
 * walks the history (a laggard, or a joiner whose request names the epoch it joins); never a later.
 */
export function stateServeRange(
  state: ReplicaState,
  request: StateRequest,
): { readonly epoch: number; readonly toSequence: number } | null {
  const first = request.fromSequence;
  const epoch = state.epochs.find(
    (record) => record.start <= first && (record.end === null || first <= record.end),
  );
  if (epoch === undefined || epoch.number > request.epoch) return null;
  const toSequence = Math.min(
    request.toSequence,
    state.lastExecuted,
    epoch.end ?? state.lastExecuted,
    first + state.config.stateEntriesMax - 1,
  );
  return toSequence < first ? null : { epoch: epoch.number, toSequence };
}

/**
 * The STATE-REPLY for `request`: consecutive finalized entries from its first sequence, up to
 * its last or until `bytesBudget` of batch bytes is used (always at least one entry when the
 * first is available). Null when the store does not hold the first one.
 */
export function buildStateReply(
  log: FinalizedLog,
  request: StateServeRequest,
  bytesBudget: number,
): Draft<StateReply> | null {
  const entries: FinalizedEntry[] = [];
  let bytes = 0;
  for (let sequence = request.fromSequence; sequence <= request.toSequence; sequence++) {
    const record = log.finalizedAt(sequence);
    if (record === undefined) break;
    // A reply names one epoch and its certificates are checked against that epoch's set.
    if (record.commits.some((commit) => commit.epoch !== request.epoch)) break;
    const size = batchPayloadBytes(record.batch);
    if (entries.length > 0 && bytes + size > bytesBudget) break;
    bytes += size;
    entries.push({ sequence, view: record.view, batch: record.batch, commits: record.commits });
  }
  if (entries.length === 0) return null;
  return { kind: 'state-reply', epoch: request.epoch, entries, replica: request.signer };
}
