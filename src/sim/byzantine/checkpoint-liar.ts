/**
 * The checkpoint liar: each CHECKPOINT it sends goes out with its true chain digest to some
 * peers, a wrong one to others, and both (conflicting, hence provable) to the rest; it adds
 * CHECKPOINTs for sequences it has not reached and for sequences that are no checkpoint at
 * all. Its STATUS messages overstate how far it has executed, to send peers after state it
 * does not have, and what history it serves comes now and then with a commit certificate short
 * of a quorum. Honest replicas must make a checkpoint stable only on a quorum of matching
 * digests, keep a bounded number of its votes, and finish their state transfers elsewhere.
 */
import type { Checkpoint, Message, StateReply, Status } from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The chance of a CHECKPOINT for a sequence not reached, or for no checkpoint sequence. */
const FUTURE_RATE = 0.3;
const MISALIGNED_RATE = 0.2;
/** The chance that a STATUS overstates progress. */
const STATUS_LIE_RATE = 0.5;
/** The chance that a STATE-REPLY's first entry comes with too few COMMITs. */
const SHORT_CERTIFICATE_RATE = 0.5;

export class CheckpointLiar extends ByzantineReplica {
  readonly strategy = 'checkpoint-liar';

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    if (message.replica === this.id && message.kind === 'checkpoint') this.#lieInCheckpoint(message, peers);
    else if (message.replica === this.id && message.kind === 'status') this.#lieInStatus(message, peers);
    else if (message.replica === this.id && message.kind === 'state-reply')
      this.#lieInStateReply(message, peers);
    else super.transmit(message, peers, frame);
  }

  #lieInCheckpoint(checkpoint: Checkpoint, peers: readonly number[]): void {
    const wrong = this.sign({ ...checkpoint, stateDigest: this.randomDigest() });
    for (const peer of peers) {
      const draw = this.prng.float();
      if (draw < 0.3) {
        this.sendTo(peer, checkpoint);
      } else if (draw < 0.6) {
        this.sendTo(peer, wrong);
      } else if (draw < 0.8) {
        this.sendTo(peer, wrong);
        this.sendTo(peer, checkpoint);
      } else {
        this.sendTo(peer, checkpoint);
        this.sendTo(peer, wrong);
      }
    }
    const interval = this.config.checkpointInterval;
    if (this.prng.chance(FUTURE_RATE)) {
      const ahead = checkpoint.sequence + interval * (1 + this.prng.int(4));
      const future = this.sign({ ...checkpoint, sequence: ahead, stateDigest: this.randomDigest() });
      this.sendTo(this.prng.pick(peers), future);
    }
    if (this.prng.chance(MISALIGNED_RATE)) {
      const misaligned = this.sign({
        ...checkpoint,
        sequence: checkpoint.sequence + 1 + this.prng.int(interval - 1),
      });
      this.sendTo(this.prng.pick(peers), misaligned);
    }
  }

  /**
   * Serves the history it holds, but the first entry's commit certificate one COMMIT short of a
   * quorum: validly signed throughout, and provably not a certificate.
   */
  #lieInStateReply(reply: StateReply, peers: readonly number[]): void {
    const first = reply.entries[0];
    if (first === undefined || first.commits.length === 0 || !this.prng.chance(SHORT_CERTIFICATE_RATE)) {
      super.transmit(reply, peers);
      return;
    }
    const short = { ...first, commits: first.commits.slice(0, this.config.quorum - 1) };
    super.transmit(this.sign({ ...reply, entries: [short, ...reply.entries.slice(1)] }), peers);
  }

  #lieInStatus(status: Status, peers: readonly number[]): void {
    if (!this.prng.chance(STATUS_LIE_RATE)) {
      super.transmit(status, peers);
      return;
    }
    const ahead = 1 + this.prng.int(3 * this.config.watermarkWindow);
    super.transmit(this.sign({ ...status, lastExecuted: status.lastExecuted + ahead }), peers);
  }
}
