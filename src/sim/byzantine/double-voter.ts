/**
 * The double voter: for each PREPARE and COMMIT it casts, it also signs one for another digest
 * at the same view and sequence. Each peer gets the real vote, the other one, or both (in
 * either order): a peer that gets both holds provable equivocation, and a peer that gets only
 * the other one has lost this replica's vote, so the honest replicas must reach their quorums
 * without it.
 */
import { bytesEqual } from '../../crypto/digest.ts';
import { type Digest, type Message, NULL_BATCH_DIGEST } from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

export class DoubleVoter extends ByzantineReplica {
  readonly strategy = 'double-voter';

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    if ((message.kind !== 'prepare' && message.kind !== 'commit') || message.replica !== this.id) {
      super.transmit(message, peers, frame);
      return;
    }
    const other = this.sign({ ...message, digest: this.#otherDigest(message.digest) });
    for (const peer of peers) {
      const draw = this.prng.float();
      if (draw < 0.35) {
        this.sendTo(peer, message);
      } else if (draw < 0.6) {
        this.sendTo(peer, other);
      } else if (draw < 0.8) {
        this.sendTo(peer, message);
        this.sendTo(peer, other);
      } else {
        this.sendTo(peer, other);
        this.sendTo(peer, message);
      }
    }
  }

  /** The null batch's digest (a vote to skip the slot) or a digest no batch has. */
  #otherDigest(digest: Digest): Digest {
    if (!bytesEqual(digest, NULL_BATCH_DIGEST) && this.prng.chance(0.5)) return NULL_BATCH_DIGEST;
    return this.randomDigest();
  }
}
