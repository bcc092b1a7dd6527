/**
 * Checkpoints and garbage collection (Castro and Liskov 4.3): every K sequences a replica
 * signs its chain digest; a quorum of matching CHECKPOINTs makes the checkpoint stable, the
 * low watermark moves up to it, and the log below it is dropped.
 */
import { bytesEqual, toHex } from '../crypto/digest.ts';
import { requestState } from './behind.ts';
import type { Verdict } from './effects.ts';
import { invariant } from './errors.ts';
import type { Checkpoint, CheckpointCertificate, Draft } from './messages.ts';
import { ACCEPTED, emit, ignored, persist, type ReplicaState, rejected, sendDraft } from './state.ts';
import type { Digest, ReplicaId } from './types.ts';

/** After executing a checkpoint sequence: remember the digest and send CHECKPOINT (4.3). */
export function checkpointTaken(state: ReplicaState, sequence: number, stateDigest: Digest): void {
  if (sequence < state.stable.sequence) return;
  if (sequence === state.stable.sequence) {
    // The checkpoint became stable before this replica got here (it caught up by state
    // transfer): the history it executed must be the one the quorum certified.
    invariant(
      bytesEqual(stateDigest, state.stable.stateDigest),
      `chain digest at stable checkpoint ${sequence} differs from the certified one`,
    );
    return;
  }
  state.ownCheckpoints.set(sequence, stateDigest);
  const checkpoint: Draft<Checkpoint> = {
    kind: 'checkpoint',
    epoch: state.epoch,
    sequence,
    stateDigest,
    replica: state.config.self,
  };
  sendDraft(state, 'all', checkpoint);
  checkStable(state, sequence);
}

/**
 * CHECKPOINT: kept per sender and sequence above the stable checkpoint. A sender may hold only
 * a few outstanding votes (a replica far ahead still needs its latest ones counted), so that a
 * Byzantine replica cannot fill memory with checkpoints for invented sequences.
 *
 * None past the end of a closing epoch is kept: no sequence of the epoch lies there, and a
 * sender's votes for invented sequences past it would push out (`limitVotesOf` drops the lowest)
 * its vote at the end, which the hand-over may need when a peer relays the certificate it is in.
 */
export function onCheckpoint(state: ReplicaState, checkpoint: Checkpoint): Verdict {
  const { sequence, replica } = checkpoint;
  if (sequence <= state.stable.sequence) return ignored('below-watermark');
  if (state.epochEnd !== null && sequence > state.epochEnd) return ignored('above-watermark');
  if (sequence % state.config.checkpointInterval !== 0) return rejected('invalid-checkpoint', replica);
  let votes = state.checkpointVotes.get(sequence);
  const previous = votes?.get(replica);
  if (votes !== undefined && previous !== undefined) {
    if (bytesEqual(previous.stateDigest, checkpoint.stateDigest)) return ignored('duplicate');
    state.out.evidence.push({ kind: 'equivocation', replica, first: previous, second: checkpoint });
    // Both are its signatures. Its vote counts for the digest more others vouch for: a liar that
    // told this replica one digest and the others another must not keep a certificate that
    // holds its other signature (a peer relaying the hand-over's, say) from being counted here.
    // Two conflicting certificates would still need f + 1 common signers, one of them correct.
    if (supporters(votes, checkpoint, replica) > supporters(votes, previous, replica)) {
      votes.set(replica, checkpoint);
      checkStable(state, sequence);
    }
    return rejected('equivocation', replica);
  }
  if (votes === undefined) {
    votes = new Map();
    state.checkpointVotes.set(sequence, votes);
  }
  votes.set(replica, checkpoint);
  limitVotesOf(state, replica);
  checkStable(state, sequence);
  return ACCEPTED;
}

/** How many senders other than `replica` voted for `vote`'s digest. */
function supporters(votes: ReadonlyMap<ReplicaId, Checkpoint>, vote: Checkpoint, replica: ReplicaId): number {
  let count = 0;
  for (const [sender, other] of votes) {
    if (sender !== replica && bytesEqual(other.stateDigest, vote.stateDigest)) count++;
  }
  return count;
}

/** Outstanding checkpoint votes a sender may hold: the window's checkpoints plus two. */
function votesPerReplicaMax(state: ReplicaState): number {
  return state.config.watermarkWindow / state.config.checkpointInterval + 2;
}

function limitVotesOf(state: ReplicaState, replica: ReplicaId): void {
  let count = 0;
  let lowest = Number.POSITIVE_INFINITY;
  for (const [sequence, votes] of state.checkpointVotes) {
    if (!votes.has(replica)) continue;
    count++;
    if (sequence < lowest) lowest = sequence;
  }
  if (count <= votesPerReplicaMax(state)) return;
  const votes = state.checkpointVotes.get(lowest)!;
  votes.delete(replica);
  if (votes.size === 0) state.checkpointVotes.delete(lowest);
}

/** Makes the checkpoint at `sequence` stable if a quorum of CHECKPOINTs agree on its digest. */
export function checkStable(state: ReplicaState, sequence: number): void {
  const votes = state.checkpointVotes.get(sequence);
  if (votes === undefined || votes.size < state.config.quorum) return;
  const byDigest = new Map<string, Checkpoint[]>();
  for (const vote of votes.values()) {
    const key = toHex(vote.stateDigest);
    const group = byDigest.get(key);
    if (group === undefined) byDigest.set(key, [vote]);
    else group.push(vote);
  }
  for (const group of byDigest.values()) {
    if (group.length < state.config.quorum) continue;
    group.sort((a, b) => a.replica - b.replica);
    const proof = group.slice(0, state.config.quorum);
    becomeStable(state, { sequence, stateDigest: proof[0]!.stateDigest, proof });
    return;
  }
}

/**
 * Moves the low watermark to a certified checkpoint and drops the log below it (4.3). Entries
 * below it that are committed, with their batch, but not yet executed are kept, so that the
 * replica executes them instead of fetching them again. A replica that has not executed up to
 * the checkpoint fetches the missing batches by state transfer.
 */
export function becomeStable(state: ReplicaState, certificate: CheckpointCertificate): void {
  const { sequence } = certificate;
  if (sequence <= state.stable.sequence) return;
  // A replica that restarted from a short tail of its history may not know its digest at this
  // sequence; where it does, it must be the certified one.
  const own = state.lastExecuted >= sequence ? state.ownCheckpoints.get(sequence) : undefined;
  invariant(
    own === undefined || bytesEqual(own, certificate.stateDigest),
    `a quorum certified a chain digest at ${sequence} that differs from this replica's`,
  );
  state.stable = certificate;
  persist(state, { kind: 'stable', certificate });
  for (const [entrySequence, entry] of state.log) {
    if (entrySequence > sequence) continue;
    const executable = entrySequence > state.lastExecuted && entry.committed !== null && entry.batch !== null;
    if (!executable) state.log.delete(entrySequence);
  }
  for (const voteSequence of state.checkpointVotes.keys()) {
    if (voteSequence <= sequence) state.checkpointVotes.delete(voteSequence);
  }
  for (const ownSequence of state.ownCheckpoints.keys()) {
    if (ownSequence <= sequence) state.ownCheckpoints.delete(ownSequence);
  }
  persist(state, { kind: 'truncate', through: sequence });
  if (state.nextSequence <= sequence) state.nextSequence = sequence + 1;
  emit(state, { kind: 'checkpoint-stable', sequence });
  if (state.lastExecuted < sequence) {
    const signer = certificate.proof.find((checkpoint) => checkpoint.replica !== state.config.self);
    requestState(state, sequence, signer?.replica);
  }
}
