/**
 * Time, as ticks (etcd-io/raft's `tick()`): the view-change timer with its back-off (4.4,
 * 4.5.2), client-vertex retries, status messages and state-transfer retries.
 */
import { maybeSendStatus, stateTransferTick } from './behind.ts';
import { serveDeferredStateRequests } from './catch-up.ts';
import { epochUnfinished } from './epochs.ts';
import { clientWaitExpired, retryRequests } from './requests.ts';
import { currentTimeout, type ReplicaState } from './state.ts';
import { complainAboutView } from './view-timeouts.ts';

export function onTick(state: ReplicaState): void {
  state.now++;
  stateTransferTick(state);
  serveDeferredStateRequests(state);
  // Client vertices waiting too long go to every replica, also while this replica changes
  // views: a replica that timed out alone (its REQUESTs were lost) would otherwise hold them
  // until the others change views for some other reason, since one VIEW-CHANGE is fewer than
  // the f + 1 that pull them along. The others order them in their view; this replica learns
  // of the result by state transfer.
  retryRequests(state);
  if (state.viewActive) {
    if (!catchingUp(state) && viewTimerExpired(state)) complainAboutView(state, 'timeout');
  } else if (
    state.newViewTimerStart !== null &&
    state.now - state.newViewTimerStart >= currentTimeout(state)
  ) {
    // The new primary did not install its view in time: give up on it too. With a quorum the
    // replicas move to the next view, waiting twice as long this time (4.5.2), so that correct
    // replicas eventually overlap in one view.
    complainAboutView(state, 'timeout');
  }
  maybeSendStatus(state);
}

/**
 * Whether a state transfer is under way and making progress. Catching up, a replica is behind,
 * not stuck: the view is not to blame. But the target of a transfer may be one peer's word (a
 * STATUS claiming a lastExecuted), and a Byzantine peer can claim sequences no one can serve:
 * a transfer that has executed nothing for a view-change timeout no longer holds the view
 * timer back, or a Byzantine primary that stops ordering and lies in its STATUS would never be
 * deposed.
 */
function catchingUp(state: ReplicaState): boolean {
  const transfer = state.stateTransfer;
  if (transfer === null) return false;
  return state.now - Math.max(transfer.startTick, state.lastProgressTick) < currentTimeout(state);
}

/**
 * The primary is suspected when work has waited a full timeout in the current view: either a
 * batch it ordered has not executed (no progress since), or a client vertex this replica holds
 * or watches has not been finalized since it arrived (or since the view began) while none of
 * the others was either (see `clientWaitExpired`), or one it held that long expired unordered
 * (see `expireHeld`).
 */
function viewTimerExpired(state: ReplicaState): boolean {
  if (state.heldVertexExpired) {
    state.heldVertexExpired = false;
    return true;
  }
  const timeout = currentTimeout(state);
  const viewStart = state.viewStartTick;
  // A batch in flight, or a closing epoch's sequences the primary owes (see `owesFill`).
  if (state.highestAccepted > state.lastExecuted || epochUnfinished(state)) {
    if (state.now - Math.max(state.lastProgressTick, viewStart) >= timeout) return true;
  }
  const oldestPending = state.pending.values().next();
  if (!oldestPending.done && clientWaitExpired(state, oldestPending.value.sinceTick, viewStart, timeout))
    return true;
  const oldestWatched = state.watched.values().next();
  if (!oldestWatched.done && clientWaitExpired(state, oldestWatched.value.sinceTick, viewStart, timeout))
    return true;
  return false;
}
