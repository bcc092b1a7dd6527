/**
 * The checkpoint liar: each CHECKPOINT it sends goes out with its true chain digest to some
 * peers, a wrong one to others, and both (conflicting, hence provable) to the rest; it adds
 * CHECKPOINTs for sequences it has not reached and for sequences that are no checkpoint at
 * all. Its STATUS messages overstate how far it has executed, to send peers after state it
 * does not have. Honest replicas must make a checkpoint stable only on a quorum of matching
 * digests, keep a bounded number of its votes, and finish their state transfers elsewhere.
 */
import type { Checkpoint, Message, Status } from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The chance of a CHECKPOINT for a sequence not reached, or for no checkpoint sequence. */
const FUTURE_RATE = 0.3;
const MISALIGNED_RATE = 0.2;
/** The chance that a STATUS overstates progress. */
const STATUS_LIE_RATE = 0.5;

export class CheckpointLiar extends ByzantineReplica {
  readonly strategy = 'checkpoint-liar';

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    if (message.replica === this.id && message.kind === 'checkpoint') this.#lieInCheckpoint(message, peers);
    else if (message.replica === this.id && message.kind === 'status') this.#lieInStatus(message, peers);
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

  #lieInStatus(status: Status, peers: readonly number[]): void {
    if (!this.prng.chance(STATUS_LIE_RATE)) {
      super.transmit(status, peers);
      return;
    }
    const ahead = 1 + this.prng.int(3 * this.config.watermarkWindow);
    super.transmit(this.sign({ ...status, lastExecuted: status.lastExecuted + ahead }), peers);
  }
}
