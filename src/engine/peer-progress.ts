/**
 * How far each validator has got, as this replica can tell from the signed messages it holds:
 * the COMMITs in its log, the CHECKPOINTs in its stable certificate and among the votes above
 * it, and the view-bound messages (PRE-PREPARE, PREPARE, COMMIT, VIEW-CHANGE, NEW-VIEW).
 *
 * A pure function of the protocol state: it reads, never writes, and costs one pass over the
 * log (bounded by the watermark window) and the checkpoint votes. What it reports is a lower
 * bound on each validator's progress: a replica may be further than the messages this one still
 * holds show (the log below the stable checkpoint is dropped, and a partitioned peer's messages
 * do not arrive at all).
 */
import type { ReplicaState } from '../protocol/index.ts';
import type { NodeId } from '../transport/transport.ts';

/** One validator's progress as this replica sees it. */
export interface PeerProgress {
  readonly nodeId: NodeId;
  /**
   * The highest sequence for which this replica holds the validator's signed COMMIT, or 0 when
   * it holds none (its log keeps sequences above the stable checkpoint only).
   */
  readonly commitSequence: number;
  /**
   * The highest checkpoint sequence the validator signed that this replica holds (in the stable
   * checkpoint's certificate or among the votes above it), or 0. A replica signs a checkpoint
   * after executing through it, so it has finalized at least that far.
   */
  readonly checkpoint: number;
  /** The highest view of any view-bound message held from the validator, or null if none. */
  readonly view: number | null;
}

/** Every validator's progress, in validator order; `validators[i]` is replica i. */
export function peerProgress(state: ReplicaState, validators: readonly NodeId[]): PeerProgress[] {
  const count = validators.length;
  const commitSequence = new Array<number>(count).fill(0);
  const checkpoint = new Array<number>(count).fill(0);
  const view = new Array<number>(count).fill(-1);
  const sawView = (replica: number, messageView: number): void => {
    if (replica >= 0 && replica < count && messageView > view[replica]!) view[replica] = messageView;
  };
  const sawCommit = (replica: number, sequence: number): void => {
    if (replica >= 0 && replica < count && sequence > commitSequence[replica]!)
      commitSequence[replica] = sequence;
  };
  const sawCheckpoint = (replica: number, sequence: number): void => {
    if (replica >= 0 && replica < count && sequence > checkpoint[replica]!) checkpoint[replica] = sequence;
  };

  for (const entry of state.log.values()) {
    // An unsigned PRE-PREPARE or NEW-VIEW is this replica's own draft: it is in that view anyway.
    if (entry.prePrepare !== null) sawView(entry.prePrepare.replica, entry.prePrepare.view);
    for (const [replica, prepare] of entry.prepares) sawView(replica, prepare.view);
    for (const [replica, commit] of entry.commits) {
      sawView(replica, commit.view);
      sawCommit(replica, commit.sequence);
    }
    // The certificate outlives the votes of its view when the entry moves to a later view.
    for (const commit of entry.committed?.commits ?? []) {
      sawView(commit.replica, commit.view);
      sawCommit(commit.replica, commit.sequence);
    }
  }
  for (const proof of state.stable.proof) sawCheckpoint(proof.replica, proof.sequence);
  for (const [sequence, votes] of state.checkpointVotes)
    for (const replica of votes.keys()) sawCheckpoint(replica, sequence);
  for (const [replica, viewChange] of state.viewChanges) sawView(replica, viewChange.view);
  if (state.newView !== null) sawView(state.newView.replica, state.newView.view);

  return validators.map((nodeId, replica) => ({
    nodeId,
    commitSequence: commitSequence[replica]!,
    checkpoint: checkpoint[replica]!,
    view: view[replica]! < 0 ? null : view[replica]!,
  }));
}
