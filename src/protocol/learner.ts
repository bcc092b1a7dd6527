/**
 * A learner: a node that joins the validators at epoch k without having been one of epoch k - 1
 * (a new machine, or a replacement with an empty store). Before it votes in k it must hold what
 * every member holds: the order up to end(k - 1), the chain digest, and the delivered set of the
 * deduplication horizon, or it could finalize a vertex twice. It has no id in the epochs before
 * k, so it walks them as a learner (docs/reconfiguration.md, "Joining, in detail"):
 *
 * - it asks its peers for finalized batches by state transfer, under its id and key of k (the
 *   only epoch in which it has either), and its peers answer with the entries of the epoch the
 *   sequences belong to, signed under their ids in that epoch;
 * - it checks each entry's commit certificate against that epoch's quorum, executes it exactly
 *   as a member would (so the history, the epoch records and the delivered set are the same),
 *   and moves to the next epoch when it has executed the last sequence of its own;
 * - it sends nothing else, signs nothing else, and takes no part in views or checkpoints.
 *
 * At k it becomes a member that switched without the hand-over certificate: its votes stay at
 * nothing until a checkpoint of k is stable (`voteCeiling`), then it votes like the others.
 */
import { bytesEqual } from '../crypto/digest.ts';
import { sendStateRequest, stateTransferTick } from './behind.ts';
import { onStateReply } from './catch-up.ts';
import type { Input } from './replica.ts';
import { ignored, type ReplicaState } from './state.ts';

/** How far a learner asks at a time: past anything its peers hold, so that it never stops asking. */
const LEARNER_TARGET = Number.MAX_SAFE_INTEGER;

/** One input to a learner; the caller switches epochs and seals the output afterwards. */
export function stepLearner(state: ReplicaState, input: Input): void {
  switch (input.kind) {
    case 'message': {
      const { message, from } = input;
      state.out.verdict =
        message.kind === 'state-reply' && message.epoch === state.epoch
          ? onStateReply(state, message, from)
          : ignored('not-member');
      break;
    }
    case 'propose':
      state.out.verdict = ignored('not-member');
      break;
    case 'tick':
      state.now++;
      stateTransferTick(state);
      break;
    case 'banned':
    case 'unreachable':
      break;
  }
  // What it executed is final and certified; it keeps no votes, so no log entry for it either.
  for (const sequence of state.log.keys()) if (sequence <= state.lastExecuted) state.log.delete(sequence);
  state.ownCheckpoints.clear();
  state.checkpointVotes.clear();
}

/**
 * Keeps a learner's transfer going: one request outstanding, the next piece asked for as soon as
 * one is applied (`onStateReply`), the next peer tried after a timeout (`stateTransferTick`).
 */
export function keepLearning(state: ReplicaState): void {
  if (state.stateTransfer !== null) return;
  state.stateTransfer = { target: LEARNER_TARGET, peer: 0, sentTick: state.now, startTick: state.now };
  sendStateRequest(state);
}

/**
 * A learner sends only its STATE-REQUESTs: executing a checkpoint sequence drafts a CHECKPOINT
 * under an id it does not have, and nothing of an epoch it is not a validator of is its to say.
 * Once it has joined, what it says of its own epoch goes out (its STATUS to its new peers).
 */
export function learnerOutputOnly(state: ReplicaState): void {
  state.out.messages = state.out.messages.filter((outbound) => {
    const message = 'draft' in outbound ? outbound.draft : outbound.relay;
    if (state.learning) return message.kind === 'state-request';
    return state.member && 'epoch' in message && message.epoch === state.epoch;
  });
}

/** Whether a replica in `epoch` is still a learner there: it joins at a later epoch. */
export function learnsIn(state: ReplicaState, epoch: number): boolean {
  const joining = state.config.reconfiguration?.joining;
  return joining !== undefined && epoch < joining.epoch;
}

/**
 * Whether the request that opened the epoch a learner reaches is the one its operator gave it:
 * a chain that disagrees with the certified history leads to an epoch that never happened here,
 * and the learner must not vote on the strength of it.
 */
export function joinsAsGiven(state: ReplicaState, epoch: number, opening: Uint8Array): boolean {
  const joining = state.config.reconfiguration?.joining;
  return joining === undefined || joining.epoch !== epoch || bytesEqual(joining.opening, opening);
}
