/**
 * Two processes with one key: telling them from a peer that restarted, and stopping them from
 * taking turns at this node's link to that peer.
 *
 * Each start of a peer's transport draws a fresh instance id, which its handshake signs. The
 * tie-break of `stream-transport.ts` lets a connection from a new instance replace the old one
 * at once: the peer restarted, and its old connection is stale. Two live processes with the same
 * key (a node started twice, with another data directory and ports) are two instances that are
 * both new to each other's connections: each redials when replaced and replaces the other, some
 * 1,600 times in 20 s in the operator's report.
 *
 * The signal that tells them apart: an instance that was replaced comes back, later than
 * `settleMs` after it was first replaced. A restarted peer's old instance is gone for good (its
 * process ended before the new one started, and a later start is a new instance). A handshake
 * it began before it died may still finish after its successor's (a slow path, or a relay on
 * the path holding its last frame back), but not later than the handshake timeout after it
 * began, so not later than `settleMs` (the transport passes its handshake timeout, and a
 * margin) after the successor took over. An instance that completes a handshake after that
 * was alive after it was replaced: it runs beside the other. Until then, a return is taken as a
 * late handshake of a peer that restarted, and replaces the link as any new connection would.
 * Two processes that take turns so do for `settleMs` before they are told apart.
 * The instance seen first (the incumbent) keeps the link; the one seen later
 * (the duplicate) is refused for a back-off period (`refuseMinMs`, doubling with every detection
 * up to `refuseMaxMs`) rather than replacing the link each time: refused as an acceptor before
 * this node signs anything (see `admitAuthenticated` in `handshake.ts`), and at adoption as a
 * dialer. Refusing rather than alternating keeps the link up, and keeps the count of
 * reconnections to a few per back-off period.
 *
 * If the incumbent's connection is lost while the duplicate is refused, the refusal is lifted
 * and the duplicate is forgotten: it may be the process the operator kept, and a lone instance
 * is no duplicate. Should the incumbent come back, it is detected again.
 *
 * Which of the two is the "right" process cannot be known here; the point is to keep the link
 * stable and to say, loudly and with both addresses, that the operator must stop one.
 *
 * Memory: per peer, at most {@link INSTANCES_REMEMBERED_MAX} instances.
 */

import { ArgumentError } from '../errors.ts';
import { integerField } from '../protocol/errors.ts';
import type { Clock } from '../shell/clock.ts';
import type { NodeId } from './transport.ts';

/** Options of `DuplicateIdentityGuard`; the transport passes them through. */
export interface DuplicateIdentityOptions {
  /** How long a replaced instance that connects again counts as alive beside its successor. Default 60,000 ms. */
  readonly windowMs?: number;
  /** The first refusal of a duplicate instance. Default 30,000 ms. */
  readonly refuseMinMs?: number;
  /** The longest refusal (it doubles with every detection for the peer). Default 600,000 ms. */
  readonly refuseMaxMs?: number;
  /**
   * How long after an instance was first replaced a handshake of it may still finish without
   * it being alive (see the module comment): at least the transport's handshake timeout.
   * Default 6,000 ms.
   */
  readonly settleMs?: number;
}

/** One connection's side of a detection. */
export interface InstanceSighting {
  /** The instance id (hex). */
  readonly instance: string;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

/** Two live instances of one peer were seen; the later one is refused for a while. */
export interface DuplicateIdentityDetection {
  readonly peer: NodeId;
  /** The instance seen first, which keeps the link. */
  readonly incumbent: InstanceSighting;
  /** The instance seen later, refused for `refusedForMs`. */
  readonly duplicate: InstanceSighting;
  readonly refusedForMs: number;
  /** Detections for this peer since this transport was created, this one included. */
  readonly detections: number;
}

/** What is known of a peer's duplicate identity, for status pages. */
export interface DuplicateIdentityState {
  readonly peer: NodeId;
  readonly incumbent: InstanceSighting;
  readonly duplicate: InstanceSighting;
  readonly detections: number;
  /** Milliseconds until the duplicate is let in again (0: no longer refused). */
  readonly refusedForMs: number;
  /** Milliseconds since the last detection. */
  readonly sinceMs: number;
}

/** Instances remembered per peer (the current one, and recently replaced ones). */
export const INSTANCES_REMEMBERED_MAX = 8;

interface Known {
  readonly sighting: InstanceSighting;
  readonly firstSeenMs: number;
  /** When another instance replaced it, or null while it holds the link (or never did). */
  replacedAtMs: number | null;
  /** When another instance first replaced it, or null if none ever did. */
  firstReplacedAtMs: number | null;
}

interface PeerState {
  /** By instance id, oldest first (insertion order). */
  readonly known: Map<string, Known>;
  /** The instance of the peer's current (or last) connection. */
  current: string | null;
  refusal: { readonly instance: string; readonly untilMs: number } | null;
  nextRefusalMs: number;
  detections: number;
  last: {
    readonly incumbent: InstanceSighting;
    readonly duplicate: InstanceSighting;
    readonly atMs: number;
  } | null;
}

/** What to do with an authenticated connection. */
export type Admission =
  | { readonly admit: true; readonly detection: DuplicateIdentityDetection | null }
  | { readonly admit: false; readonly detection: DuplicateIdentityDetection | null };

export class DuplicateIdentityGuard {
  readonly windowMs: number;
  readonly refuseMinMs: number;
  readonly refuseMaxMs: number;
  readonly settleMs: number;
  readonly #clock: Clock;
  readonly #peers = new Map<NodeId, PeerState>();

  /** @throws ArgumentError for a figure that is not a positive integer, or a minimum over the maximum. */
  constructor(clock: Clock, options: DuplicateIdentityOptions = {}) {
    this.#clock = clock;
    this.windowMs = positive('duplicateIdentity.windowMs', options.windowMs ?? 60_000);
    this.refuseMinMs = positive('duplicateIdentity.refuseMinMs', options.refuseMinMs ?? 30_000);
    this.refuseMaxMs = positive('duplicateIdentity.refuseMaxMs', options.refuseMaxMs ?? 600_000);
    this.settleMs = positive('duplicateIdentity.settleMs', options.settleMs ?? 6000);
    if (this.refuseMinMs > this.refuseMaxMs)
      throw new ArgumentError('duplicateIdentity.refuseMinMs must not exceed duplicateIdentity.refuseMaxMs');
  }

  /** Whether a connection from `instance` of `peer` is refused now (asked before signing). */
  refuses(peer: NodeId, instance: string): boolean {
    const refusal = this.#peers.get(peer)?.refusal;
    return refusal != null && refusal.instance === instance && this.#clock.now() < refusal.untilMs;
  }

  /**
   * Decides on an authenticated connection from `candidate` of `peer`, before the tie-break:
   * refused while its instance is refused; otherwise admitted, and if its instance was replaced
   * recently by the peer's current one, the two are reported and the later one is refused
   * from now on (the candidate itself, if it is the later one).
   */
  admit(peer: NodeId, candidate: InstanceSighting): Admission {
    const now = this.#clock.now();
    const state = this.#state(peer);
    if (this.refuses(peer, candidate.instance)) return { admit: false, detection: null };
    const known = this.#remember(state, candidate, now);
    const current = state.current === null ? undefined : state.known.get(state.current);
    if (current === undefined || current.sighting.instance === candidate.instance) {
      state.current = candidate.instance;
      return { admit: true, detection: null };
    }
    const returning =
      known.replacedAtMs !== null &&
      now - known.replacedAtMs <= this.windowMs &&
      known.firstReplacedAtMs !== null &&
      now - known.firstReplacedAtMs > this.settleMs;
    if (!returning) {
      // A new instance (the peer restarted), or a late handshake of the old one: it replaces
      // the link at once.
      current.replacedAtMs = now;
      current.firstReplacedAtMs ??= now;
      known.replacedAtMs = null;
      state.current = candidate.instance;
      return { admit: true, detection: null };
    }
    // Both are alive. The one seen later is the duplicate.
    const [incumbent, duplicate] =
      known.firstSeenMs <= current.firstSeenMs ? [known, current] : [current, known];
    const refusedForMs = state.nextRefusalMs;
    state.nextRefusalMs = Math.min(this.refuseMaxMs, state.nextRefusalMs * 2);
    state.refusal = { instance: duplicate.sighting.instance, untilMs: now + refusedForMs };
    state.detections++;
    state.last = { incumbent: incumbent.sighting, duplicate: duplicate.sighting, atMs: now };
    const detection: DuplicateIdentityDetection = {
      peer,
      incumbent: incumbent.sighting,
      duplicate: duplicate.sighting,
      refusedForMs,
      detections: state.detections,
    };
    if (duplicate === known) return { admit: false, detection };
    current.replacedAtMs = now;
    current.firstReplacedAtMs ??= now;
    known.replacedAtMs = null;
    state.current = candidate.instance;
    return { admit: true, detection };
  }

  /**
   * The peer's connection from `instance` was lost. If it was the incumbent of a refusal, the
   * refusal is lifted and the duplicate forgotten (see the module comment).
   */
  lost(peer: NodeId, instance: string): void {
    const state = this.#peers.get(peer);
    if (state === undefined || state.current !== instance || state.refusal === null) return;
    state.known.delete(state.refusal.instance);
    state.refusal = null;
  }

  /** Peers for which two instances were detected, with the latest detection. */
  states(): DuplicateIdentityState[] {
    const now = this.#clock.now();
    const states: DuplicateIdentityState[] = [];
    for (const [peer, state] of this.#peers) {
      if (state.last === null) continue;
      states.push({
        peer,
        incumbent: state.last.incumbent,
        duplicate: state.last.duplicate,
        detections: state.detections,
        refusedForMs: state.refusal === null ? 0 : Math.max(0, state.refusal.untilMs - now),
        sinceMs: now - state.last.atMs,
      });
    }
    return states;
  }

  #state(peer: NodeId): PeerState {
    let state = this.#peers.get(peer);
    if (state === undefined) {
      state = {
        known: new Map(),
        current: null,
        refusal: null,
        nextRefusalMs: this.refuseMinMs,
        detections: 0,
        last: null,
      };
      this.#peers.set(peer, state);
    }
    return state;
  }

  #remember(state: PeerState, sighting: InstanceSighting, now: number): Known {
    const found = state.known.get(sighting.instance);
    if (found !== undefined) {
      // The latest address of the instance.
      const updated: Known = { ...found, sighting };
      state.known.set(sighting.instance, updated);
      return updated;
    }
    const known: Known = { sighting, firstSeenMs: now, replacedAtMs: null, firstReplacedAtMs: null };
    state.known.set(sighting.instance, known);
    // Forget the oldest instances, never the current one or the refused one.
    for (const [instance] of state.known) {
      if (state.known.size <= INSTANCES_REMEMBERED_MAX) break;
      if (
        instance === state.current ||
        instance === state.refusal?.instance ||
        instance === sighting.instance
      )
        continue;
      state.known.delete(instance);
    }
    return known;
  }
}

function positive(name: string, value: number): number {
  return integerField(name, value, undefined, 1);
}
