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
  durableReceipt,
  type FinalizedRecord,
} from '../protocol/index.ts';
import type { Clock } from '../shell/clock.ts';
import type { Store } from './store.ts';

/** How a {@link MemoryStore} models its disk. */
export interface MemoryStoreOptions {
  /** Milliseconds of `clock` each flush takes. With 0 (the default) a flush runs on the next turn. */
  readonly flushLatencyMs?: number;
  /** The clock that times `flushLatencyMs`; needed only when it is above 0. */
  readonly clock?: Clock;
}

type Operation =
  | {
      readonly kind: 'apply';
      readonly writes: readonly DurableWrite[];
      readonly through: number;
      readonly resolve: (receipt: DurableReceipt) => void;
    }
  | { readonly kind: 'prune'; readonly sequence: number; readonly resolve: () => void };

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
  #queued: Operation[] = [];
  #flushing = false;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#flushLatencyMs = options.flushLatencyMs ?? 0;
    this.#clock = options.clock;
    if (this.#flushLatencyMs > 0 && this.#clock === undefined)
      throw new ArgumentError('a MemoryStore with flushLatencyMs needs a clock');
  }

  apply(writes: readonly DurableWrite[], through: number): Promise<DurableReceipt> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('the store is closed'));
        return;
      }
      this.#queued.push({ kind: 'apply', writes, through, resolve });
      this.#scheduleFlush();
    });
  }

  pruneFinalized(sequence: number): Promise<void> {
    return new Promise((resolve) => {
      this.#queued.push({ kind: 'prune', sequence, resolve });
      this.#scheduleFlush();
    });
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
    return this.#queued.length;
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
      const group = this.#take();
      if (this.#flushLatencyMs > 0) this.#clock!.setTimer(this.#flushLatencyMs, () => this.#complete(group));
      else this.#complete(group);
    });
  }

  #take(): Operation[] {
    const group = this.#queued;
    this.#queued = [];
    return group;
  }

  /** Makes a group durable, resolves its promises, and starts the next flush if writes wait. */
  #complete(group: readonly Operation[]): void {
    for (const operation of group) {
      if (operation.kind === 'apply') for (const write of operation.writes) this.image.apply(write);
      else
        for (const sequence of [...this.image.finalized.keys()]) {
          if (sequence <= operation.sequence) this.image.finalized.delete(sequence);
        }
    }
    this.stats.flushes++;
    for (const operation of group) {
      if (operation.kind === 'apply') {
        this.stats.applied++;
        operation.resolve(durableReceipt(operation.through));
      } else operation.resolve();
    }
    this.#flushing = false;
    if (this.#queued.length > 0) this.#scheduleFlush();
  }
}
