/**
 * Votes a certificate no longer needs are not verified.
 *
 * A PREPARE certificate takes quorum - 1 matching PREPAREs and a COMMIT certificate quorum
 * matching COMMITs, but every validator sends its vote to every other: with n = 4 a replica gets
 * three of each and needs two. Verifying an ML-DSA-87 signature costs about a quarter of a
 * millisecond of CPU, and the surplus votes arrive exactly when the round's next signature and
 * synced write want the cores. So a PREPARE or COMMIT of the replica's current epoch and view is
 * verified only while the votes its certificate holds (in the core) plus the votes being verified
 * for it fall short of the certificate; the others are parked. A parked vote is verified after
 * all when a counted one does not end up in the certificate (its signature was bad, its sender
 * was banned, the core refused it), and is dropped once its sequence is executed or its view or
 * epoch has passed.
 *
 * Safety does not depend on this: the core counts only verified votes, as before. What a parked
 * vote is not used for is evidence: a surplus vote that matches the certificate is no offence,
 * and one with another digest is tallied apart (and verified while its own tally is short).
 */
import { bytesEqual, toHex } from '../crypto/index.ts';
import type { Commit, Message, Prepare, ReplicaState } from '../protocol/index.ts';

/** A vote the gate may park. */
export type GatedVote = Prepare | Commit;

export interface VoteGateOptions {
  /**
   * How many more matching votes the vote's certificate needs beyond those the core holds now,
   * or null when the gate does not apply (another epoch or view, beyond the window): the vote is
   * then verified like any message.
   */
  readonly missing: (vote: GatedVote) => number | null;
}

interface Parked {
  readonly vote: GatedVote;
  /** The link it came on: one vote a sender is parked per certificate, whatever it resends. */
  readonly sender: string;
  readonly release: () => void;
}

/** The votes of one certificate: (kind, epoch, view, sequence, digest). */
interface Tally {
  readonly epoch: number;
  readonly view: number;
  readonly sequence: number;
  /** Counted votes not yet stepped (being verified, or waiting behind their sender's earlier frames). */
  inFlight: number;
  readonly parked: Parked[];
}

/** Which votes are verified and which wait; see the module comment. */
export class VoteGate {
  readonly #missing: (vote: GatedVote) => number | null;
  readonly #tallies = new Map<string, Tally>();
  /** The tally each counted vote belongs to, until it is settled. */
  readonly #counted = new WeakMap<GatedVote, string>();
  #parkedCount = 0;

  constructor(options: VoteGateOptions) {
    this.#missing = options.missing;
  }

  /** Votes parked now. */
  get parked(): number {
    return this.#parkedCount;
  }

  /**
   * Whether `vote`, which came on `sender`'s link, is verified now (it is then counted until
   * {@link VoteGate.settled}). If not, it is parked, and `release` is called should it be needed
   * later; or it is forgotten at once: when the core already holds its certificate's votes, and
   * when a vote from the same sender waits already (a sender has one vote per certificate, and
   * parked votes are outside the inbound queue's bound, so a resending peer must not grow them).
   */
  admit(vote: GatedVote, sender: string, release: () => void): boolean {
    const missing = this.#missing(vote);
    if (missing === null) return true;
    if (missing <= 0) return false;
    const key = keyOf(vote);
    let tally = this.#tallies.get(key);
    if (tally === undefined) {
      tally = { epoch: vote.epoch, view: vote.view, sequence: vote.sequence, inFlight: 0, parked: [] };
      this.#tallies.set(key, tally);
    }
    if (tally.inFlight < missing) {
      tally.inFlight++;
      this.#counted.set(vote, key);
      return true;
    }
    if (tally.parked.some((parked) => parked.sender === sender)) return false;
    tally.parked.push({ vote, sender, release });
    this.#parkedCount++;
    return false;
  }

  /**
   * A vote `admit` counted was stepped by the core or dropped on the way: it no longer counts as
   * in flight, and parked votes are released while the certificate still falls short. Votes the
   * gate did not count are ignored, so every message may be passed here.
   */
  settled(vote: GatedVote): void {
    const key = this.#counted.get(vote);
    if (key === undefined) return;
    this.#counted.delete(vote);
    const tally = this.#tallies.get(key);
    if (tally === undefined) return;
    tally.inFlight--;
    while (tally.parked.length > 0) {
      const next = tally.parked[0]!;
      const missing = this.#missing(next.vote);
      if (missing !== null && tally.inFlight >= missing) break;
      tally.parked.shift();
      this.#parkedCount--;
      if (missing !== null) {
        tally.inFlight++;
        this.#counted.set(next.vote, key);
      }
      next.release();
    }
    if (tally.inFlight === 0 && tally.parked.length === 0) this.#tallies.delete(key);
  }

  /**
   * Forgets the tallies of sequences executed (at or below `lastExecuted`) and of earlier views
   * and other epochs, with their parked votes; returns how many votes were dropped.
   */
  prune(epoch: number, view: number, lastExecuted: number): number {
    let dropped = 0;
    for (const [key, tally] of this.#tallies) {
      if (tally.epoch === epoch && tally.view >= view && tally.sequence > lastExecuted) continue;
      dropped += tally.parked.length;
      this.#parkedCount -= tally.parked.length;
      this.#tallies.delete(key);
    }
    return dropped;
  }
}

/** Whether the gate may apply to `message`: a PREPARE or a COMMIT. */
export function isGatedVote(message: Message): message is GatedVote {
  return message.kind === 'prepare' || message.kind === 'commit';
}

/**
 * The matching votes `vote`'s certificate still lacks in the core's state (`VoteGateOptions.missing`):
 * quorum - 1 PREPAREs or quorum COMMITs, less those the log entry holds for its digest; 0 for an
 * executed sequence; null for a vote of another epoch or view, or beyond the watermark window
 * (the core judges those itself), and for a replica that takes no part in votes.
 */
export function votesMissing(state: ReplicaState, vote: GatedVote): number | null {
  if (!state.member || vote.epoch !== state.epoch || vote.view !== state.view) return null;
  if (vote.sequence <= state.lastExecuted) return 0;
  if (vote.sequence > state.lastExecuted + state.config.watermarkWindow) return null;
  const needed = vote.kind === 'prepare' ? state.config.quorum - 1 : state.config.quorum;
  const entry = state.log.get(vote.sequence);
  if (entry === undefined || entry.view !== vote.view) return needed;
  let held = 0;
  for (const other of (vote.kind === 'prepare' ? entry.prepares : entry.commits).values()) {
    if (bytesEqual(other.digest, vote.digest)) held++;
  }
  return Math.max(0, needed - held);
}

function keyOf(vote: GatedVote): string {
  return `${vote.kind}/${vote.epoch}/${vote.view}/${vote.sequence}/${toHex(vote.digest)}`;
}
