/**
 * Client vertices: a replica accepts them (bounded), sends them to the primary, and holds them
 * until they are final. A vertex that waits too long is sent to every replica, so that all of
 * them time out on a primary that censors it (4.4: the liveness timer of backups).
 *
 * Acknowledged means held by `acknowledgeCopies` other replicas too (f by default). The
 * accepting replica writes the vertices to its store and sends them, in REQUESTs marked
 * `hold`, to that many peers: the primary first, which orders them, then the next replicas in
 * turn. Each writes them to its store, answers HELD (sent only once the write is durable, like
 * every message), and from then on holds them as if its own client had submitted them:
 * proposed again after a restart, sent to the next primary after a view change and to every
 * replica when they wait too long, until they are final or expire. Once enough peers answered,
 * the accepting replica acknowledges them. So f + 1 replicas hold every acknowledged vertex on
 * disk, and losing any f of them (crashed, wiped, Byzantine) leaves one that proposes it until
 * it is final. Several holders proposing one vertex cannot make it final twice: the delivery
 * rule (`delivered-set.ts`) finalizes a hash at most once. A Byzantine peer can answer HELD
 * without holding; it is one of the f.
 */

import { toHex } from '../crypto/digest.ts';
import { holdUntil } from './delivery.ts';
import type { Verdict } from './effects.ts';
import type { Draft, Held, Request } from './messages.ts';
import {
  ACCEPTED,
  ignored,
  isPrimary,
  persist,
  primary,
  type ReplicaState,
  rejected,
  sendDraft,
} from './state.ts';
import type { Digest } from './types.ts';
import { isDeliverableAt, type ReplicaId, type Vertex, vertexKey, vertexPayloadBytes } from './types.ts';

/** Whether a vertex fits in a batch on its own: one that does not could never be ordered. */
function fitsInBatch(state: ReplicaState, vertex: Vertex): boolean {
  return vertexPayloadBytes(vertex) <= state.config.batchBytesMax;
}

/**
 * Whether a vertex could be delivered at the next sequence (see `isDeliverableAt`): one that
 * could not has expired, or names a validThrough too far ahead, and is neither held nor ordered.
 */
export function deliverableNext(state: ReplicaState, vertex: Vertex): boolean {
  return isDeliverableAt(vertex, state.lastExecuted + 1, state.config.dedupHorizonSequences);
}

/** `propose` input: accepts client vertices, or refuses all of them when the replica is full. */
export function onPropose(state: ReplicaState, vertices: readonly Vertex[]): Verdict {
  if (!vertices.every((vertex) => fitsInBatch(state, vertex))) return ignored('oversized');
  // Keyed by hash, in order: drops repeats within the input, and each key is encoded once.
  const fresh = new Map<string, Vertex>();
  const held: string[] = [];
  for (const vertex of vertices) {
    const key = vertexKey(vertex);
    const pending = state.pending.get(key);
    if (pending !== undefined && pending.copies === null) held.push(key);
    if (pending !== undefined || state.delivered.has(key) || fresh.has(key)) continue;
    // The core holds nothing that can never be final; the shell tells the submitter why.
    if (!deliverableNext(state, vertex)) {
      const reason = vertex.validThrough <= state.lastExecuted ? 'expired' : 'too-far';
      state.out.refused.push({ key, reason });
      continue;
    }
    fresh.set(key, vertex);
  }
  if (ownPendingCount(state) + fresh.size > state.config.pendingVerticesMax) return ignored('full');
  const { acknowledgeCopies, self } = state.config;
  for (const [key, vertex] of fresh) {
    const copies: ReplicaId[] | null = acknowledgeCopies > 0 ? [] : null;
    state.pending.set(key, { vertex, sinceTick: state.now, source: self, copies });
    holdUntil(state, key, vertex.validThrough);
  }
  // Durable before the submitters hear of it: the acknowledgment is sealed with this write
  // (and with the earlier one of a vertex proposed again), and a restart proposes them again.
  if (fresh.size > 0) persist(state, { kind: 'accepted', vertices: [...fresh.values()] });
  state.out.acknowledged.push(...held);
  if (fresh.size === 0) return ACCEPTED;
  const accepted = [...fresh.values()];
  if (acknowledgeCopies === 0) {
    state.out.acknowledged.push(...fresh.keys());
    if (!state.viewActive) return ACCEPTED;
    if (isPrimary(state)) for (const [key, vertex] of fresh) enqueueKeyed(state, key, vertex, self);
    else sendRequests(state, primary(state), accepted, false);
    return ACCEPTED;
  }
  // The holders, the primary first (it orders them too), also while views change: a holder
  // that is not the primary of an active view sends them on when one is installed.
  for (const holder of holders(state)) sendRequests(state, holder, accepted, true);
  if (state.viewActive && isPrimary(state)) {
    for (const [key, vertex] of fresh) enqueueKeyed(state, key, vertex, self);
  }
  return ACCEPTED;
}

/** Client vertices this replica's own clients submitted: `pending` less those held for peers. */
function ownPendingCount(state: ReplicaState): number {
  let forPeers = 0;
  for (const count of state.heldPerSource.values()) forPeers += count;
  return state.pending.size - forPeers;
}

/**
 * The `acknowledgeCopies` peers asked to hold this replica's client vertices: from the primary
 * of the current view on, in replica order, skipping this replica.
 */
function holders(state: ReplicaState): ReplicaId[] {
  const { replicaCount, self, acknowledgeCopies } = state.config;
  const chosen: ReplicaId[] = [];
  for (let step = 0; step < replicaCount && chosen.length < acknowledgeCopies; step++) {
    const replica = (primary(state) + step) % replicaCount;
    if (replica !== self) chosen.push(replica);
  }
  return chosen;
}

/**
 * A REQUEST marked `hold`: the vertices are written to the store and held as this replica's
 * own (up to `watchedVerticesPerReplicaMax` per peer), and the sender hears HELD for every
 * vertex held here or final here, once the write is durable.
 */
function holdFor(
  state: ReplicaState,
  vertices: readonly Vertex[],
  keys: readonly string[],
  from: ReplicaId,
): void {
  const holding: Digest[] = [];
  const fresh: Vertex[] = [];
  const limit = state.config.watchedVerticesPerReplicaMax;
  for (const [index, vertex] of vertices.entries()) {
    const key = keys[index]!;
    if (state.pending.has(key) || state.delivered.has(key)) {
      holding.push(vertex.hash);
      continue;
    }
    if (!deliverableNext(state, vertex) || !fitsInBatch(state, vertex)) continue;
    const count = state.heldPerSource.get(from) ?? 0;
    if (count >= limit) break;
    state.heldPerSource.set(from, count + 1);
    state.pending.set(key, { vertex, sinceTick: state.now, source: from, copies: null });
    holdUntil(state, key, vertex.validThrough);
    fresh.push(vertex);
    holding.push(vertex.hash);
  }
  if (fresh.length > 0) persist(state, { kind: 'accepted', vertices: fresh });
  if (holding.length > 0) {
    sendDraft(state, from, {
      kind: 'held',
      replica: state.config.self,
      hashes: holding,
    } satisfies Draft<Held>);
  }
}

/**
 * HELD: a peer holds these client vertices of this replica's durably. Each is acknowledged once
 * `acknowledgeCopies` distinct peers said so.
 */
export function onHeld(state: ReplicaState, held: Held, from: ReplicaId): Verdict {
  if (from !== held.replica) return rejected('invalid-request', from);
  if (from === state.config.self) return ignored('not-needed');
  for (const hash of held.hashes) {
    const key = toHex(hash);
    const pending = state.pending.get(key);
    if (pending === undefined || pending.copies === null) continue;
    if (!pending.copies.includes(from)) pending.copies.push(from);
    if (pending.copies.length < state.config.acknowledgeCopies) continue;
    pending.copies = null;
    state.out.acknowledged.push(key);
  }
  return ACCEPTED;
}

/**
 * REQUEST: the primary queues the vertices for ordering; any other replica watches them (the
 * sender's client saw no progress) and passes them on to the primary, as PBFT backups relay
 * client requests.
 */
export function onRequest(state: ReplicaState, request: Request, from: ReplicaId): Verdict {
  // A REQUEST is not signed: the link it came on, which the transport authenticated, is what
  // says who sent it. A peer that names another replica in one is forging it.
  if (from !== request.replica) return rejected('invalid-request', from);
  if (request.replica === state.config.self) return ignored('not-needed');
  // Each key once: a held REQUEST at the primary is both held and queued.
  const keys = request.vertices.map(vertexKey);
  if (request.hold) holdFor(state, request.vertices, keys, from);
  if (state.viewActive && isPrimary(state)) {
    for (const [index, vertex] of request.vertices.entries())
      enqueueKeyed(state, keys[index]!, vertex, request.replica);
    return ACCEPTED;
  }
  // Held vertices are this replica's to send on (`forwardPending`, `retryRequests`).
  if (request.hold) return ACCEPTED;
  const relayed: Vertex[] = [];
  const limit = state.config.watchedVerticesPerReplicaMax;
  for (const [index, vertex] of request.vertices.entries()) {
    const key = keys[index]!;
    if (state.delivered.has(key) || state.watched.has(key) || state.pending.has(key)) continue;
    if (!deliverableNext(state, vertex)) continue;
    const count = state.watchedPerSource.get(request.replica) ?? 0;
    if (count >= limit) break;
    state.watchedPerSource.set(request.replica, count + 1);
    state.watched.set(key, {
      source: request.replica,
      sinceTick: state.now,
      validThrough: vertex.validThrough,
    });
    holdUntil(state, key, vertex.validThrough);
    relayed.push(vertex);
  }
  if (state.viewActive && relayed.length > 0) sendRequests(state, primary(state), relayed, false);
  return ACCEPTED;
}

/** Adds a vertex to the primary's ordering queue, within the sender's share of it. */
export function enqueue(state: ReplicaState, vertex: Vertex, source: ReplicaId): void {
  enqueueKeyed(state, vertexKey(vertex), vertex, source);
}

function enqueueKeyed(state: ReplicaState, key: string, vertex: Vertex, source: ReplicaId): void {
  if (state.queue.has(key) || state.proposedHashes.has(key) || state.delivered.has(key)) return;
  if (!fitsInBatch(state, vertex) || !deliverableNext(state, vertex)) return;
  const count = state.queuedPerSource.get(source) ?? 0;
  if (count >= state.config.queuedVerticesPerReplicaMax) return;
  state.queuedPerSource.set(source, count + 1);
  state.queue.set(key, { vertex, source });
  state.queuedBytes += vertexPayloadBytes(vertex);
}

/**
 * After entering a view: the pending vertices go to the new primary (or its own queue). Those
 * still short of their copies go to the view's holders, the new primary first, marked `hold`:
 * the old primary, asked first, may be the replica that failed.
 */
export function forwardPending(state: ReplicaState): void {
  if (state.pending.size === 0) return;
  const held: Vertex[] = [];
  const unheld: Vertex[] = [];
  for (const pending of state.pending.values())
    (pending.copies === null ? held : unheld).push(pending.vertex);
  if (isPrimary(state)) {
    for (const vertex of [...held, ...unheld]) enqueue(state, vertex, state.config.self);
  } else if (held.length > 0) {
    sendRequests(state, primary(state), held, false);
  }
  if (unheld.length > 0) for (const holder of holders(state)) sendRequests(state, holder, unheld, true);
}

/**
 * The primary cannot be reached: the client vertices it was asked to hold and has not answered
 * for are asked of every other peer at once, rather than at the next retry.
 */
export function askOthersToHold(state: ReplicaState): void {
  const unheld: Vertex[] = [];
  for (const pending of state.pending.values()) if (pending.copies !== null) unheld.push(pending.vertex);
  if (unheld.length > 0) sendRequests(state, 'others', unheld, true);
}

/**
 * How many times its timeout a client vertex may wait while the primary makes progress on
 * other vertices of this replica's before the wait counts as censorship all the same.
 */
export const CLIENT_WAIT_BOUND_TIMEOUTS = 8;

/**
 * Whether a client vertex that has waited since `sinceTick` (or since `fromTick`, when later)
 * has waited too long for a timeout of `ticks`. The wait counts from the last time one of this
 * replica's client vertices was finalized, as PBFT restarts its timer when a request executes
 * while others wait (Castro and Liskov, 4.5.2): under a load above what the cluster can order,
 * vertices queue for longer than the timeout behind a primary that is working as fast as it
 * can, and deposing it for that cost a view change after each timeout and took throughput to
 * a fraction (docs/benchmarks.md). A primary that orders some of this replica's vertices and
 * withholds one is still caught: no vertex waits more than CLIENT_WAIT_BOUND_TIMEOUTS
 * timeouts, progress or not; bounded queues keep an honest primary's backlog far below that.
 */
export function clientWaitExpired(
  state: ReplicaState,
  sinceTick: number,
  fromTick: number,
  ticks: number,
): boolean {
  const start = Math.max(sinceTick, fromTick);
  if (state.now - start >= ticks * CLIENT_WAIT_BOUND_TIMEOUTS) return true;
  return state.now - Math.max(start, state.lastClientProgressTick) >= ticks;
}

/**
 * Client vertices that have waited `requestRetryTicks` (see `clientWaitExpired`) go to every
 * other replica, at most once per retry interval, oldest first. The primary of an active view
 * queues them again instead: they are its own to order, and sending them to the others only
 * made them watch (and relay back) vertices already in its queue.
 */
export function retryRequests(state: ReplicaState): void {
  const interval = state.config.requestRetryTicks;
  if (state.pending.size === 0 || state.now - state.lastRequestRetryTick < interval) return;
  const requeue = state.viewActive && isPrimary(state);
  const aged: Vertex[] = [];
  // Not yet held by enough peers after an interval: asked of every peer, whatever the progress
  // (the submitter waits for its acknowledgment), and still sent on by the primary.
  const unheld: Vertex[] = [];
  const most = state.config.batchCountMax * state.config.pipelineDepth;
  // In arrival order, so oldest first; an unheld vertex may lie behind one not due for a retry.
  for (const [key, pending] of state.pending) {
    if (state.now - pending.sinceTick < interval) break;
    const due = pending.copies !== null || clientWaitExpired(state, pending.sinceTick, 0, interval);
    if (!due) continue;
    if (requeue) enqueueKeyed(state, key, pending.vertex, state.config.self);
    (pending.copies !== null ? unheld : aged).push(pending.vertex);
    // As much as the primary can have in flight at once: one batch per interval left small
    // batch sizes far behind a steady client load.
    if (aged.length + unheld.length >= most) break;
  }
  if (aged.length + unheld.length === 0) return;
  state.lastRequestRetryTick = state.now;
  if (unheld.length > 0) sendRequests(state, 'others', unheld, true);
  if (!requeue && aged.length > 0) sendRequests(state, 'others', aged, false);
}

/** Sends vertices in REQUESTs of at most one batch each (count and bytes), as the decoder bounds them. */
function sendRequests(
  state: ReplicaState,
  to: ReplicaId | 'others',
  vertices: readonly Vertex[],
  hold: boolean,
): void {
  const { batchCountMax, batchBytesMax, self } = state.config;
  let chunk: Vertex[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (chunk.length > 0)
      sendDraft(state, to, {
        kind: 'request',
        vertices: chunk,
        replica: self,
        hold,
      } satisfies Draft<Request>);
    chunk = [];
    bytes = 0;
  };
  for (const vertex of vertices) {
    const size = vertexPayloadBytes(vertex);
    if (chunk.length >= batchCountMax || bytes + size > batchBytesMax) flush();
    chunk.push(vertex);
    bytes += size;
  }
  flush();
}
