/**
 * The simulated network between replicas: every frame can be lost, duplicated, delayed (and so
 * reordered), cut off by a partition (the cluster split into groups, both ways) or a one-way
 * partition (one direction of one link), or slowed on a slow link. A frame in flight is lost
 * if a partition cuts its link before it arrives or its receiver's process died (a restarted
 * process has new connections). All choices come from the run's PRNG.
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

/** What the network needs to know of the replicas' processes. */
export interface NetworkEndpoints {
  /** Whether the replica's process is up and taking connections. */
  up(replica: number): boolean;
  /** The replica's current process: a frame sent to an earlier one is lost. */
  incarnation(replica: number): number;
  /** Hands a frame to the replica's process. */
  deliver(to: number, from: number, frame: Uint8Array): void;
}

export class SimNetwork {
  faults: NetworkFaults;
  /** Partition group per replica; frames cross only within a group. Null: no partition. */
  partition: readonly number[] | null = null;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, bytes: 0 };
  readonly #queue: EventQueue;
  readonly #prng: Prng;
  readonly #replicaCount: number;
  #endpoints: NetworkEndpoints | null = null;
  /** Directed links cut one way, as `from * n + to`. */
  readonly #cut = new Set<number>();
  /** Extra delay of slow directed links, as `from * n + to`. */
  readonly #slow = new Map<number, number>();

  constructor(queue: EventQueue, prng: Prng, replicaCount: number, faults: NetworkFaults) {
    this.#queue = queue;
    this.#prng = prng;
    this.#replicaCount = replicaCount;
    this.faults = faults;
  }

  /** Connects the network to the replicas' processes (once, before the first frame). */
  attach(endpoints: NetworkEndpoints): void {
    this.#endpoints = endpoints;
  }

  /** Cuts frames from `from` to `to` (not the other way) until `restoreOneWay` or `heal`. */
  cutOneWay(from: number, to: number): void {
    this.#cut.add(from * this.#replicaCount + to);
  }

  /** Lets frames from `from` to `to` through again. */
  restoreOneWay(from: number, to: number): void {
    this.#cut.delete(from * this.#replicaCount + to);
  }

  /** Adds `extraMs` to every frame from `from` to `to`, until `restoreSpeed` or `heal`. */
  slowDown(from: number, to: number, extraMs: number): void {
    this.#slow.set(from * this.#replicaCount + to, extraMs);
  }

  restoreSpeed(from: number, to: number): void {
    this.#slow.delete(from * this.#replicaCount + to);
  }

  /** Clears every partition, one-way cut and slow link. */
  heal(): void {
    this.partition = null;
    this.#cut.clear();
    this.#slow.clear();
  }

  /** Whether frames from `from` reach `to` now. */
  linkUp(from: number, to: number): boolean {
    if (this.partition !== null && this.partition[from] !== this.partition[to]) return false;
    return !this.#cut.has(from * this.#replicaCount + to);
  }

  /**
   * Whether `a` has a working connection to `b`: both processes up and frames passing both ways
   * (a connection needs both; a one-way partition breaks it, as it breaks a TCP connection).
   */
  connected(a: number, b: number): boolean {
    const endpoints = this.#endpoints!;
    return endpoints.up(a) && endpoints.up(b) && this.linkUp(a, b) && this.linkUp(b, a);
  }

  send(from: number, to: number, frame: Uint8Array): void {
    const endpoints = this.#endpoints!;
    this.stats.sent++;
    this.stats.bytes += frame.length;
    if (!endpoints.up(to) || !this.linkUp(from, to) || this.#prng.chance(this.faults.lossRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.#prng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const incarnation = endpoints.incarnation(to);
    const slow = this.#slow.get(from * this.#replicaCount + to) ?? 0;
    for (let i = 0; i < copies; i++) {
      const delay = this.#prng.between(this.faults.delayMinMs, this.faults.delayMaxMs) + slow;
      this.#queue.schedule(delay, () => {
        if (!this.linkUp(from, to) || !endpoints.up(to) || endpoints.incarnation(to) !== incarnation) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        endpoints.deliver(to, from, frame);
      });
    }
  }
}
