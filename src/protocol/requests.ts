/**
 * Client vertices: a replica accepts them (bounded), sends them to the primary, and holds them
 * until they are final. A vertex that waits too long is sent to every replica, so that all of
 * them time out on a primary that censors it (4.4: the liveness timer of backups).
 */

import type { Verdict } from './effects.ts';
import type { Draft, Request } from './messages.ts';
import { ACCEPTED, hashKey, ignored, isPrimary, primary, type ReplicaState, sendDraft } from './state.ts';
import { batchPayloadBytes, type ReplicaId, type Vertex } from './types.ts';

/** Whether a vertex fits in a batch on its own: one that does not could never be ordered. */
function fitsInBatch(state: ReplicaState, vertex: Vertex): boolean {
  return batchPayloadBytes([vertex]) <= state.config.batchBytesMax;
}

/** `propose` input: accepts client vertices, or refuses all of them when the replica is full. */
export function onPropose(state: ReplicaState, vertices: readonly Vertex[]): Verdict {
  if (!vertices.every((vertex) => fitsInBatch(state, vertex))) return ignored('oversized');
  // Keyed by hash, in order: drops repeats within the input, and each key is encoded once.
  const fresh = new Map<string, Vertex>();
  for (const vertex of vertices) {
    const key = hashKey(vertex);
    if (state.pending.has(key) || state.delivered.has(key) || fresh.has(key)) continue;
    fresh.set(key, vertex);
  }
  if (state.pending.size + fresh.size > state.config.pendingVerticesMax) return ignored('full');
  for (const [key, vertex] of fresh) state.pending.set(key, { vertex, sinceTick: state.now });
  if (!state.viewActive || fresh.size === 0) return ACCEPTED;
  if (isPrimary(state)) {
    for (const [key, vertex] of fresh) enqueueKeyed(state, key, vertex, state.config.self);
  } else {
    sendRequests(state, primary(state), [...fresh.values()]);
  }
  return ACCEPTED;
}

/**
 * REQUEST: the primary queues the vertices for ordering; any other replica watches them (the
 * sender's client saw no progress) and passes them on to the primary, as PBFT backups relay
 * client requests.
 */
export function onRequest(state: ReplicaState, request: Request, from: ReplicaId): Verdict {
  if (from !== request.replica || request.replica === state.config.self) return ignored('not-needed');
  if (state.viewActive && isPrimary(state)) {
    for (const vertex of request.vertices) enqueue(state, vertex, request.replica);
    return ACCEPTED;
  }
  const relayed: Vertex[] = [];
  const limit = state.config.watchedVerticesPerReplicaMax;
  for (const vertex of request.vertices) {
    const key = hashKey(vertex);
    if (state.delivered.has(key) || state.watched.has(key) || state.pending.has(key)) continue;
    const count = state.watchedPerSource.get(request.replica) ?? 0;
    if (count >= limit) break;
    state.watchedPerSource.set(request.replica, count + 1);
    state.watched.set(key, { source: request.replica, sinceTick: state.now });
    relayed.push(vertex);
  }
  if (state.viewActive && relayed.length > 0) sendRequests(state, primary(state), relayed);
  return ACCEPTED;
}

/** Adds a vertex to the primary's ordering queue, within the sender's share of it. */
export function enqueue(state: ReplicaState, vertex: Vertex, source: ReplicaId): void {
  enqueueKeyed(state, hashKey(vertex), vertex, source);
}

function enqueueKeyed(state: ReplicaState, key: string, vertex: Vertex, source: ReplicaId): void {
  if (state.queue.has(key) || state.proposedHashes.has(key) || state.delivered.has(key)) return;
  if (!fitsInBatch(state, vertex)) return;
  const count = state.queuedPerSource.get(source) ?? 0;
  if (count >= state.config.queuedVerticesPerReplicaMax) return;
  state.queuedPerSource.set(source, count + 1);
  state.queue.set(key, { vertex, source });
}

/** Drops every trace of a vertex that has just been finalized. */
export function forgetVertex(state: ReplicaState, key: string): void {
  state.pending.delete(key);
  const watched = state.watched.get(key);
  if (watched !== undefined) {
    state.watched.delete(key);
    const left = (state.watchedPerSource.get(watched.source) ?? 1) - 1;
    if (left === 0) state.watchedPerSource.delete(watched.source);
    else state.watchedPerSource.set(watched.source, left);
  }
  const queued = state.queue.get(key);
  if (queued !== undefined) {
    state.queue.delete(key);
    const left = (state.queuedPerSource.get(queued.source) ?? 1) - 1;
    if (left === 0) state.queuedPerSource.delete(queued.source);
    else state.queuedPerSource.set(queued.source, left);
  }
}

/** After entering a view: the pending vertices go to the new primary (or its own queue). */
export function forwardPending(state: ReplicaState): void {
  if (state.pending.size === 0) return;
  const vertices = [...state.pending.values()].map((pending) => pending.vertex);
  if (isPrimary(state)) {
    for (const vertex of vertices) enqueue(state, vertex, state.config.self);
  } else {
    sendRequests(state, primary(state), vertices);
  }
}

/**
 * Client vertices that have waited `requestRetryTicks` go to every other replica, at most once
 * per retry interval, oldest first.
 */
export function retryRequests(state: ReplicaState): void {
  const interval = state.config.requestRetryTicks;
  if (state.pending.size === 0 || state.now - state.lastRequestRetryTick < interval) return;
  const aged: Vertex[] = [];
  for (const pending of state.pending.values()) {
    if (state.now - pending.sinceTick < interval) break;
    aged.push(pending.vertex);
    // As much as the primary can have in flight at once: one batch per interval left small
    // batch sizes far behind a steady client load.
    if (aged.length >= state.config.batchCountMax * state.config.pipelineDepth) break;
  }
  if (aged.length === 0) return;
  state.lastRequestRetryTick = state.now;
  sendRequests(state, 'others', aged);
}

/** Sends vertices in REQUESTs of at most one batch each (count and bytes), as the decoder bounds them. */
function sendRequests(state: ReplicaState, to: ReplicaId | 'others', vertices: readonly Vertex[]): void {
  const { batchCountMax, batchBytesMax, self } = state.config;
  let chunk: Vertex[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (chunk.length > 0)
      sendDraft(state, to, { kind: 'request', vertices: chunk, replica: self } satisfies Draft<Request>);
    chunk = [];
    bytes = 0;
  };
  for (const vertex of vertices) {
    const size = batchPayloadBytes([vertex]);
    if (chunk.length >= batchCountMax || bytes + size > batchBytesMax) flush();
    chunk.push(vertex);
    bytes += size;
  }
  flush();
}
