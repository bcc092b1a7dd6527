/**
 * The normal case (Castro and Liskov 4.2): the primary orders batches with PRE-PREPARE,
 * backups PREPARE, everyone COMMITs, and a batch is executed once it is committed and every
 * lower sequence has been executed.
 */
import { bytesEqual, toHex } from '../crypto/digest.ts';
import { noteAhead, requestState } from './behind.ts';
import { checkpointTaken } from './checkpoints.ts';
import { deliverBatch, expireHeld } from './delivery.ts';
import type { Verdict } from './effects.ts';
import { closeEpochIfRequested, owesFill } from './epochs.ts';
import { invariant } from './errors.ts';
import { attachBody, bodyFor, isSigned, type LogEntry, resetEntryForView } from './log.ts';
import type { Commit, Draft, PrePrepare, Prepare } from './messages.ts';
import {
  ACCEPTED,
  dequeue,
  emit,
  entryAt,
  ignored,
  inWindow,
  isPrimary,
  persist,
  primary,
  type ReplicaState,
  rejected,
  sendDraft,
  voteCeiling,
} from './state.ts';
import {
  type Batch,
  batchDigest,
  chainDigest,
  isDeliverableAt,
  type ReplicaId,
  type Vertex,
  vertexKey,
  vertexPayloadBytes,
} from './types.ts';

/** A PRE-PREPARE without its batch: the form kept in the log and in certificates. */
function header(prePrepare: PrePrepare): PrePrepare {
  return prePrepare.batch === null ? prePrepare : { ...prePrepare, batch: null };
}

/**
 * The guard shared by the normal case: the reason to ignore a message, or null to go on. A
 * vote above the window is still evidence that its signer has moved on (see `noteAhead`).
 */
function outsideViewOrWindow(
  state: ReplicaState,
  view: number,
  sequence: number,
  signer: ReplicaId,
): Verdict | null {
  if (!state.viewActive) return ignored('view-changing');
  if (view < state.view) return ignored('stale-view');
  if (view > state.view) return ignored('future-view');
  if (sequence <= state.stable.sequence) return ignored('below-watermark');
  if (!inWindow(state, sequence)) {
    noteAhead(state, signer, sequence);
    return ignored('above-watermark');
  }
  return null;
}

/**
 * PRE-PREPARE (4.2): accepted when it comes from the primary of the current view, inside the
 * watermarks, with a batch that matches its digest, and no other digest was accepted for the
 * same view and sequence. A backup then sends PREPARE.
 */
export function onPrePrepare(state: ReplicaState, prePrepare: PrePrepare, from: ReplicaId): Verdict {
  const outside = outsideViewOrWindow(state, prePrepare.view, prePrepare.sequence, prePrepare.replica);
  if (outside !== null) return outside;
  if (prePrepare.replica !== primary(state)) return rejected('not-primary', prePrepare.replica);
  const key = toHex(prePrepare.digest);
  // The signature covers the header only, so a batch that does not match was attached by
  // whoever sent this frame: blame the sender, not the signer.
  if (prePrepare.batch !== null && toHex(batchDigest(prePrepare.batch)) !== key) {
    return rejected('digest-mismatch', from);
  }
  const entry = entryAt(state, prePrepare.sequence);
  resetEntryForView(entry, state.view);
  const accepted = entry.prePrepare;
  if (accepted !== null) {
    if (entry.digestKey !== key) {
      if (isSigned(accepted)) {
        state.out.evidence.push({
          kind: 'equivocation',
          replica: prePrepare.replica,
          first: accepted,
          second: header(prePrepare),
        });
      }
      return rejected('equivocation', prePrepare.replica);
    }
    let changed = false;
    if (!isSigned(accepted)) {
      // The primary's own PRE-PREPARE, back from the shell with its signature.
      entry.prePrepare = header(prePrepare);
      changed = true;
    }
    if (prePrepare.batch !== null && bodyFor(entry, key) === null) {
      attachBody(entry, key, prePrepare.batch);
      persist(state, {
        kind: 'pre-prepare',
        sequence: entry.sequence,
        prePrepare: header(prePrepare),
        batch: prePrepare.batch,
      });
      changed = true;
    }
    if (!changed) return ignored('duplicate');
    checkPrepared(state, entry);
    executeCommitted(state);
    return ACCEPTED;
  }
  // A backup prepares a new batch only when it holds the batch (4.2), so that every prepared
  // certificate is backed by at least f + 1 correct replicas that can serve it.
  const batch = prePrepare.batch ?? bodyFor(entry, key);
  if (batch === null) return ignored('missing-batch');
  acceptPrePrepare(state, entry, header(prePrepare), key, batch);
  return ACCEPTED;
}

/**
 * Records `prePrepare` as accepted at its sequence, persists it, and sends PREPARE unless this
 * replica is the primary. Shared by the normal case and by NEW-VIEW processing.
 */
export function acceptPrePrepare(
  state: ReplicaState,
  entry: LogEntry,
  prePrepare: PrePrepare | Draft<PrePrepare>,
  key: string,
  batch: Batch | null,
): void {
  entry.prePrepare = prePrepare;
  entry.digestKey = key;
  if (batch !== null) attachBody(entry, key, batch);
  persist(state, { kind: 'pre-prepare', sequence: entry.sequence, prePrepare, batch: bodyFor(entry, key) });
  // Work arriving at an idle pipeline starts the progress timer afresh: otherwise a batch
  // ordered after a quiet spell would time out at once (4.4: the timer starts with the request).
  if (state.highestAccepted <= state.lastExecuted) state.lastProgressTick = state.now;
  if (entry.sequence > state.highestAccepted) state.highestAccepted = entry.sequence;
  if (prePrepare.replica !== state.config.self) {
    const prepare: Draft<Prepare> = {
      kind: 'prepare',
      epoch: prePrepare.epoch,
      view: prePrepare.view,
      sequence: prePrepare.sequence,
      digest: prePrepare.digest,
      replica: state.config.self,
    };
    sendDraft(state, 'all', prepare);
  }
  checkPrepared(state, entry);
  checkCommitted(state, entry);
}

/** PREPARE (4.2): one per backup per (view, sequence); a second with another digest is equivocation. */
export function onPrepare(state: ReplicaState, prepare: Prepare): Verdict {
  const outside = outsideViewOrWindow(state, prepare.view, prepare.sequence, prepare.replica);
  if (outside !== null) return outside;
  if (prepare.replica === primary(state)) return rejected('primary-prepare', prepare.replica);
  const entry = entryAt(state, prepare.sequence);
  resetEntryForView(entry, state.view);
  const refused = recordVote(state, entry.prepares, prepare);
  if (refused !== null) return refused;
  checkPrepared(state, entry);
  return ACCEPTED;
}

/** COMMIT (4.2): one per replica per (view, sequence). */
export function onCommit(state: ReplicaState, commit: Commit): Verdict {
  const outside = outsideViewOrWindow(state, commit.view, commit.sequence, commit.replica);
  if (outside !== null) return outside;
  const entry = entryAt(state, commit.sequence);
  resetEntryForView(entry, state.view);
  const refused = recordVote(state, entry.commits, commit);
  if (refused !== null) return refused;
  checkCommitted(state, entry);
  return ACCEPTED;
}

/**
 * Records a PREPARE or COMMIT in `votes`: one per replica per (view, sequence). The same vote
 * again is a duplicate; another digest from the same replica is equivocation, kept as
 * evidence. Returns the verdict on a vote it did not record, or null.
 */
function recordVote<V extends Prepare | Commit>(
  state: ReplicaState,
  votes: Map<ReplicaId, V>,
  vote: V,
): Verdict | null {
  const previous = votes.get(vote.replica);
  if (previous !== undefined) {
    if (bytesEqual(previous.digest, vote.digest)) return ignored('duplicate');
    state.out.evidence.push({ kind: 'equivocation', replica: vote.replica, first: previous, second: vote });
    return rejected('equivocation', vote.replica);
  }
  votes.set(vote.replica, vote);
  return null;
}

/**
 * prepared(m, v, n, i) (4.2): the signed PRE-PREPARE and quorum - 1 matching PREPAREs from
 * distinct backups. The certificate is persisted before this replica's COMMIT may leave (4.4:
 * it must appear in every later VIEW-CHANGE of this replica).
 */
export function checkPrepared(state: ReplicaState, entry: LogEntry): void {
  const prePrepare = entry.prePrepare;
  if (entry.sentCommit || prePrepare === null || !isSigned(prePrepare) || entry.view !== state.view) return;
  const matching: Prepare[] = [];
  for (const prepare of entry.prepares.values()) {
    if (bytesEqual(prepare.digest, prePrepare.digest)) matching.push(prepare);
  }
  const needed = state.config.quorum - 1;
  if (matching.length < needed) return;
  matching.sort((a, b) => a.replica - b.replica);
  const certificate = { prePrepare, prepares: matching.slice(0, needed) };
  entry.prepared = certificate;
  entry.sentCommit = true;
  persist(state, { kind: 'prepared', sequence: entry.sequence, certificate });
  const commit: Draft<Commit> = {
    kind: 'commit',
    epoch: prePrepare.epoch,
    view: prePrepare.view,
    sequence: prePrepare.sequence,
    digest: prePrepare.digest,
    replica: state.config.self,
  };
  sendDraft(state, 'all', commit);
}

/**
 * committed-local (4.2), with one strengthening: a quorum of matching COMMITs is enough on its
 * own, since it already proves that f + 1 correct replicas prepared the batch. This lets a
 * replica that missed the PREPARE phase finalize, and is what state transfer relies on.
 */
export function checkCommitted(state: ReplicaState, entry: LogEntry): void {
  if (entry.committed !== null || entry.commits.size < state.config.quorum) return;
  const byDigest = new Map<string, Commit[]>();
  for (const commit of entry.commits.values()) {
    const key = toHex(commit.digest);
    const group = byDigest.get(key);
    if (group === undefined) byDigest.set(key, [commit]);
    else group.push(commit);
  }
  for (const [key, commits] of byDigest) {
    if (commits.length < state.config.quorum) continue;
    commits.sort((a, b) => a.replica - b.replica);
    const first = commits[0]!;
    entry.committed = {
      view: first.view,
      digest: first.digest,
      digestKey: key,
      commits: commits.slice(0, state.config.quorum),
    };
    invariant(
      entry.executedKey === null || entry.executedKey === key,
      `sequence ${entry.sequence} committed ${key} after executing ${entry.executedKey}`,
    );
    executeCommitted(state);
    return;
  }
}

/** Executes committed batches in sequence order, for as long as the next one is available. */
export function executeCommitted(state: ReplicaState): void {
  for (;;) {
    const entry = state.log.get(state.lastExecuted + 1);
    if (entry === undefined || entry.committed === null) return;
    const batch = bodyFor(entry, entry.committed.digestKey);
    if (batch === null) {
      // Committed, but this replica never saw the batch: fetch it, with its certificate,
      // from a replica that executed it.
      requestState(state, entry.sequence);
      return;
    }
    execute(state, entry, batch);
  }
}

/**
 * Finalizes `batch` at the entry's sequence: the chain digest moves on, the batch is persisted
 * with its commit certificate, and its vertices that pass the delivery rule (`delivery.ts`) are
 * delivered in batch order, identically at every replica.
 */
export function execute(state: ReplicaState, entry: LogEntry, batch: Batch): void {
  const committed = entry.committed;
  invariant(committed !== null, 'execute needs a commit certificate');
  invariant(entry.sequence === state.lastExecuted + 1, 'batches execute in sequence order');
  const sequence = entry.sequence;
  const { positions, keys, vertices } = deliverBatch(state, sequence, batch);
  const expired = expireHeld(state, sequence);
  const chain = chainDigest(state.lastChainDigest, sequence, committed.digest);
  state.lastExecuted = sequence;
  state.lastChainDigest = chain;
  entry.executedKey = committed.digestKey;
  state.lastProgressTick = state.now;
  state.viewChangeAttempts = 0;
  persist(state, {
    kind: 'finalized',
    record: {
      sequence,
      view: committed.view,
      digest: committed.digest,
      batch,
      commits: committed.commits,
      chainDigest: chain,
      delivered: positions,
    },
  });
  state.out.deliveries.push({
    sequence,
    view: committed.view,
    digest: committed.digest,
    vertices,
    keys,
    positions,
    expired,
    chainDigest: chain,
    commits: committed.commits,
  });
  closeEpochIfRequested(state, sequence, vertices);
  if (sequence % state.config.checkpointInterval === 0) checkpointTaken(state, sequence, chain);
}

/**
 * As primary, orders queued vertices: one batch per free sequence, while the pipeline has room
 * and the sequence stays inside the watermarks (4.2: the primary cannot run ahead of h + L; see
 * `voteCeiling`).
 * While a sequence is in flight, fewer than `pipelineFillCount` queued vertices, holding fewer
 * than a batch's bytes, wait for the pipeline to drain: vertices forwarded by several backups
 * then share one sequence instead of paying a round's signatures each, and large vertices that
 * fill a batch by bytes do not wait for a count meant for small ones.
 */
export function proposeBatches(state: ReplicaState): void {
  if (!state.viewActive || !isPrimary(state)) return;
  const { pipelineDepth, pipelineFillCount, batchCountMax, batchBytesMax, self } = state.config;
  const ceiling = voteCeiling(state);
  while (state.queue.size > 0 || owesFill(state)) {
    const sequence = state.nextSequence;
    if (sequence > ceiling) return;
    const inFlight = sequence - 1 - state.lastExecuted;
    if (inFlight >= pipelineDepth) return;
    const filling = owesFill(state);
    if (inFlight > 0 && !filling && state.queue.size < pipelineFillCount && state.queuedBytes < batchBytesMax)
      return;
    const { batch, keys } = cutBatch(state, sequence, batchCountMax, batchBytesMax);
    // A closing epoch's sequences are ordered even empty (see `owesFill`).
    if (batch.length === 0 && !filling) continue;
    const digest = batchDigest(batch);
    const entry = entryAt(state, sequence);
    resetEntryForView(entry, state.view);
    const draft: Draft<PrePrepare> = {
      kind: 'pre-prepare',
      epoch: state.epoch,
      view: state.view,
      sequence,
      digest,
      batch: null,
      replica: self,
    };
    state.nextSequence = sequence + 1;
    for (const key of keys) state.proposedHashes.set(key, sequence);
    acceptPrePrepare(state, entry, draft, toHex(digest), batch);
    sendDraft(state, 'all', { ...draft, batch });
    emit(state, { kind: 'proposed', sequence, vertices: batch.length });
  }
}

/**
 * Notes the vertices of every batch accepted in this view and not executed yet as in flight,
 * after a view change or a restart left `proposedHashes` empty: a primary that queues one of
 * them again (a holder or its own restored client sends it on) must not order it a second time
 * while the first batch can still be final. The delivery rule would deliver it once anyway;
 * this keeps an honest primary from spending a batch slot on it.
 */
export function noteInFlight(state: ReplicaState): void {
  for (const [sequence, entry] of state.log) {
    if (sequence <= state.lastExecuted || entry.batch === null) continue;
    if (entry.prePrepare === null || entry.prePrepare.view !== state.view) continue;
    for (const vertex of entry.batch) state.proposedHashes.set(vertexKey(vertex), sequence);
  }
}

/**
 * Takes vertices from the front of the queue up to the batch limits (always at least one),
 * leaving out any already ordered or finalized, and any that could not be delivered at
 * `sequence` (an honest primary orders nothing the delivery rule would skip).
 */
function cutBatch(
  state: ReplicaState,
  sequence: number,
  countMax: number,
  bytesMax: number,
): { batch: Vertex[]; keys: string[] } {
  const batch: Vertex[] = [];
  const keys: string[] = [];
  let bytes = 0;
  for (const [key, queued] of state.queue) {
    const size = vertexPayloadBytes(queued.vertex);
    if (batch.length >= countMax || (batch.length > 0 && bytes + size > bytesMax)) break;
    dequeue(state, key, queued);
    if (state.delivered.has(key) || state.proposedHashes.has(key)) continue;
    if (!isDeliverableAt(queued.vertex, sequence, state.config.dedupHorizonSequences)) continue;
    batch.push(queued.vertex);
    keys.push(key);
    bytes += size;
  }
  return { batch, keys };
}
