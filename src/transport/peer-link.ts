/**
 * What the stream transport (`stream-transport.ts`) knows about one peer: its connection and
 * the rule that picks one of two, its dial state and full-jitter back-off, and the token bucket
 * that bounds the handshakes this node signs for it.
 */
import type { Timer } from '../shell/clock.ts';
import type { Connection } from './stream-connection.ts';
import type { NodeId } from './transport.ts';

/** What this node knows about one peer. */
export class PeerLink {
  readonly peer: NodeId;
  connection: Connection | null = null;
  /** A dial (lookup, connect or handshake) is in flight. */
  dialing = false;
  retryTimer: Timer | null = null;
  /** Consecutive failed dials since the last established connection. */
  failures = 0;
  /** Handshakes a second this node signs for the peer as acceptor (see `peerHandshakesPerSecond`). */
  readonly #signRate: number;
  #signTokens: number;
  #signTokensAt: number;

  constructor(peer: NodeId, handshakesPerSecond: number, now: number) {
    this.peer = peer;
    this.#signRate = handshakesPerSecond;
    this.#signTokens = 2 * handshakesPerSecond;
    this.#signTokensAt = now;
  }

  /**
   * Takes the token for one more handshake signed for the peer (the bucket holds up to twice
   * the rate a second); false when there is none.
   */
  takeSignToken(now: number): boolean {
    const rate = this.#signRate;
    this.#signTokens = Math.min(2 * rate, this.#signTokens + ((now - this.#signTokensAt) / 1000) * rate);
    this.#signTokensAt = now;
    if (this.#signTokens < 1) return false;
    this.#signTokens -= 1;
    return true;
  }

  /**
   * Counts one more failure and draws the delay before the next dial: uniform in
   * [0, min(maxDelayMs, baseDelayMs x 2^failures)), with `failures` as they were before.
   */
  backOff(
    baseDelayMs: number,
    maxDelayMs: number,
    random: () => number,
  ): { delayMs: number; failures: number } {
    const failures = this.failures;
    this.failures = Math.min(failures + 1, 32);
    const boundMs = Math.min(maxDelayMs, baseDelayMs * 2 ** failures);
    return { delayMs: Math.floor(random() * boundMs), failures };
  }
}

/**
 * Whether `candidate` should replace `existing` as the connection to the same peer, as seen by
 * node `self`; both ends of the connections reach the same answer.
 */
export function replaces(candidate: Connection, existing: Connection, self: NodeId): boolean {
  // The peer restarted: its old connection is stale even if this side has not noticed yet.
  if (candidate.peerInstance !== existing.peerInstance) return true;
  // Both dialed by the same node: that node dialed again because it lost the old one.
  if (candidate.dialedBy === existing.dialedBy) return true;
  // Both sides dialed at once: both keep the one dialed by the smaller node id.
  const [smaller] = [self, candidate.peer].sort();
  return candidate.dialedBy === smaller;
}
