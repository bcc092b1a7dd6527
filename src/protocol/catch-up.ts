/**
 * Catching up, the answering side: a peer's STATUS (PBFT's retransmission: a replica that makes
 * no progress says where it stands and its peers send what it misses) and state transfer
 * (finalized batches with their commit certificates, so that a replica behind the others needs
 * to trust none of them). How a replica notices it is behind and asks is in `behind.ts`.
 */

import { toHex } from '../crypto/digest.ts';
import { requestState, sendStateRequest, statusDraft } from './behind.ts';
import { isValidCommitCertificate } from './certificates.ts';
import type { Verdict } from './effects.ts';
import { attachBody, createLogEntry, isSigned } from './log.ts';
import type { Checkpoint, Draft, StateReply, StateRequest, Status } from './messages.ts';
import { execute, executeCommitted } from './normal-case.ts';
import { ACCEPTED, idInEpoch, ignored, type ReplicaState, rejected, relay, sendDraft } from './state.ts';
import { stateServeRange } from './state-reply.ts';
import { type Batch, batchDigest, batchPayloadBytes, type ReplicaId } from './types.ts';
import { helpBehindInView } from './view-timeouts.ts';

/**
 * STATUS: answers a peer with what it lacks, at most once per status interval per peer (a
 * Byzantine peer must not turn this into an amplifier): the NEW-VIEW of a view it has not
 * entered, this replica's VIEW-CHANGE when both change views, the stable checkpoint proof,
 * this replica's own status when it has executed more (the peer then fetches by state
 * transfer), and for the batches in flight the PRE-PREPARE and this replica's votes.
 */
export function onStatus(state: ReplicaState, status: Status, from: ReplicaId): Verdict {
  const peer = status.replica;
  if (from !== peer || peer === state.config.self) return ignored('not-needed');
  if (status.lastExecuted > state.lastExecuted) requestState(state, status.lastExecuted, peer);
  const answered = state.statusAnswered.get(peer);
  if (answered !== undefined && state.now - answered < state.config.statusIntervalTicks) {
    return ignored('rate-limited');
  }
  state.statusAnswered.set(peer, state.now);

  // A peer behind in views gets what moves it forward: the NEW-VIEW of the view this replica
  // is in, or, while this replica is still changing views, the timeout certificate it left with
  // and its VIEW-CHANGE (see `view-timeouts.ts`).
  const behindInView = status.view < state.view || (status.view === state.view && !status.viewActive);
  if (behindInView) helpBehindInView(state, peer);
  if (status.stableSequence < state.stable.sequence) {
    for (const checkpoint of state.stable.proof) relay(state, peer, checkpoint);
    sendOwnStableCheckpoint(state, peer);
  }
  for (const [sequence, votes] of state.checkpointVotes) {
    const own = votes.get(state.config.self);
    if (own !== undefined && sequence > status.stableSequence) relay(state, peer, own);
  }
  if (status.lastExecuted < state.lastExecuted) sendDraft(state, peer, statusDraft(state));
  if (status.view === state.view && status.viewActive && state.viewActive) relayInFlight(state, peer, status);
  return ACCEPTED;
}

/**
 * This replica's own CHECKPOINT for its stable checkpoint, when the proof lacks it and it has
 * executed that far. A replica that became stable on the others' votes before executing the
 * sequence signs no CHECKPOINT for it when it gets there (`checkpointTaken`); but a peer that
 * holds a Byzantine replica's conflicting vote for that sequence, which it keeps (one vote per
 * sender), can count only the honest replicas' votes, and may need exactly this one: without
 * it, that peer stays below the checkpoint for good and, as primary, stops at its high
 * watermark. The digest is the certified one, and the history this replica executed up to it
 * is the certified history (every batch came with its commit certificate; `checkpointTaken`
 * and `becomeStable` assert the digest where they know it), so the vote is one it would have
 * sent had it executed the sequence before the checkpoint became stable.
 */
function sendOwnStableCheckpoint(state: ReplicaState, peer: ReplicaId): void {
  const { stable } = state;
  const self = state.config.self;
  if (state.lastExecuted < stable.sequence || stable.sequence === 0) return;
  if (stable.proof.some((checkpoint) => checkpoint.replica === self)) return;
  const checkpoint: Draft<Checkpoint> = {
    kind: 'checkpoint',
    epoch: state.epoch,
    sequence: stable.sequence,
    stateDigest: stable.stateDigest,
    replica: self,
  };
  sendDraft(state, peer, checkpoint);
}

/**
 * For each sequence the peer has not executed: the PRE-PREPARE (with its batch while a byte
 * budget of two batches lasts), the commit certificate if this replica has one, else its own
 * PREPARE and COMMIT.
 */
function relayInFlight(state: ReplicaState, peer: ReplicaId, status: Status): void {
  let budget = 2 * state.config.batchBytesMax;
  const from = Math.max(status.lastExecuted, state.stable.sequence) + 1;
  const to = Math.min(state.highestAccepted, from + state.config.watermarkWindow - 1);
  for (let sequence = from; sequence <= to; sequence++) {
    const entry = state.log.get(sequence);
    if (entry === undefined || entry.view !== state.view) continue;
    const prePrepare = entry.prePrepare;
    if (prePrepare !== null && isSigned(prePrepare)) {
      const batch = entry.bodyKey === entry.digestKey ? entry.batch : null;
      const bytes = batch === null ? 0 : batchPayloadBytes(batch);
      if (batch !== null && batch.length > 0 && bytes <= budget) {
        budget -= bytes;
        relay(state, peer, { ...prePrepare, batch });
      } else {
        relay(state, peer, prePrepare);
      }
    }
    if (entry.committed !== null && entry.committed.view === state.view) {
      for (const commit of entry.committed.commits) relay(state, peer, commit);
      continue;
    }
    // This replica's own votes: relayed as signed, or signed again if its own copy never
    // came back (the same vote, so never a conflicting one).
    const { self } = state.config;
    const slot =
      prePrepare === null
        ? null
        : { epoch: prePrepare.epoch, view: prePrepare.view, sequence, digest: prePrepare.digest };
    const prepare = entry.prepares.get(self);
    if (prepare !== undefined) relay(state, peer, prepare);
    else if (slot !== null && prePrepare!.replica !== self)
      sendDraft(state, peer, { ...slot, kind: 'prepare', replica: self });
    const commit = entry.commits.get(self);
    if (commit !== undefined) relay(state, peer, commit);
    else if (slot !== null && entry.sentCommit)
      sendDraft(state, peer, { ...slot, kind: 'commit', replica: self });
  }
}

/**
 * STATE-REQUEST: the shell answers from its store, at most one request per peer per tick (a
 * peer must not make this replica read and send without bound). A request that comes when its
 * peer was served this tick waits for the next one, replacing any other it had waiting: a
 * replica catching up asks again as soon as a reply is applied, often within the tick, and
 * dropping that request stalled its transfer for a whole state-transfer timeout.
 */
export function onStateRequest(state: ReplicaState, request: StateRequest, from: ReplicaId): Verdict {
  const peer = request.replica;
  if (from !== peer || peer === state.config.self) return ignored('not-needed');
  if (request.fromSequence > state.lastExecuted || request.fromSequence < 1) return ignored('not-needed');
  if (state.stateServed.get(peer) === state.now) {
    state.stateDeferred.set(peer, request);
    return ACCEPTED;
  }
  return serveStateRequest(state, request, peer);
}

/** On a tick: answers the requests that waited for it. */
export function serveDeferredStateRequests(state: ReplicaState): void {
  if (state.stateDeferred.size === 0) return;
  const deferred = [...state.stateDeferred];
  state.stateDeferred.clear();
  for (const [peer, request] of deferred) {
    if (request.fromSequence <= state.lastExecuted) serveStateRequest(state, request, peer);
  }
}

function serveStateRequest(state: ReplicaState, request: StateRequest, peer: ReplicaId): Verdict {
  state.stateServed.set(peer, state.now);
  // One epoch's history per reply: the epoch of the first sequence asked for.
  const range = stateServeRange(state, request);
  if (range === null) return ignored('not-needed');
  // The reply is signed under this replica's id in the epoch it names; one that was not a
  // validator of it leaves the request to a peer that was.
  const signer = idInEpoch(state, range.epoch, state.config.self);
  if (signer === null) return ignored('not-needed');
  state.out.serveState.push({
    to: peer,
    epoch: range.epoch,
    signer,
    fromSequence: request.fromSequence,
    toSequence: range.toSequence,
  });
  return ACCEPTED;
}

/**
 * STATE-REPLY: each entry is checked against its commit certificate and executed in order.
 * Entries that are not the next sequence to execute are skipped; the first invalid one is
 * rejected and blamed on the replica that signed the reply.
 */
export function onStateReply(state: ReplicaState, reply: StateReply, from: ReplicaId): Verdict {
  if (from !== reply.replica || reply.replica === state.config.self) return ignored('not-needed');
  let executed = 0;
  for (const finalized of reply.entries) {
    if (finalized.sequence <= state.lastExecuted) continue;
    if (finalized.sequence !== state.lastExecuted + 1) break;
    const digest = batchDigest(finalized.batch);
    if (
      !isValidCommitCertificate(
        state.config,
        reply.epoch,
        finalized.view,
        finalized.sequence,
        digest,
        finalized.commits,
      )
    ) {
      return rejected('invalid-commit-certificate', reply.replica);
    }
    installCommitted(state, finalized.sequence, finalized.view, digest, finalized.batch, finalized.commits);
    executed++;
  }
  if (executed === 0) return ignored('not-needed');
  executeCommitted(state);
  const transfer = state.stateTransfer;
  if (transfer !== null) {
    if (state.lastExecuted >= transfer.target) state.stateTransfer = null;
    else if (transfer.peer === reply.replica) sendStateRequest(state);
  }
  return ACCEPTED;
}

function installCommitted(
  state: ReplicaState,
  sequence: number,
  view: number,
  digest: Uint8Array,
  batch: Batch,
  commits: StateReply['entries'][number]['commits'],
): void {
  const key = toHex(digest);
  const entry = state.log.get(sequence) ?? createLogEntry(sequence, state.view);
  entry.committed = { view, digest, digestKey: key, commits };
  attachBody(entry, key, batch);
  execute(state, entry, batch);
  if (sequence <= state.stable.sequence) state.log.delete(sequence);
}
