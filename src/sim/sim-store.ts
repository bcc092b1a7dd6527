/**
 * The `Store` one simulated process writes through, over its replica's disk. It commits as the
 * LMDB store does: writes queue up; a sync starts at the end of the current turn and takes
 * everything queued (group commit); it completes after a latency drawn from the seed, and only
 * then are its writes durable and their receipts given. A crash before that loses them. A sync
 * can fail: its writes are lost, every queued and later write is refused, and the engine halts
 * as it does in production.
 */
import {
  type DurableReceipt,
  type DurableSnapshot,
  type DurableWrite,
  durableReceipt,
  type FinalizedRecord,
} from '../protocol/index.ts';
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

type Operation =
  | {
      readonly kind: 'apply';
      readonly writes: readonly DurableWrite[];
      readonly through: number;
      readonly resolve: (receipt: DurableReceipt) => void;
      readonly reject: (error: unknown) => void;
    }
  | {
      readonly kind: 'prune';
      readonly sequence: number;
      readonly resolve: () => void;
      readonly reject: (error: unknown) => void;
    };

export class SimStore implements Store {
  readonly #disk: SimDisk;
  readonly #process: SimProcess;
  readonly #prng: Prng;
  readonly #options: SimStoreOptions;
  #queued: Operation[] = [];
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
    return new Promise((resolve, reject) => {
      const refusal = this.#refusal();
      if (refusal !== null) {
        reject(refusal);
        return;
      }
      this.#queued.push({ kind: 'apply', writes, through, resolve, reject });
      this.#scheduleSync();
    });
  }

  pruneFinalized(sequence: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const refusal = this.#refusal();
      if (refusal !== null) {
        reject(refusal);
        return;
      }
      this.#queued.push({ kind: 'prune', sequence, resolve, reject });
      this.#scheduleSync();
    });
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
      const group = this.#queued;
      this.#queued = [];
      const [low, high] = this.#options.syncLatencyMs;
      this.#process.schedule(this.#prng.between(low, high), () => this.#complete(group));
    });
  }

  #complete(group: readonly Operation[]): void {
    this.#syncing = false;
    if (this.#disk.takeSyncFailure(this.#process.now)) {
      const error = new SimulatedSyncError(`simulated sync failure on ${this.#disk.path}`);
      this.#failure = error;
      const refused = [...group, ...this.#queued];
      this.#queued = [];
      for (const operation of refused) operation.reject(error);
      return;
    }
    const image = this.#disk.image;
    for (const operation of group) {
      if (operation.kind === 'apply') {
        for (const write of operation.writes) image.apply(write);
      } else {
        for (const sequence of image.finalized.keys())
          if (sequence <= operation.sequence) image.finalized.delete(sequence);
      }
    }
    this.syncs++;
    for (const operation of group) {
      if (operation.kind === 'apply') operation.resolve(durableReceipt(operation.through));
      else operation.resolve();
    }
    if (this.#queued.length > 0) this.#scheduleSync();
  }
}
