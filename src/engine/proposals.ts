/**
 * Proposals this engine accepted and has not seen finalized yet, with the callers waiting on
 * them. A vertex proposed twice while pending is one proposal with two waiters, so each promise
 * resolves exactly once, when the vertex first becomes final here.
 */
import { ArgumentError } from '../errors.ts';
import type { Digest, Vertex } from '../protocol/index.ts';
import { Fifo } from '../shell/fifo.ts';
import type { ProposalRejectedError } from './errors.ts';

/** Where a proposed vertex ended up in the total order. */
export interface ProposalResult {
  readonly hash: Digest;
  readonly sequence: number;
  /** The vertex's index in the batch finalized at `sequence`. */
  readonly position: number;
}

/** Told once how a proposal ended: final here, or given up on. */
export interface ProposalWaiter {
  readonly resolve: (result: ProposalResult) => void;
  readonly reject: (error: ProposalRejectedError) => void;
}

/** Told once whether the replica came to hold a proposal durably, or refused it first. */
export interface AcknowledgeWaiter {
  readonly resolve: () => void;
  readonly reject: (error: ProposalRejectedError) => void;
}

interface PendingProposal {
  readonly vertex: Vertex;
  /** Engine clock time of the first propose() call, for the finality histogram. */
  readonly proposedAt: number;
  readonly waiters: ProposalWaiter[];
  /** The replica holds the vertex durably (see `acknowledge`). */
  acknowledged: boolean;
  /** Callers waiting for that. */
  readonly acknowledgeWaiters: AcknowledgeWaiter[];
}

/**
 * Callers one pending proposal keeps at most. A caller who submits the same vertex again and
 * again (an HTTP client retrying) must not grow this node's memory without bound while the
 * vertex waits, which without a quorum can be for ever; the engine refuses the one beyond as
 * 'full' (see `crowded`).
 */
export const PROPOSAL_WAITERS_MAX = 16;

export class ProposalRegistry {
  readonly #pending = new Map<string, PendingProposal>();
  /** Results of recently finalized proposals, oldest first, for a late duplicate propose(). */
  readonly #recent = new Map<string, ProposalResult>();
  /**
   * Keys of `#recent`, oldest first. Evicting through `Map.keys().next()` would walk the holes
   * that deleting from the front of a Map leaves until it rehashes, which showed in the peak
   * profile.
   */
  readonly #recentOrder = new Fifo<string>();
  readonly #recentMax: number;
  #onEmpty: (() => void)[] = [];

  constructor(recentMax: number) {
    this.#recentMax = recentMax;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Results of finalized proposals remembered (at most the `recentMax` given). */
  get recentSize(): number {
    return this.#recent.size;
  }

  /** The `recentMax` this registry was built with. */
  get recentMax(): number {
    return this.#recentMax;
  }

  has(key: string): boolean {
    return this.#pending.has(key);
  }

  /** Whether the pending proposal `key` keeps as many callers as it may ({@link PROPOSAL_WAITERS_MAX}). */
  crowded(key: string): boolean {
    const pending = this.#pending.get(key);
    return pending !== undefined && pending.waiters.length >= PROPOSAL_WAITERS_MAX;
  }

  /** The result of a proposal finalized recently, if remembered. */
  recent(key: string): ProposalResult | undefined {
    return this.#recent.get(key);
  }

  /**
   * Registers `waiter` for `vertex`, as a new proposal or on the pending one with the same hash;
   * returns whether the proposal is new.
   *
   * @throws ArgumentError when the pending proposal is `crowded` already: callers check first.
   */
  add(key: string, vertex: Vertex, now: number, waiter: ProposalWaiter): boolean {
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      if (pending.waiters.length >= PROPOSAL_WAITERS_MAX)
        throw new ArgumentError(`the proposal ${key} has ${PROPOSAL_WAITERS_MAX} waiters already`);
      pending.waiters.push(waiter);
      return false;
    }
    this.#pending.set(key, {
      vertex,
      proposedAt: now,
      waiters: [waiter],
      acknowledged: false,
      acknowledgeWaiters: [],
    });
    return true;
  }

  /**
   * Tells `waiter` once the pending proposal `key` is held durably by the replica (it survives a
   * crash; at once if it is already), or when it is refused first, as the proposal is. Returns
   * false, telling nobody, when no proposal `key` is pending.
   */
  whenAcknowledged(key: string, waiter: AcknowledgeWaiter): boolean {
    const pending = this.#pending.get(key);
    if (pending === undefined) return false;
    if (pending.acknowledged) waiter.resolve();
    else pending.acknowledgeWaiters.push(waiter);
    return true;
  }

  /** The replica holds the vertex `key` durably. */
  acknowledge(key: string): void {
    const pending = this.#pending.get(key);
    if (pending === undefined || pending.acknowledged) return;
    pending.acknowledged = true;
    for (const waiter of pending.acknowledgeWaiters.splice(0)) waiter.resolve();
  }

  /**
   * Resolves the proposal with hash `key`, if this engine has one, and returns when it was
   * proposed; undefined when nobody here was waiting for it.
   */
  resolve(key: string, result: ProposalResult): number | undefined {
    const pending = this.#pending.get(key);
    if (pending === undefined) return undefined;
    this.#pending.delete(key);
    if (!this.#recent.has(key)) this.#recentOrder.push(key);
    this.#recent.set(key, result);
    while (this.#recent.size > this.#recentMax) {
      const oldest = this.#recentOrder.shift();
      if (oldest === undefined) break;
      this.#recent.delete(oldest);
    }
    // Final here implies durable here: the finalized record holds it.
    for (const waiter of pending.acknowledgeWaiters) waiter.resolve();
    for (const waiter of pending.waiters) waiter.resolve(result);
    this.#checkEmpty();
    return pending.proposedAt;
  }

  reject(key: string, error: ProposalRejectedError): void {
    const pending = this.#pending.get(key);
    if (pending === undefined) return;
    this.#pending.delete(key);
    for (const waiter of pending.acknowledgeWaiters) waiter.reject(error);
    for (const waiter of pending.waiters) waiter.reject(error);
    this.#checkEmpty();
  }

  rejectAll(error: ProposalRejectedError): void {
    for (const key of [...this.#pending.keys()]) this.reject(key, error);
  }

  /** Resolves once no proposal is pending (at once if none is). */
  whenEmpty(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onEmpty.push(resolve));
  }

  #checkEmpty(): void {
    if (this.#pending.size > 0 || this.#onEmpty.length === 0) return;
    const callbacks = this.#onEmpty;
    this.#onEmpty = [];
    for (const callback of callbacks) callback();
  }
}
