/**
 * An in-memory {@link Store} for tests and benchmarks. It follows the reference image of the
 * durable writes (`DurableImage`) and models a disk: writes become durable only when a flush
 * completes, a flush takes every write queued before it starts (group commit), and an optional
 * latency per flush, timed by an injected clock, stands in for fsync. A flush begins on the
 * next turn of the event loop, so every write made in one turn shares it.
 */

import { ArgumentError } from '../errors.ts';
import {
  DurableImage,
  type DurableReceipt,
  type DurableSnapshot,
  type DurableWrite,
  type FinalizedRecord,
} from '../protocol/index.ts';
import type { Clock } from '../shell/clock.ts';
import { applyGroup, CommitQueue, type QueuedOperation, settleGroup } from './commit-queue.ts';
import type { Store } from './store.ts';

/** How a {@link MemoryStore} models its disk. */
export interface MemoryStoreOptions {
  /** Milliseconds of `clock` each flush takes. With 0 (the default) a flush runs on the next turn. */
  readonly flushLatencyMs?: number;
  /** The clock that times `flushLatencyMs`; needed only when it is above 0. */
  readonly clock?: Clock;
}

/** Counters for tests of group commit. */
export interface MemoryStoreStats {
  /** Flushes completed. */
  flushes: number;
  /** Write batches (calls to `apply`) made durable. */
  applied: number;
}

export class MemoryStore implements Store {
  /** What is durable: the state a restart would see. */
  readonly image = new DurableImage();
  readonly stats: MemoryStoreStats = { flushes: 0, applied: 0 };
  readonly #flushLatencyMs: number;
  readonly #clock: Clock | undefined;
  readonly #queue = new CommitQueue(() => this.#scheduleFlush());
  #flushing = false;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#flushLatencyMs = options.flushLatencyMs ?? 0;
    this.#clock = options.clock;
    if (this.#flushLatencyMs > 0 && this.#clock === undefined)
      throw new ArgumentError('a MemoryStore with flushLatencyMs needs a clock');
  }

  apply(writes: readonly DurableWrite[], through: number): Promise<DurableReceipt> {
    return this.#queue.apply(writes, through, this.#closed ? new Error('the store is closed') : null);
  }

  pruneFinalized(sequence: number): Promise<void> {
    return this.#queue.pruneFinalized(sequence, null);
  }

  async load(recentFinalized: number): Promise<DurableSnapshot> {
    return this.image.snapshot(recentFinalized);
  }

  /** The record finalized at `sequence`, if it is durable and kept. */
  finalizedAt(sequence: number): FinalizedRecord | undefined {
    return this.image.finalizedAt(sequence);
  }

  /** Writes queued and not yet durable. */
  get queuedOperations(): number {
    return this.#queue.length;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    // A flush begins at the end of the turn, so that the writes of every step of this turn share
    // it; what arrives while it is under way waits for the next one.
    setImmediate(() => {
      const group = this.#queue.take();
      if (this.#flushLatencyMs > 0) this.#clock!.setTimer(this.#flushLatencyMs, () => this.#complete(group));
      else this.#complete(group);
    });
  }

  /** Makes a group durable, resolves its promises, and starts the next flush if writes wait. */
  #complete(group: readonly QueuedOperation[]): void {
    applyGroup(this.image, group);
    this.stats.flushes++;
    this.stats.applied += settleGroup(group);
    this.#flushing = false;
    if (this.#queue.length > 0) this.#scheduleFlush();
  }
}
