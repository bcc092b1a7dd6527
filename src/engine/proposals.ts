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

/**
 * Told once how a proposal ended: final here, or given up on. A waiter with `acknowledged` is
 * also told once, first, that the replica holds the vertex durably (it survives a crash of this
 * node): when the replica says so, or at the latest as the vertex becomes final, which is durable.
 */
export interface ProposalWaiter {
  readonly resolve: (result: ProposalResult) => void;
  readonly reject: (error: ProposalRejectedError) => void;
  readonly acknowledged?: () => void;
}

interface PendingProposal {
  readonly vertex: Vertex;
  /** Engine clock time of the first propose() call, for the finality histogram. */
  readonly proposedAt: number;
  readonly waiters: ProposalWaiter[];
  /** The replica holds the vertex durably (see `acknowledge`). */
  acknowledged: boolean;
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
   * returns whether the proposal is new. A waiter joining a proposal held durably already is
   * told so at once.
   *
   * @throws ArgumentError when the pending proposal is `crowded` already: callers check first.
   */
  add(key: string, vertex: Vertex, now: number, waiter: ProposalWaiter): boolean {
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      if (pending.waiters.length >= PROPOSAL_WAITERS_MAX)
        throw new ArgumentError(`the proposal ${key} has ${PROPOSAL_WAITERS_MAX} waiters already`);
      pending.waiters.push(waiter);
      if (pending.acknowledged) waiter.acknowledged?.();
      return false;
    }
    this.#pending.set(key, { vertex, proposedAt: now, waiters: [waiter], acknowledged: false });
    return true;
  }

  /** The replica holds the vertex `key` durably. */
  acknowledge(key: string): void {
    const pending = this.#pending.get(key);
    if (pending === undefined || pending.acknowledged) return;
    pending.acknowledged = true;
    for (const waiter of pending.waiters) waiter.acknowledged?.();
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
    if (!pending.acknowledged) for (const waiter of pending.waiters) waiter.acknowledged?.();
    for (const waiter of pending.waiters) waiter.resolve(result);
    this.#checkEmpty();
    return pending.proposedAt;
  }

  reject(key: string, error: ProposalRejectedError): void {
    const pending = this.#pending.get(key);
    if (pending === undefined) return;
    this.#pending.delete(key);
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

/**
 * The waiters of one list of proposals accepted together (`BftEngine.acceptMany`): one object
 * for the list and one small one per vertex. (A pair of waiters of closures per vertex made
 * seven objects that each lived until the vertex was final, the largest share of what the
 * leader's collector kept at the peak: docs/benchmarks.md.)
 */
export class AcceptedList {
  readonly #vertices: readonly Vertex[];
  /** Per vertex, the refusal before it was held, or null. */
  readonly #outcomes: (ProposalRejectedError | null)[];
  readonly #onGivenUp: ((vertex: Vertex, error: ProposalRejectedError) => void) | undefined;
  readonly #done = Promise.withResolvers<(ProposalRejectedError | null)[]>();
  /** Vertices not yet held or refused, and one for the caller, so that none settles it early. */
  #unsettled = 1;

  constructor(
    vertices: readonly Vertex[],
    onGivenUp: ((vertex: Vertex, error: ProposalRejectedError) => void) | undefined,
  ) {
    this.#vertices = vertices;
    this.#outcomes = new Array<ProposalRejectedError | null>(vertices.length).fill(null);
    this.#onGivenUp = onGivenUp;
  }

  /** Vertex `index` was refused before it was held. */
  refuse(index: number, error: ProposalRejectedError): void {
    this.#outcomes[index] = error;
  }

  /** The waiter of vertex `index`, to be registered on its proposal. */
  waiter(index: number): ProposalWaiter {
    this.#unsettled++;
    return new AcceptedListWaiter(this, index);
  }

  /**
   * Once every vertex given a waiter is held or refused: per vertex, the refusal or null. Call
   * once, after the last `waiter` or `refuse`.
   */
  settled(): Promise<(ProposalRejectedError | null)[]> {
    this.#settleOne();
    return this.#done.promise;
  }

  /** @internal The waiter of vertex `index` settled: held (`error` null) or refused. */
  settle(index: number, error: ProposalRejectedError | null): void {
    if (error !== null) this.#outcomes[index] = error;
    this.#settleOne();
  }

  /** @internal Vertex `index` was given up on after it was held. */
  givenUp(index: number, error: ProposalRejectedError): void {
    this.#onGivenUp?.(this.#vertices[index]!, error);
  }

  #settleOne(): void {
    this.#unsettled--;
    if (this.#unsettled === 0) this.#done.resolve(this.#outcomes);
  }
}

/** One vertex's waiter in an {@link AcceptedList}: its methods on the prototype, no closures. */
class AcceptedListWaiter implements ProposalWaiter {
  readonly #list: AcceptedList;
  readonly #index: number;
  #held = false;

  constructor(list: AcceptedList, index: number) {
    this.#list = list;
    this.#index = index;
  }

  acknowledged(): void {
    if (this.#held) return;
    this.#held = true;
    this.#list.settle(this.#index, null);
  }

  resolve(): void {
    // Told `acknowledged` first: final counts as held.
  }

  reject(error: ProposalRejectedError): void {
    if (this.#held) this.#list.givenUp(this.#index, error);
    else this.#list.settle(this.#index, error);
  }
}
