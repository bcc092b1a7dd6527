/**
 * The equivocating primary: for each batch it orders, it sends one PRE-PREPARE to some peers
 * and a PRE-PREPARE for a different batch at the same view and sequence to the others, then
 * votes for each group's batch towards that group, so that either side may gather a quorum.
 * Now and then one peer gets both PRE-PREPAREs: that peer holds provable equivocation; and now
 * and then a peer gets a PRE-PREPARE without its batch (the signature does not cover it), which
 * it must fetch elsewhere.
 *
 * The other batch is made of the same client vertices (reordered, or fewer of them, or none),
 * never of invented ones: a Byzantine primary cannot make up client requests that honest
 * replicas would accept as proposed.
 */
import { type Batch, batchDigest, type Digest, type Message, type PrePrepare } from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** Forks remembered at once; older ones are forgotten (they are long decided). */
const FORKS_MAX = 64;
/** How often one peer of the first group also gets the other PRE-PREPARE. */
const LOUD_RATE = 0.3;
/** How often a peer gets its PRE-PREPARE without the batch. */
const BATCHLESS_RATE = 0.15;

interface Fork {
  /** The peers that got the other batch. */
  readonly others: ReadonlySet<number>;
  readonly digest: Digest;
}

export class Equivocator extends ByzantineReplica {
  readonly strategy = 'equivocator';
  /** Slots this replica equivocated on, keyed by `view/sequence`. */
  readonly #forks = new Map<string, Fork>();

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    if (message.kind === 'pre-prepare' && message.replica === this.id && message.batch !== null) {
      if (peers.length >= 2) {
        this.#equivocate(message, message.batch, peers);
        return;
      }
    } else if ((message.kind === 'prepare' || message.kind === 'commit') && message.replica === this.id) {
      const fork = this.#forks.get(`${message.view}/${message.sequence}`);
      if (fork !== undefined) {
        const other = this.sign({ ...message, digest: fork.digest });
        for (const peer of peers) this.sendTo(peer, fork.others.has(peer) ? other : message);
        return;
      }
    }
    super.transmit(message, peers, frame);
  }

  #equivocate(prePrepare: PrePrepare, batch: Batch, peers: readonly number[]): void {
    const otherBatch = this.#otherBatch(batch);
    const digest = batchDigest(otherBatch);
    const other = this.sign({ ...prePrepare, digest, batch: otherBatch });
    const [first, second] = this.split(peers);
    const header = { ...prePrepare, batch: null };
    for (const peer of first) this.sendTo(peer, this.prng.chance(BATCHLESS_RATE) ? header : prePrepare);
    for (const peer of second) this.sendTo(peer, other);
    if (this.prng.chance(LOUD_RATE)) this.sendTo(first[0]!, other);
    // Votes for each side's batch right away: the primary's COMMIT is one of the quorum.
    const slot = {
      epoch: prePrepare.epoch,
      view: prePrepare.view,
      sequence: prePrepare.sequence,
      replica: this.id,
    } as const;
    const ownCommit = this.sign({ ...slot, kind: 'commit', digest: prePrepare.digest });
    const otherCommit = this.sign({ ...slot, kind: 'commit', digest });
    for (const peer of first) this.sendTo(peer, ownCommit);
    for (const peer of second) this.sendTo(peer, otherCommit);
    this.#forks.set(`${prePrepare.view}/${prePrepare.sequence}`, { others: new Set(second), digest });
    if (this.#forks.size > FORKS_MAX) this.#forks.delete(this.#forks.keys().next().value!);
  }

  /** Another batch of the same client vertices: reordered, shortened, or empty. */
  #otherBatch(batch: Batch): Batch {
    if (batch.length < 2) return [];
    switch (this.prng.int(3)) {
      case 0:
        return [...batch].reverse();
      case 1:
        return batch.slice(0, batch.length - 1);
      default:
        return batch.slice(1);
    }
  }
}
