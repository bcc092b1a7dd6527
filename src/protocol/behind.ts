/**
 * A replica behind its peers: how it notices (STATUS after a quiet interval, votes of f + 1
 * peers above its window) and what it asks for (state transfer, one request outstanding at a
 * time). The serving side is in `catch-up.ts`. This side executes nothing itself, so the
 * normal case and checkpoints can call it without an import cycle.
 */

import { ownNode } from './epoch-config.ts';
import type { Draft, StateRequest, Status } from './messages.ts';
import { emit, type ReplicaState, sendDraft, voteCeiling } from './state.ts';
import type { ReplicaId } from './types.ts';

/** What this replica tells its peers about where it stands. */
export function statusDraft(state: ReplicaState): Draft<Status> {
  return {
    kind: 'status',
    epoch: state.epoch,
    view: state.view,
    viewActive: state.viewActive,
    lastExecuted: state.lastExecuted,
    stableSequence: state.stable.sequence,
    replica: state.config.self,
  };
}

/** Sends STATUS to every other replica when nothing has happened for a status interval. */
export function maybeSendStatus(state: ReplicaState): void {
  const quietSince = Math.max(state.lastProgressTick, state.lastStatusTick);
  if (state.now - quietSince < state.config.statusIntervalTicks) return;
  state.lastStatusTick = state.now;
  sendDraft(state, 'others', statusDraft(state));
}

/**
 * A peer signed a vote for `sequence`, above this replica's window, in its view. Once f + 1
 * peers have (so at least one correct replica moved on), this replica asks at once for what it
 * lacks: the finalized batches up to where a quorum has surely executed, by state transfer,
 * and by STATUS the stable checkpoint that moves its window and where its peers stand. Waiting instead for a quiet status interval or the next checkpoint left a
 * restarted replica idle for seconds under load. f Byzantine peers alone cannot start this.
 */
export function noteAhead(state: ReplicaState, peer: ReplicaId, sequence: number): void {
  const { self, weakQuorum, watermarkWindow, statusIntervalTicks } = state.config;
  if (peer === self || sequence <= (state.aheadSeen.get(peer) ?? 0)) return;
  state.aheadSeen.set(peer, sequence);
  const windowEnd = voteCeiling(state);
  const ahead: number[] = [];
  for (const seen of state.aheadSeen.values()) if (seen > windowEnd) ahead.push(seen);
  if (ahead.length < weakQuorum) return;
  ahead.sort((a, b) => b - a);
  // f + 1 peers, one of them correct, voted at this sequence or above, so that correct one
  // holds a stable checkpoint within a window below it: a quorum executed that far. The target
  // must be one that some replica has executed: a transfer that cannot finish keeps this
  // replica from complaining about the view (see `timers.ts`), and the view may need it.
  requestState(state, ahead[weakQuorum - 1]! - watermarkWindow);
  if (state.now - state.lastStatusTick >= statusIntervalTicks) {
    state.lastStatusTick = state.now;
    sendDraft(state, 'others', statusDraft(state));
  }
}

/**
 * Starts (or widens) a state transfer up to `target`: one request outstanding at a time, sent
 * again to the next peer when it times out.
 */
export function requestState(state: ReplicaState, target: number, peer?: ReplicaId): void {
  if (target <= state.lastExecuted) return;
  const transfer = state.stateTransfer;
  if (transfer !== null) {
    if (target > transfer.target) transfer.target = target;
    return;
  }
  state.stateTransfer = {
    target,
    peer: peer ?? nextPeer(state, state.config.self),
    sentTick: state.now,
    startTick: state.now,
  };
  sendStateRequest(state);
}

function nextPeer(state: ReplicaState, after: ReplicaId): ReplicaId {
  const { replicaCount, self } = state.config;
  let peer = (after + 1) % replicaCount;
  if (peer === self) peer = (peer + 1) % replicaCount;
  return peer;
}

export function sendStateRequest(state: ReplicaState): void {
  const transfer = state.stateTransfer;
  if (transfer === null || transfer.peer === state.config.self) return;
  const fromSequence = state.lastExecuted + 1;
  const toSequence = Math.min(transfer.target, fromSequence + state.config.stateEntriesMax - 1);
  transfer.sentTick = state.now;
  const request: Draft<StateRequest> = {
    kind: 'state-request',
    ...requester(state),
    fromSequence,
    toSequence,
  };
  sendDraft(state, transfer.peer, request);
  emit(state, { kind: 'state-transfer-requested', from: fromSequence, to: toSequence, peer: transfer.peer });
}

/**
 * Who asks, and in which epoch: a replica's id in its own; a learner's in the epoch it joins,
 * the only one where it has an id and a key its peers can check.
 */
function requester(state: ReplicaState): { epoch: number; replica: ReplicaId } {
  const joining = state.config.reconfiguration?.joining;
  if (!state.learning || joining === undefined) return { epoch: state.epoch, replica: state.config.self };
  return { epoch: joining.epoch, replica: joining.nodes.indexOf(ownNode(state.config)) };
}

/** On a tick: an unanswered state request goes to the next peer. */
export function stateTransferTick(state: ReplicaState): void {
  const transfer = state.stateTransfer;
  if (transfer === null) return;
  if (state.lastExecuted >= transfer.target) {
    state.stateTransfer = null;
    return;
  }
  if (state.now - transfer.sentTick < state.config.stateTransferTimeoutTicks) return;
  transfer.peer = nextPeer(state, transfer.peer);
  sendStateRequest(state);
}
