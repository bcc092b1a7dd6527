/**
 * The simulated network: every frame between two replicas can be lost, duplicated, delayed
 * (and so reordered) or cut off by a partition. All choices come from the run's PRNG.
 */
import type { EventQueue } from './event-queue.ts';
import type { Prng } from './prng.ts';

export interface NetworkFaults {
  /** Probability that a frame is dropped. */
  lossRate: number;
  /** Probability that a frame is delivered twice. */
  duplicateRate: number;
  delayMinMs: number;
  delayMaxMs: number;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  bytes: number;
}

export class SimNetwork {
  faults: NetworkFaults;
  /** Partition group per replica; frames cross only within a group. Null: no partition. */
  partition: readonly number[] | null = null;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, bytes: 0 };
  readonly #queue: EventQueue;
  readonly #prng: Prng;
  readonly #deliver: (to: number, from: number, frame: Uint8Array) => void;

  constructor(
    queue: EventQueue,
    prng: Prng,
    faults: NetworkFaults,
    deliver: (to: number, from: number, frame: Uint8Array) => void,
  ) {
    this.#queue = queue;
    this.#prng = prng;
    this.faults = faults;
    this.#deliver = deliver;
  }

  /** Whether `a` and `b` can currently reach each other. */
  connected(a: number, b: number): boolean {
    return this.partition === null || this.partition[a] === this.partition[b];
  }

  send(from: number, to: number, frame: Uint8Array): void {
    this.stats.sent++;
    this.stats.bytes += frame.length;
    if (!this.connected(from, to) || this.#prng.chance(this.faults.lossRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.#prng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay = this.#prng.between(this.faults.delayMinMs, this.faults.delayMaxMs);
      this.#queue.schedule(delay, () => {
        // A partition that formed while the frame was in flight cuts it off too.
        if (!this.connected(from, to)) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        this.#deliver(to, from, frame);
      });
    }
  }
}
