/**
 * Whether this node sees a quorum: itself plus the validators it has a working connection to,
 * against the quorum the protocol needs. Without one the cluster cannot finalize anything
 * (PBFT needs 2f + 1 of n to prepare and commit), yet a node keeps accepting vertices (202),
 * answering `/healthz` and logging nothing: an operator, a readiness probe and a client all
 * need to be told. This module is the one place that says so.
 *
 * The reading is live (`reading()`: status, readiness and the gauges use it as it is, so they
 * agree with the transport at every moment). Logs are not: a line is written only when the
 * state has changed and stayed changed for `debounceMs`, so a link that flaps faster than that
 * writes nothing, and a sustained loss writes one `quorum-lost` line, then one
 * `quorum-regained` line once it is back. The node starts as if it had a quorum, so a normal
 * start logs nothing; a node that has not seen a quorum since it started reports the loss only
 * after `startGraceMs`, since nodes started one by one (or by an orchestrator, in any order)
 * are without one for a while as a matter of course.
 *
 * "Reachable" is what this node's transport says: a connected peer that is silent or banned
 * still counts. That is the right test for "are enough validators up and linked to me"; whether
 * they also make progress is what `ConsensusNotFinalizing` watches.
 */

import { integerField } from '../protocol/errors.ts';
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';

/** What this node sees of the quorum now. */
export interface QuorumReading {
  /** Validators reachable from here, this node included. */
  readonly reachable: number;
  /** Validators in the cluster. */
  readonly validators: number;
  /** Validators the protocol needs (the quorum, 2f + 1 for n = 3f + 1). */
  readonly needed: number;
  /** `reachable >= needed`. */
  readonly available: boolean;
}

/** Options of {@link QuorumWatch}. */
export interface QuorumWatchOptions {
  /** Validators in the cluster. */
  readonly validators: number;
  /** The quorum size. */
  readonly needed: number;
  /** The peers this node has a working connection to (validators other than itself). */
  readonly connectedPeers: () => readonly string[];
  /** Called once a change has lasted `debounceMs`: the quorum was lost, or is back. */
  readonly onChange: (change: 'lost' | 'regained', reading: QuorumReading) => void;
  /** How long a change must last before `onChange` hears of it. Default 2,000 ms. */
  readonly debounceMs?: number;
  /**
   * How long after the start a node that has not yet seen a quorum waits before reporting it
   * lost (at least `debounceMs`). Default 10,000 ms.
   */
  readonly startGraceMs?: number;
  /** Default: the system clock. Tests pass a ManualClock. */
  readonly clock?: Clock;
}

/** The words every surface uses for a missing quorum: status, readiness, logs and the client. */
export function describeQuorum(reading: QuorumReading): string {
  return reading.available
    ? `quorum: ${reading.reachable} of ${reading.validators} validators reachable, ${reading.needed} needed`
    : `no quorum: ${reading.reachable} of ${reading.validators} validators reachable, ${reading.needed} needed`;
}

/** Watches the quorum; call {@link QuorumWatch.update} whenever a peer connects or disconnects. */
export class QuorumWatch {
  readonly debounceMs: number;
  readonly startGraceMs: number;
  readonly #options: QuorumWatchOptions;
  readonly #clock: Clock;
  /** What was last reported (through `onChange`, or assumed at start). */
  #reported = true;
  #timer: Timer | null = null;
  #closed = false;
  readonly #startedAt: number;
  /** A quorum was seen since the start. */
  #seen = false;
  /** Losses reported through `onChange`. */
  losses = 0;
  /** The validators of the epoch this node is in, once a reconfiguration named them. */
  #members: {
    readonly validators: ReadonlySet<string>;
    readonly needed: number;
    readonly self: boolean;
  } | null = null;

  /** @throws ArgumentError for figures that cannot describe a cluster. */
  constructor(options: QuorumWatchOptions) {
    const { validators, needed } = options;
    integerField('validators', validators, undefined, 1);
    integerField('needed', needed, undefined, 1, validators);
    this.debounceMs = integerField('debounceMs', options.debounceMs, 2000, 0);
    this.startGraceMs = integerField('startGraceMs', options.startGraceMs, 10_000, 0);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#startedAt = this.#clock.now();
    this.update();
  }

  /** The quorum as the transport sees it now. */
  reading(): QuorumReading {
    const members = this.#members;
    if (members === null) {
      const { validators, needed } = this.#options;
      const reachable = Math.min(validators, 1 + this.#options.connectedPeers().length);
      return { reachable, validators, needed, available: reachable >= needed };
    }
    // The transport also keeps links to the epoch before's validators: only this epoch's count.
    let reachable = members.self ? 1 : 0;
    for (const peer of this.#options.connectedPeers()) if (members.validators.has(peer)) reachable++;
    const { needed } = members;
    return { reachable, validators: members.validators.size, needed, available: reachable >= needed };
  }

  /**
   * The validators changed (this node entered another epoch): from now on the quorum is
   * `needed` of `validators`, counting this node only if `self` is one of them.
   */
  setValidators(validators: readonly string[], needed: number, self: boolean): void {
    integerField('needed', needed, undefined, 1, validators.length);
    this.#members = { validators: new Set(validators), needed, self };
    this.update();
  }

  /**
   * Re-reads the transport. A change from what was last reported starts the debounce; a return
   * to it before the debounce ends cancels it.
   */
  update(): void {
    if (this.#closed) return;
    const available = this.reading().available;
    if (available) this.#seen = true;
    if (available === this.#reported) {
      this.#timer?.cancel();
      this.#timer = null;
      return;
    }
    if (this.#timer !== null) return;
    const graceLeftMs = this.#seen ? 0 : this.#startedAt + this.startGraceMs - this.#clock.now();
    this.#timer = this.#clock.setTimer(Math.max(this.debounceMs, graceLeftMs), () => {
      this.#timer = null;
      if (this.#closed) return;
      const reading = this.reading();
      if (reading.available) this.#seen = true;
      if (reading.available === this.#reported) return;
      this.#reported = reading.available;
      if (!reading.available) this.losses++;
      this.#options.onChange(reading.available ? 'regained' : 'lost', reading);
    });
  }

  /** Stops watching: no timer is left and nothing more is reported. */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
  }
}
