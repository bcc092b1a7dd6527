/**
 * The switch from a closing epoch to the next (docs/reconfiguration.md, "The hand-over"): when
 * the checkpoint at end(e) is stable and executed here, the replica takes the next epoch's
 * configuration (its id there is its index in the new validator list), starts its view 0 from
 * that checkpoint, and carries over only what is keyed by vertex, not by replica id. A replica
 * that is not in the new epoch stops voting.
 */

import { bytesEqual } from '../crypto/digest.ts';
import { requestState, sendStateRequest, statusDraft } from './behind.ts';
import { onStateRequest } from './catch-up.ts';
import { becomeStable } from './checkpoints.ts';
import type { ReplicaConfig } from './config.ts';
import type { Verdict } from './effects.ts';
import { configIn, learnerConfigIn, ownNode } from './epoch-config.ts';
import { invariant } from './errors.ts';
import { joinsAsGiven, learnsIn } from './learner.ts';
import type { Checkpoint, CheckpointCertificate, Message } from './messages.ts';
import { forwardPending } from './requests.ts';
import { clearQueue, emit, ignored, persist, type ReplicaState, relay, sendDraft } from './state.ts';
import type { ReplicaId } from './types.ts';

/** What a replica keeps of the epoch before its current one, to check the hand-over certificate. */
export interface Handover {
  /** The epoch that ended. */
  readonly epoch: number;
  /** Its configuration: the certificate is checked against its quorum. */
  readonly config: ReplicaConfig;
  /** Its last sequence: the hand-over checkpoint's. */
  readonly end: number;
  /** The hand-over checkpoint, certified by the epoch that ended; null until known (a restart). */
  readonly certificate: CheckpointCertificate | null;
}

/**
 * Switches to the next epoch if the current one ended here: its last checkpoint is executed and
 * stable, or executed while f + 1 peers are in a later epoch. Such a replica is catching up by
 * state transfer through epochs the others left long ago (their hand-over certificates are no
 * longer kept); it switches without the certificate, which leaves its stable checkpoint below
 * the new epoch's start and so its votes at none until a checkpoint of the new epoch is stable
 * (`voteCeiling`): it follows, it does not lead.
 */
export function switchEpochIfEnded(state: ReplicaState): void {
  const end = state.epochEnd;
  if (end === null || state.lastExecuted < end) return;
  // A learner executed only certified entries and votes in none of it: the end is enough.
  if (
    !state.learning &&
    state.stable.sequence !== end &&
    state.laterEpochPeers.size < state.config.weakQuorum
  )
    return;
  const next = state.nextEpoch;
  invariant(next !== null, 'a closed epoch names the next');
  const previous = state.config;
  const oldNodes = previous.reconfiguration?.nodes ?? [];
  const node = ownNode(previous);
  const number = state.epoch + 1;
  const learning = learnsIn(state, number);
  const opening = state.epochs.find((epoch) => epoch.number === number)?.opening ?? new Uint8Array(0);
  const config = learning ? learnerConfigIn(previous, next) : configIn(previous, node, next);
  const certificate = state.stable.sequence === end ? state.stable : null;
  state.handover = { epoch: state.epoch, config: previous, end, certificate };
  const transfer = state.stateTransfer;
  const wasLearning = state.learning;
  state.epoch = number;
  state.epochEnd = null;
  state.nextEpoch = null;
  state.epochNodes[state.epoch] = next.nodes;
  resetForEpoch(state);
  if (learning) {
    // Still walking towards the epoch it joins: on to the next one's entries.
    state.config = config!;
    state.stateTransfer =
      transfer === null ? null : { ...transfer, peer: transfer.peer % state.config.replicaCount };
    persist(state, viewRecord(state, false));
    return;
  }
  if (wasLearning && !joinsAsGiven(state, number, opening)) {
    // The chain its operator gave it is not the history: it never votes on the strength of it.
    state.learning = false;
    state.member = false;
    state.viewActive = false;
    persist(state, viewRecord(state, false));
    emit(state, { kind: 'join-refused', epoch: number });
    return;
  }
  state.learning = false;
  if (config === null) {
    // Not a validator of the new epoch: it votes for nothing from here on. The client vertices
    // it holds go to the validators that stay (the shell hands them over): their other holders
    // may be leaving with it, and an acknowledged vertex must still become final.
    const handOver = [...state.pending.values()].map((pending) => pending.vertex);
    state.member = false;
    state.viewActive = false;
    state.pending.clear();
    state.heldPerSource.clear();
    persist(state, viewRecord(state, false));
    emit(state, { kind: 'left-validator-set', epoch: state.epoch, pending: handOver });
    return;
  }
  state.config = config;
  state.member = true;
  const remap = (id: ReplicaId): ReplicaId | null => {
    const index = next.nodes.indexOf(oldNodes[id] ?? '');
    return index < 0 ? null : index;
  };
  remapSources(state, remap);
  if (wasLearning) {
    // A joiner in its epoch: a member behind the others, who tell it where they stand.
    state.lastStatusTick = state.now;
    sendDraft(state, 'others', statusDraft(state));
  } else if (transfer !== null && transfer.target > state.lastExecuted) {
    // A transfer under way goes on into the new epoch: its target is a sequence, not an epoch.
    const peer = remap(transfer.peer);
    state.stateTransfer = {
      ...transfer,
      peer: peer === null || peer === config.self ? (config.self + 1) % config.replicaCount : peer,
    };
    sendStateRequest(state);
  }
  persist(state, viewRecord(state, true));
  emit(state, {
    kind: 'epoch-started',
    epoch: state.epoch,
    replicaCount: config.replicaCount,
    start: end + 1,
  });
  forwardPending(state);
}

function viewRecord(state: ReplicaState, active: boolean) {
  return {
    kind: 'view',
    epoch: state.epoch,
    view: 0,
    active,
    newView: null,
    timeoutCertificate: [],
  } as const;
}

/**
 * Everything kept by replica id or by view belongs to the old epoch: views restart at 0, and
 * nothing of the new epoch has arrived yet (its messages were dropped until now).
 */
function resetForEpoch(state: ReplicaState): void {
  state.view = 0;
  state.viewActive = true;
  state.newView = null;
  state.viewChanges.clear();
  state.viewChangeAttempts = 0;
  state.newViewTimerStart = null;
  state.timeouts.clear();
  state.timeoutCertificate = [];
  state.lastComplaintTick = null;
  state.complaintReason = null;
  state.behindHelped.clear();
  state.viewStartTick = state.now;
  // Nothing above end(e) was accepted (no vote may reach past it), and everything up to it ran.
  state.log.clear();
  state.highestAccepted = state.lastExecuted;
  state.nextSequence = state.lastExecuted + 1;
  state.checkpointVotes.clear();
  state.ownCheckpoints.clear();
  clearQueue(state);
  state.proposedHashes.clear();
  state.statusAnswered.clear();
  state.stateServed.clear();
  state.stateDeferred.clear();
  state.aheadSeen.clear();
  state.laterEpochPeers.clear();
  state.handoverVotes.clear();
  state.viewChangeWithheld = null;
  state.stateTransfer = null;
  state.heldVertexExpired = false;
  state.lastProgressTick = state.now;
}

/**
 * Client vertices held for a peer, and the peers that hold this replica's own, are renumbered
 * into the new epoch; one held for a peer that left is this replica's own from now on (it was
 * acknowledged to a client, so it must still become final), and a watch for a peer that left
 * ends (that peer's clients ask elsewhere).
 */
function remapSources(state: ReplicaState, remap: (id: ReplicaId) => ReplicaId | null): void {
  const self = state.config.self;
  state.heldPerSource.clear();
  for (const [key, pending] of state.pending) {
    const source = remap(pending.source) ?? self;
    const copies =
      pending.copies === null
        ? null
        : pending.copies.map(remap).filter((id): id is ReplicaId => id !== null && id !== self);
    state.pending.set(key, { ...pending, source, copies });
    if (source !== self) state.heldPerSource.set(source, (state.heldPerSource.get(source) ?? 0) + 1);
  }
  state.watchedPerSource.clear();
  for (const [key, watched] of state.watched) {
    const source = remap(watched.source);
    if (source === null || source === self) {
      state.watched.delete(key);
      continue;
    }
    state.watched.set(key, { ...watched, source });
    state.watchedPerSource.set(source, (state.watchedPerSource.get(source) ?? 0) + 1);
  }
}

/**
 * A message of an epoch other than the replica's counts toward nothing here, but it says where
 * its sender stands:
 *
 * - a STATUS of a later epoch means this replica is behind (see `noteLaterEpoch`);
 * - a STATE-REQUEST of any closed epoch is served with that epoch's history, so that a replica
 *   several epochs behind walks through them;
 * - a STATUS of the epoch that just ended, from a peer below its hand-over checkpoint (its
 *   CHECKPOINTs were lost, or it was down), is answered with the hand-over certificate, at most
 *   once per status interval, so that it switches too.
 *
 * Ids differ between epochs, so the peer is the one the link names (`from`, in this epoch's
 * numbering), not the id in the message.
 */
export function onOtherEpoch(
  state: ReplicaState,
  message: Message & { epoch: number },
  from: ReplicaId,
): Verdict {
  if (message.epoch > state.epoch) {
    noteLaterEpoch(state, message, from);
    return ignored('other-epoch');
  }
  const closed = state.epochs.find((epoch) => epoch.number === message.epoch)?.end ?? null;
  if (message.kind === 'state-request' && closed !== null && state.member)
    return onStateRequest(state, { ...message, replica: from }, from);
  const handover = state.handover;
  if (handover === null || message.epoch !== handover.epoch || !state.member) return ignored('other-epoch');
  if (message.kind === 'checkpoint') {
    collectHandoverVote(state, handover, message);
    return ignored('other-epoch');
  }
  if (message.kind !== 'status' || handover.certificate === null) return ignored('other-epoch');
  if (message.stableSequence >= handover.end) return ignored('other-epoch');
  const answered = state.statusAnswered.get(from);
  if (answered !== undefined && state.now - answered < state.config.statusIntervalTicks)
    return ignored('rate-limited');
  state.statusAnswered.set(from, state.now);
  for (const checkpoint of handover.certificate.proof) relay(state, from, checkpoint);
  return ignored('other-epoch');
}

/**
 * A replica that switched without the hand-over certificate cannot back a VIEW-CHANGE until it
 * holds one (`sendViewChange`); if f + 1 members switched that way, no view change of the new
 * epoch could complete. Its peers relay their stable checkpoint's CHECKPOINTs when its STATUS
 * shows it below theirs (`onStatus`), and those of the hand-over, though of the epoch before,
 * are gathered here until the previous epoch's quorum agrees: that is the certificate.
 */
function collectHandoverVote(state: ReplicaState, handover: Handover, vote: Checkpoint): void {
  if (vote.sequence !== handover.end || state.stable.sequence >= handover.end) return;
  if (state.handoverVotes.has(vote.replica)) return;
  state.handoverVotes.set(vote.replica, vote);
  const matching = [...state.handoverVotes.values()]
    .filter((other) => bytesEqual(other.stateDigest, vote.stateDigest))
    .sort((a, b) => a.replica - b.replica);
  if (matching.length < handover.config.quorum) return;
  const certificate = {
    sequence: handover.end,
    stateDigest: vote.stateDigest,
    proof: matching.slice(0, handover.config.quorum),
  };
  state.handoverVotes.clear();
  state.handover = { ...handover, certificate };
  becomeStable(state, certificate);
}

/**
 * A peer's STATUS of a later epoch (the shell cannot check its signature against a validator set
 * this replica does not know yet; the link it came on names the peer). With f + 1 such peers,
 * one of them correct, the cluster moved on: fetch the finalized batches up to where the
 * (f + 1)-th highest of them stands, through every epoch in between.
 */
function noteLaterEpoch(state: ReplicaState, message: Message, from: ReplicaId): void {
  if (message.kind !== 'status' || from === state.config.self) return;
  state.laterEpochPeers.set(from, message.lastExecuted);
  const { weakQuorum } = state.config;
  if (state.laterEpochPeers.size < weakQuorum) return;
  const executed = [...state.laterEpochPeers.values()].sort((a, b) => b - a);
  requestState(state, executed[weakQuorum - 1]!);
}
