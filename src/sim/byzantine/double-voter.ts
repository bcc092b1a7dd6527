/**
 * The double voter: for each PREPARE and COMMIT it casts, it also signs one for another digest
 * at the same view and sequence. Each peer gets the real vote, the other one, or both (in
 * either order): a peer that gets both holds provable equivocation, and a peer that gets only
 * the other one has lost this replica's vote, so the honest replicas must reach their quorums
 * without it. It also casts votes its role forbids: as primary, a PREPARE for its own
 * PRE-PREPARE now and then; as a backup, now and then a PRE-PREPARE of its own for the slot it
 * prepares, as if it led the view. Both are provable, and blamed on it alone.
 */
import { bytesEqual } from '../../crypto/digest.ts';
import {
  batchDigest,
  type Digest,
  type Message,
  NULL_BATCH_DIGEST,
  type PrePrepare,
  type Prepare,
} from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The chance of a vote its role forbids, per PRE-PREPARE it leads or PREPARE it casts. */
const OUT_OF_ROLE_RATE = 0.2;

export class DoubleVoter extends ByzantineReplica {
  readonly strategy = 'double-voter';

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    if (message.replica === this.id && message.kind === 'pre-prepare' && this.prng.chance(OUT_OF_ROLE_RATE)) {
      super.transmit(message, peers, frame);
      // The primary PREPAREs its own batch: never needed, always a fault.
      const slot = {
        epoch: message.epoch,
        view: message.view,
        sequence: message.sequence,
        digest: message.digest,
      };
      for (const peer of peers)
        this.sendTo(peer, this.sign<Prepare>({ ...slot, kind: 'prepare', replica: this.id }));
      return;
    }
    if ((message.kind !== 'prepare' && message.kind !== 'commit') || message.replica !== this.id) {
      super.transmit(message, peers, frame);
      return;
    }
    if (message.kind === 'prepare' && this.prng.chance(OUT_OF_ROLE_RATE)) {
      // A backup that orders the slot itself, as if it led the view.
      const batch: readonly never[] = [];
      const usurped = this.sign<PrePrepare>({
        kind: 'pre-prepare',
        epoch: message.epoch,
        view: message.view,
        sequence: message.sequence,
        digest: batchDigest(batch),
        batch,
        replica: this.id,
      });
      for (const peer of peers) this.sendTo(peer, usurped);
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
