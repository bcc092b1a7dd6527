/**
 * View changes (Castro and Liskov 4.4): a replica that suspects the primary moves to the next
 * view and sends VIEW-CHANGE with its stable checkpoint and prepared certificates; the new
 * primary gathers a quorum and sends NEW-VIEW, which every replica recomputes and checks
 * before it enters the view.
 */
import { toHex } from '../crypto/digest.ts';
import { newViewFault, planNewView, viewChangeFault } from './certificates.ts';
import { becomeStable } from './checkpoints.ts';
import type { Verdict } from './effects.ts';
import { bodyFor, NULL_DIGEST_KEY, resetEntryForView } from './log.ts';
import type { Draft, NewView, PrePrepare, PreparedCertificate, ViewChange, ViewTimeout } from './messages.ts';
import { acceptPrePrepare, noteInFlight } from './normal-case.ts';
import { forwardPending } from './requests.ts';
import {
  ACCEPTED,
  clearQueue,
  emit,
  entryAt,
  ignored,
  isPrimary,
  persist,
  primary,
  type ReplicaState,
  rejected,
  sendDraft,
} from './state.ts';
import type { ReplicaId } from './types.ts';

/** The signature placeholder of a nested message the shell must sign (see `Outbound`). */
export const UNSIGNED = new Uint8Array(0);

/**
 * Sends this replica's VIEW-CHANGE for `view`, unless its stable checkpoint lies below its
 * epoch's start: a replica that caught up through an epoch without its hand-over certificate
 * (`switchEpochIfEnded`) can prove nothing there, and a VIEW-CHANGE it cannot back would be
 * refused as invalid and blamed on it. It follows the view change the others make.
 */
export function sendViewChange(state: ReplicaState, view: number): void {
  if (state.handover !== null && state.stable.sequence < state.handover.end) {
    state.viewChangeWithheld = view;
    return;
  }
  state.viewChangeWithheld = null;
  sendDraft(state, 'all', buildViewChange(state, view));
}

/**
 * Sends the VIEW-CHANGE `sendViewChange` held back, once this replica holds the hand-over
 * certificate and is still changing to that view. Without it, a new primary that switched
 * without the certificate never sent its own VIEW-CHANGE and, with f peers silent, never had
 * the quorum for its NEW-VIEW (simulator seed 335 with 7 replicas, 2 Byzantine, --reconfigure).
 */
export function sendWithheldViewChange(state: ReplicaState): void {
  const view = state.viewChangeWithheld;
  if (view === null) return;
  if (view !== state.view || state.viewActive) {
    state.viewChangeWithheld = null;
    return;
  }
  sendViewChange(state, view);
}

/** This replica's VIEW-CHANGE for `view`: its stable checkpoint and its prepared certificates. */
export function buildViewChange(state: ReplicaState, view: number): Draft<ViewChange> {
  const prepared: PreparedCertificate[] = [];
  const h = state.stable.sequence;
  const sequences = [...state.log.keys()].filter((sequence) => sequence > h).sort((a, b) => a - b);
  for (const sequence of sequences) {
    const certificate = state.log.get(sequence)!.prepared;
    if (certificate !== null) prepared.push(certificate);
  }
  return {
    kind: 'view-change',
    epoch: state.epoch,
    view,
    checkpoint: state.stable,
    prepared,
    replica: state.config.self,
  };
}

/**
 * Moves to `view` and sends VIEW-CHANGE (4.4), with a timeout certificate for the views below
 * it (`view-timeouts.ts`) or having joined f + 1 replicas already there. From here until
 * NEW-VIEW the replica accepts only checkpoint, view-change, new-view and catch-up messages.
 */
export function startViewChange(
  state: ReplicaState,
  view: number,
  reason: 'timeout' | 'joined' | 'new-view-timeout',
  certificate: readonly ViewTimeout[] = [],
): void {
  // A timeout is a suspicion of the primary that failed to make progress (or, while changing
  // views, of the new primary that failed to send NEW-VIEW); joining others blames nobody.
  if (reason === 'timeout' || reason === 'new-view-timeout')
    state.out.suspicions.push({ kind: 'timeout', replica: primary(state), view: state.view });
  state.view = view;
  state.viewActive = false;
  state.newView = null;
  state.newViewTimerStart = null;
  state.viewStartTick = state.now;
  state.heldVertexExpired = false;
  state.lastComplaintTick = null;
  state.complaintReason = null;
  state.timeoutCertificate = certificate;
  // Queued vertices belong to the old primary's pipeline; their senders forward them again.
  clearQueue(state);
  state.proposedHashes.clear();
  persist(state, {
    kind: 'view',
    epoch: state.epoch,
    view,
    active: false,
    newView: null,
    timeoutCertificate: certificate,
  });
  sendViewChange(state, view);
  emit(state, { kind: 'view-change-started', view, reason });
  checkViewChangeQuorum(state);
}

/**
 * VIEW-CHANGE (4.4). A valid one is kept (the highest view per sender). With f + 1 of them for
 * views above its own, a replica joins the smallest such view: at least one correct replica
 * wants it, and waiting for its own timer would only slow the change down.
 */
export function onViewChange(state: ReplicaState, viewChange: ViewChange): Verdict {
  if (viewChange.view < state.view || (viewChange.view === state.view && state.viewActive)) {
    return ignored('stale-view');
  }
  const fault = viewChangeFault(state.config, viewChange, state.genesis, state.handover);
  if (fault !== null) return rejected(fault, viewChange.replica);
  const previous = state.viewChanges.get(viewChange.replica);
  if (previous !== undefined && previous.view >= viewChange.view) return ignored('duplicate');
  state.viewChanges.set(viewChange.replica, viewChange);

  const higher: number[] = [];
  for (const [replica, held] of state.viewChanges) {
    if (replica !== state.config.self && held.view > state.view) higher.push(held.view);
  }
  if (higher.length >= state.config.weakQuorum) {
    startViewChange(state, Math.min(...higher), 'joined');
    return ACCEPTED;
  }
  checkViewChangeQuorum(state);
  return ACCEPTED;
}

/**
 * With a quorum of VIEW-CHANGEs for the view being changed to, the NEW-VIEW timer starts; the
 * new primary builds NEW-VIEW, persists it (it must never send two different ones for a view)
 * and sends it.
 */
function checkViewChangeQuorum(state: ReplicaState): void {
  if (state.viewActive) return;
  const forView: ViewChange[] = [];
  let atOrAbove = 0;
  for (const held of state.viewChanges.values()) {
    if (held.view === state.view) forView.push(held);
    if (held.view >= state.view) atOrAbove++;
  }
  // The NEW-VIEW timer starts once a quorum has given up on the views below this one, whether
  // their VIEW-CHANGE is for this view or a later one (4.5.2 counts 2f + 1 VIEW-CHANGEs for
  // v + 1; a replica that moved on to v + 2 has left v + 1 too, and only its latest VIEW-CHANGE
  // is kept). Counting this view's only, a replica could wait for a silent primary forever:
  // with f + 1 replicas (itself included) here and the others one view further on, nobody
  // would reach a quorum here nor f + 1 further on to join them (found by the simulator with
  // one silent replica, n = 4).
  if (atOrAbove >= state.config.quorum && state.newViewTimerStart === null)
    state.newViewTimerStart = state.now;
  if (forView.length < state.config.quorum) return;
  if (!isPrimary(state) || state.newView !== null) return;
  forView.sort((a, b) => a.replica - b.replica);
  const chosen = forView.slice(0, state.config.quorum);
  const plan = planNewView(state.config, state.epoch, state.view, chosen);
  const newView: Draft<NewView> = {
    kind: 'new-view',
    epoch: state.epoch,
    view: state.view,
    viewChanges: chosen,
    prePrepares: plan.prePrepares.map((prePrepare) => ({ ...prePrepare, signature: UNSIGNED })),
    replica: state.config.self,
  };
  state.newView = newView;
  persist(state, {
    kind: 'view',
    epoch: state.epoch,
    view: state.view,
    active: false,
    newView,
    timeoutCertificate: state.timeoutCertificate,
  });
  sendDraft(state, 'all', newView);
}

/** NEW-VIEW (4.4): checked by recomputing it from its VIEW-CHANGEs, then the view is entered. */
export function onNewView(state: ReplicaState, newView: NewView, from: ReplicaId): Verdict {
  if (newView.view < state.view || (newView.view === state.view && state.viewActive)) {
    return ignored('stale-view');
  }
  const fault = newViewFault(state.config, newView, state.genesis, state.handover);
  if (fault !== null) {
    return rejected(fault, newView.replica === primary(state, newView.view) ? newView.replica : from);
  }
  enterView(state, newView);
  return ACCEPTED;
}

/**
 * Enters the view a NEW-VIEW installs: adopts the latest stable checkpoint among its
 * VIEW-CHANGEs, accepts its PRE-PREPAREs (sending PREPARE for each, 4.4) and hands this
 * replica's pending vertices to the new primary.
 */
function enterView(state: ReplicaState, newView: NewView): void {
  const plan = planNewView(state.config, newView.epoch, newView.view, newView.viewChanges);
  state.view = newView.view;
  state.viewActive = true;
  state.newView = newView;
  state.newViewTimerStart = null;
  state.viewStartTick = state.now;
  state.heldVertexExpired = false;
  state.lastComplaintTick = null;
  state.complaintReason = null;
  state.timeoutCertificate = [];
  state.highestAccepted = state.lastExecuted;
  for (const [replica, timeout] of state.timeouts)
    if (timeout.view < newView.view) state.timeouts.delete(replica);
  persist(state, {
    kind: 'view',
    epoch: newView.epoch,
    view: newView.view,
    active: true,
    newView,
    timeoutCertificate: [],
  });
  for (const [replica, held] of state.viewChanges) {
    if (held.view <= newView.view) state.viewChanges.delete(replica);
  }
  if (plan.checkpoint.sequence > state.stable.sequence) becomeStable(state, plan.checkpoint);
  for (const entry of state.log.values()) resetEntryForView(entry, newView.view);
  let last = state.stable.sequence;
  for (const prePrepare of newView.prePrepares) {
    if (prePrepare.sequence <= state.stable.sequence) continue;
    const entry = entryAt(state, prePrepare.sequence);
    const key = toHex(prePrepare.digest);
    // A re-proposed batch is prepared without its body: its digest is already backed by a
    // prepared certificate, so f + 1 correct replicas hold the batch and will serve it.
    const batch = key === NULL_DIGEST_KEY ? [] : bodyFor(entry, key);
    acceptPrePrepare(state, entry, prePrepare as PrePrepare, key, batch);
    last = prePrepare.sequence;
  }
  if (isPrimary(state)) state.nextSequence = Math.max(last, state.stable.sequence) + 1;
  emit(state, { kind: 'view-entered', view: newView.view, primary: primary(state) });
  noteInFlight(state);
  forwardPending(state);
}
