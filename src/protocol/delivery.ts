/**
 * Which vertices of a finalized batch are delivered, and what expires with each sequence: the
 * rules that make a vertex final at most once, applied identically at every replica (see
 * `delivered-set.ts` for the argument).
 *
 * A vertex at position p of the batch finalized at s is delivered unless it was delivered
 * before (within the horizon, which is all that can matter), it expired (s > validThrough), or
 * it is valid so far ahead (validThrough >= s + horizon) that the replicas could forget it
 * before it expires. Only a Byzantine primary orders the last two; an honest one drops them.
 */
import { currentTimeout, dequeue, type ReplicaState } from './state.ts';
import { type Batch, isDeliverableAt, type Vertex, vertexKey } from './types.ts';

/** The delivered part of a batch, position for position. */
export interface Selected {
  readonly positions: number[];
  readonly keys: string[];
  readonly vertices: Vertex[];
}

/**
 * Applies the delivery rule to `batch` finalized at `sequence`, records what is delivered, and
 * drops every trace of it from the client-vertex maps.
 */
export function deliverBatch(state: ReplicaState, sequence: number, batch: Batch): Selected {
  const horizon = state.config.dedupHorizonSequences;
  const selected: Selected = { positions: [], keys: [], vertices: [] };
  // A vertex twice in one batch is delivered once: `fresh` holds this batch's keys so far.
  const fresh = new Set<string>();
  for (let position = 0; position < batch.length; position++) {
    const vertex = batch[position]!;
    // One key per vertex for every map below, and handed to the shell with the delivery:
    // hex-encoding hashes again was a measurable share of the engine's main thread.
    const key = vertexKey(vertex);
    state.proposedHashes.delete(key);
    if (!isDeliverableAt(vertex, sequence, horizon) || state.delivered.has(key) || fresh.has(key)) continue;
    fresh.add(key);
    selected.positions.push(position);
    selected.keys.push(key);
    selected.vertices.push(vertex);
    forgetVertex(state, key);
  }
  state.delivered.record(
    sequence,
    selected.vertices.map((vertex) => vertex.hash),
  );
  return selected;
}

/**
 * After `sequence` is finalized, the held client vertices valid through it can never be
 * final: they leave `pending` (their keys are returned, for the shell to tell the submitters)
 * and `watched`.
 *
 * Expiry must not let a censoring primary off: a primary that withholds a vertex until it
 * expires would otherwise reset the backups' timers on it (the client's next vertex starts
 * afresh) and never be deposed. So a vertex this replica held for a full view-change timeout
 * in the current view, expiring unordered while the replica takes part in the normal case,
 * counts as a timeout of the primary. An honest primary orders what reaches it within a few
 * sequences, far inside the horizon.
 */
export function expireHeld(state: ReplicaState, sequence: number): string[] {
  const keys = state.expiring.get(sequence);
  if (keys === undefined) return [];
  state.expiring.delete(sequence);
  const expired: string[] = [];
  const timeout = currentTimeout(state);
  const inNormalCase = state.viewActive && state.stateTransfer === null;
  for (const key of keys) {
    const since = state.pending.get(key)?.sinceTick ?? state.watched.get(key)?.sinceTick;
    if (since === undefined) continue;
    if (state.pending.get(key)?.source === state.config.self) expired.push(key);
    if (inNormalCase && state.now - Math.max(since, state.viewStartTick) >= timeout)
      state.heldVertexExpired = true;
    forgetVertex(state, key);
  }
  return expired;
}

/** Notes that the held vertex `key` expires after `validThrough`. */
export function holdUntil(state: ReplicaState, key: string, validThrough: number): void {
  const keys = state.expiring.get(validThrough);
  if (keys === undefined) state.expiring.set(validThrough, [key]);
  else keys.push(key);
}

/** Drops every trace of a vertex that has just been finalized. */
export function forgetVertex(state: ReplicaState, key: string): void {
  const pending = state.pending.get(key);
  if (pending !== undefined) {
    state.pending.delete(key);
    state.lastClientProgressTick = state.now;
    if (pending.source !== state.config.self) {
      const left = (state.heldPerSource.get(pending.source) ?? 1) - 1;
      if (left === 0) state.heldPerSource.delete(pending.source);
      else state.heldPerSource.set(pending.source, left);
    }
  }
  const watched = state.watched.get(key);
  if (watched !== undefined) {
    state.lastClientProgressTick = state.now;
    state.watched.delete(key);
    const left = (state.watchedPerSource.get(watched.source) ?? 1) - 1;
    if (left === 0) state.watchedPerSource.delete(watched.source);
    else state.watchedPerSource.set(watched.source, left);
  }
  const queued = state.queue.get(key);
  if (queued !== undefined) dequeue(state, key, queued);
}
