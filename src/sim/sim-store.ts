/**
 * The `Store` one simulated process writes through, over its replica's disk. It commits as the
 * LMDB store does: writes queue up; a sync starts at the end of the current turn and takes
 * everything queued (group commit); it completes after a latency drawn from the seed, and only
 * then are its writes durable and their receipts given. A crash before that loses them. A sync
 * can fail: its writes are lost, every queued and later write is refused, and the engine halts
 * as it does in production.
 */
import type { DurableReceipt, DurableSnapshot, DurableWrite, FinalizedRecord } from '../protocol/index.ts';
import { applyGroup, CommitQueue, type QueuedOperation, settleGroup } from '../storage/commit-queue.ts';
import { StoreClosedError } from '../storage/errors.ts';
import type { Store } from '../storage/store.ts';
import type { SimDisk } from './disk.ts';
import type { Prng } from './prng.ts';
import type { SimProcess } from './process.ts';

export interface SimStoreOptions {
  /** The range a sync's latency is drawn from, in virtual milliseconds. */
  readonly syncLatencyMs: readonly [number, number];
}

/** The error of a sync the simulator made fail: the engine halts on it and the run restarts it. */
export class SimulatedSyncError extends Error {
  override readonly name = 'SimulatedSyncError';
}

export class SimStore implements Store {
  readonly #disk: SimDisk;
  readonly #process: SimProcess;
  readonly #prng: Prng;
  readonly #options: SimStoreOptions;
  readonly #queue = new CommitQueue(() => this.#scheduleSync());
  #syncing = false;
  #failure: Error | null = null;
  #closed = false;
  /** Syncs completed, for the run's statistics. */
  syncs = 0;

  constructor(disk: SimDisk, process: SimProcess, prng: Prng, options: SimStoreOptions) {
    this.#disk = disk;
    this.#process = process;
    this.#prng = prng;
    this.#options = options;
  }

  apply(writes: readonly DurableWrite[], through: number): Promise<DurableReceipt> {
    return this.#queue.apply(writes, through, this.#refusal());
  }

  pruneFinalized(sequence: number): Promise<void> {
    return this.#queue.pruneFinalized(sequence, this.#refusal());
  }

  load(recentFinalized: number): Promise<DurableSnapshot> {
    return new Promise((resolve) =>
      this.#process.schedule(0, () => resolve(this.#disk.image.snapshot(recentFinalized))),
    );
  }

  /** Reads what is durable, as a committed LMDB transaction does. */
  finalizedAt(sequence: number): FinalizedRecord | undefined {
    return this.#disk.image.finalizedAt(sequence);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #refusal(): Error | null {
    if (this.#closed) return new StoreClosedError(`the store at ${this.#disk.path} is closed`);
    if (this.#failure !== null)
      return new StoreClosedError(`the store at ${this.#disk.path} stopped after a failed write`, {
        cause: this.#failure,
      });
    return null;
  }

  /** Starts a sync at the end of this turn unless one is under way: what queues meanwhile shares it. */
  #scheduleSync(): void {
    if (this.#syncing) return;
    this.#syncing = true;
    this.#process.schedule(0, () => {
      const group = this.#queue.take();
      const [low, high] = this.#options.syncLatencyMs;
      this.#process.schedule(this.#prng.between(low, high), () => this.#complete(group));
    });
  }

  #complete(group: readonly QueuedOperation[]): void {
    this.#syncing = false;
    if (this.#disk.takeSyncFailure(this.#process.now)) {
      const error = new SimulatedSyncError(`simulated sync failure on ${this.#disk.path}`);
      this.#failure = error;
      this.#queue.fail(group, error);
      return;
    }
    applyGroup(this.#disk.image, group);
    this.syncs++;
    settleGroup(group);
    if (this.#queue.length > 0) this.#scheduleSync();
  }
}
