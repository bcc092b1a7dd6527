/**
 * Leaving a view only together: VIEW-TIMEOUT messages and timeout certificates.
 *
 * In PBFT as written (4.4) a replica whose timer expires moves to the next view at once and
 * stops taking part in the current one. Alone, that is harmful: if the others go on making
 * progress (the replica was slow, restarted or cut off for a moment), it stays in the higher
 * view, votes in neither, and uses up the one fault a four-replica cluster tolerates, for as
 * long as the others have no reason to change views (minutes, in runs with faults).
 *
 * So a replica whose timer expires (or whose NEW-VIEW does not come) only says so: it
 * broadcasts VIEW-TIMEOUT for its view, again once per timeout while the reason lasts, and goes
 * on taking part in the view. It leaves the view only once it holds a timeout certificate: a
 * quorum of VIEW-TIMEOUTs for that view or a later one, from distinct replicas. At least f + 1
 * correct replicas gave up on the view then, so the view cannot make progress for long without
 * them, and the certificate is proof anyone can check: a replica that left carries it
 * (persisted with its view) and hands it to any replica it finds in a lower view, which then
 * leaves too. Nobody is ever alone in a higher view for longer than it takes a message to
 * reach the others.
 *
 * Safety is PBFT's: the certificate decides only when a replica leaves a view, and leaving is
 * always safe; VIEW-CHANGE, NEW-VIEW and what they carry are unchanged.
 */
import type { Verdict } from './effects.ts';
import { isSigned } from './log.ts';
import type { Draft, ViewTimeout } from './messages.ts';
import { askOthersToHold } from './requests.ts';
import { ACCEPTED, currentTimeout, ignored, primary, type ReplicaState, relay, sendDraft } from './state.ts';
import type { ReplicaId } from './types.ts';
import { startViewChange } from './view-change.ts';

/**
 * Gives up on `state.view`: broadcasts VIEW-TIMEOUT for it, at most once per current timeout
 * (it is sent again while the reason lasts, since it may be lost).
 */
export function complainAboutView(state: ReplicaState, reason: 'timeout' | 'banned'): void {
  const last = state.lastComplaintTick;
  if (reason === 'timeout' && last !== null && state.now - last < currentTimeout(state)) return;
  state.lastComplaintTick = state.now;
  state.complaintReason ??= reason;
  const timeout: Draft<ViewTimeout> = {
    kind: 'view-timeout',
    epoch: state.epoch,
    view: state.view,
    replica: state.config.self,
  };
  sendDraft(state, 'all', timeout);
}

/**
 * The shell cannot reach `replica`: if it leads the active view, give up on the view now, and
 * ask the other peers to hold what it was asked to.
 */
export function onUnreachable(state: ReplicaState, replica: ReplicaId): void {
  if (!state.viewActive || replica === state.config.self || primary(state) !== replica) return;
  complainAboutView(state, 'timeout');
  askOthersToHold(state);
}

/**
 * The detector banned `replica`: if it leads the view in force or the one coming, give up on
 * that view now rather than at the next timeout. The view is left once a quorum has.
 */
export function onBanned(state: ReplicaState, replica: ReplicaId): void {
  if (replica === state.config.self || primary(state) !== replica) return;
  complainAboutView(state, 'banned');
}

/**
 * VIEW-TIMEOUT: the highest one of each replica is kept (giving up on a view means giving up on
 * every view below it too). Relayed ones are as good as direct ones: each is signed by the
 * replica it speaks for, and the shell checked that signature.
 */
export function onViewTimeout(state: ReplicaState, timeout: ViewTimeout): Verdict {
  if (timeout.view < state.view) return ignored('stale-view');
  const previous = state.timeouts.get(timeout.replica);
  if (previous !== undefined && previous.view >= timeout.view) return ignored('duplicate');
  state.timeouts.set(timeout.replica, timeout);
  checkTimeoutCertificate(state);
  return ACCEPTED;
}

/**
 * With a quorum of replicas that gave up on view w (w at least the current view), the replica
 * leaves for w + 1 and keeps the quorum's VIEW-TIMEOUTs as its certificate.
 */
function checkTimeoutCertificate(state: ReplicaState): void {
  const given = [...state.timeouts.values()].map((timeout) => timeout.view).sort((a, b) => b - a);
  const quorum = state.config.quorum;
  if (given.length < quorum) return;
  // The highest view that a quorum has given up on: the quorum-th highest of the views.
  const view = given[quorum - 1]!;
  if (view < state.view) return;
  const certificate = [...state.timeouts.values()].filter((timeout) => timeout.view >= view);
  const installing = !state.viewActive || view > state.view;
  // A NEW-VIEW that never came counts as a failed attempt: the next timeout is twice as long.
  if (installing) state.viewChangeAttempts++;
  // Only a replica whose own timer gave up on the primary suspects it; one that follows the
  // others, or gave up because the primary is banned (blamed already), blames nobody.
  const reason = state.complaintReason !== 'timeout' ? 'joined' : installing ? 'new-view-timeout' : 'timeout';
  startViewChange(state, view + 1, reason, certificate);
}

/**
 * Tells `peer`, seen in a lower view, how to reach this replica's: the NEW-VIEW that installed
 * it, or, while this replica changes views, the timeout certificate that made it leave and its
 * VIEW-CHANGE. At most once per status interval per peer (a Byzantine peer must not turn this
 * into an amplifier).
 */
export function helpBehindInView(state: ReplicaState, peer: ReplicaId): void {
  if (peer === state.config.self) return;
  const last = state.behindHelped.get(peer);
  if (last !== undefined && state.now - last < state.config.statusIntervalTicks) return;
  state.behindHelped.set(peer, state.now);
  if (state.viewActive) {
    if (state.newView !== null && isSigned(state.newView)) relay(state, peer, state.newView);
    return;
  }
  for (const timeout of state.timeoutCertificate) relay(state, peer, timeout);
  const own = state.viewChanges.get(state.config.self);
  if (own !== undefined && own.view === state.view) relay(state, peer, own);
}
