/**
 * The LMDB store's write path: group commit of `apply` and `pruneFinalized`.
 *
 * `apply` queues its writes; one flush at a time takes everything queued, builds the records,
 * and commits them in one LMDB transaction (`db.batch`, whose writes cannot be split across
 * transactions). Writes that arrive while a flush is syncing share the next one, so under load
 * the number of syncs stays near the disk's sync rate however many steps there are.
 * (lmdb-js's asynchronous `transaction(callback)` is not used: in this environment its callback
 * never runs. Reads the writes depend on - truncation ranges, retention - go through a small
 * write set (`write-set.ts`) that overlays the group's own writes on the committed state. The
 * vertex index is never read on the write path: finalizing a batch adds one entry per vertex and
 * pruning it removes exactly those, so its entries are staged as a plain log. They reach the log
 * some commits after their batch, one 1,024th of the key range per commit: see
 * `index-tail.ts`.)
 */
import type { DurableReceipt, DurableWrite } from '../../protocol/effects.ts';
import { CommitQueue, type QueuedOperation, settleGroup } from '../commit-queue.ts';
import { StoreClosedError } from '../errors.ts';
import type { VertexIndexTail } from '../index-tail.ts';
import { type Db, decodeOrRefuse } from '../record-checks.ts';
import {
  encodeAcceptedList,
  encodeEpoch,
  encodeFinalized,
  encodeIndexWatermarks,
  encodeLastFinalized,
  encodePrePrepare,
  encodePrepared,
  encodeStable,
  encodeView,
  finalizedDeliveredHashes,
  KEY_PREFIX,
  keys,
  vertexIndexEntry,
} from '../record-codec.ts';
import { sequenceOf } from './key-ranges.ts';
import { WriteSet } from './write-set.ts';

/** Counters for tests and metrics. */
export interface LmdbStoreStats {
  /** Synced LMDB transactions committed by `apply` and `pruneFinalized`. */
  syncs: number;
  /** Calls to `apply` made durable. */
  applied: number;
  /** Durable writes made durable. */
  writes: number;
}

/**
 * The queue of durable writes to one open environment, committed in synced groups. It refuses
 * new writes once closed, and for good after a write failed.
 */
export class GroupCommit {
  readonly stats: LmdbStoreStats = { syncs: 0, applied: 0, writes: 0 };
  readonly #db: Db;
  readonly #path: string;
  #lastFinalized: number;
  /** Vertex index entries not written yet (see `index-tail.ts`). */
  readonly #indexTail: VertexIndexTail;
  readonly #queue = new CommitQueue(() => this.#schedule());
  #flushing: Promise<void> | null = null;
  #failure: unknown = null;
  #closed = false;

  constructor(db: Db, storePath: string, lastFinalized: number, indexTail: VertexIndexTail) {
    this.#db = db;
    this.#path = storePath;
    this.#lastFinalized = lastFinalized;
    this.#indexTail = indexTail;
  }

  /** The highest sequence finalized by a commit that has completed (0 before any). */
  get lastFinalized(): number {
    return this.#lastFinalized;
  }

  /** Whether `close` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queues `writes` for the next group; the receipt comes once the group's commit is synced. */
  apply(writes: readonly DurableWrite[], through: number): Promise<DurableReceipt> {
    return this.#queue.apply(writes, through, this.refusal());
  }

  /** Queues the removal of the finalized records up to `sequence` for the next group. */
  pruneFinalized(sequence: number): Promise<void> {
    return this.#queue.pruneFinalized(sequence, this.refusal());
  }

  /** Why a write (or a backup, or a scrub) is refused now: closed, or stopped by a failed write. */
  refusal(): Error | null {
    if (this.#closed) return new StoreClosedError(`the store at ${this.#path} is closed`);
    if (this.#failure !== null) {
      return new StoreClosedError(`the store at ${this.#path} stopped after a failed write`, {
        cause: this.#failure,
      });
    }
    return null;
  }

  /**
   * Starts a flush on the next turn of the event loop unless one is running: everything queued
   * by then (the steps of one burst of input) shares one sync.
   */
  #schedule(): void {
    if (this.#flushing !== null) return;
    this.#flushing = new Promise((done) => setImmediate(() => this.#flushAll().then(done)));
  }

  async #flushAll(): Promise<void> {
    while (this.#queue.length > 0 && this.#failure === null) {
      const group = this.#queue.take();
      try {
        await this.#flush(group);
      } catch (error) {
        this.#failure = error;
        this.#queue.fail(group, error);
      }
    }
    this.#flushing = null;
  }

  /** Commits one group in one synced transaction, then resolves its operations in order. */
  async #flush(group: readonly QueuedOperation[]): Promise<void> {
    // Read the state the previous commit left, not a snapshot from before it.
    this.#db.resetReadTxn();
    const set = new WriteSet(this.#db, this.#path);
    let lastFinalized = this.#lastFinalized;
    let writes = 0;
    for (const operation of group) {
      if (operation.kind === 'prune') {
        for (const key of set.keysInRange(KEY_PREFIX.finalized, 0, operation.sequence)) {
          this.#removeFinalized(set, sequenceOf(key));
        }
        continue;
      }
      for (const write of operation.writes) {
        lastFinalized = this.#stage(set, write, lastFinalized);
        writes++;
      }
    }
    if (set.size > 0) {
      // The commit writes one bucket of waiting index entries, and where every bucket stands.
      this.#stageIndexTail(set, lastFinalized, false);
      await this.#db.batch(() => set.issue());
      this.stats.syncs++;
    }
    this.#lastFinalized = lastFinalized;
    this.stats.applied += settleGroup(group);
    this.stats.writes += writes;
  }

  /** Stages one write, as `DurableImage.apply` applies it. Returns the last finalized sequence. */
  #stage(set: WriteSet, write: DurableWrite, lastFinalized: number): number {
    switch (write.kind) {
      case 'epoch':
        set.put(keys.epoch(write.record.number), encodeEpoch(write.record));
        return lastFinalized;
      case 'view':
        set.put(keys.view(), encodeView(write));
        return lastFinalized;
      case 'pre-prepare':
        set.put(keys.prePrepare(write.sequence), encodePrePrepare(write));
        return lastFinalized;
      case 'prepared':
        set.put(keys.prepared(write.sequence), encodePrepared(write));
        return lastFinalized;
      case 'stable':
        set.put(keys.stable(), encodeStable(write.certificate));
        return lastFinalized;
      case 'finalized': {
        const { record } = write;
        const { sequence } = record;
        // A finalized record never changes in practice; should one be rewritten, its old
        // vertices leave the index first.
        this.#removeFinalized(set, sequence);
        set.put(keys.finalized(sequence), encodeFinalized(record));
        // One index entry per delivered slot, added without reading: a vertex is delivered at
        // most once, so its entry is its one place in the order.
        const { batch } = record;
        for (const index of record.delivered) {
          const { hash } = batch[index]!;
          if (this.#indexTail.waits(hash, sequence)) {
            this.#indexTail.add(hash, sequence, index);
          } else {
            const entry = vertexIndexEntry(hash, sequence, index);
            set.putIndexEntry(entry.key, entry.value);
          }
        }
        let last = lastFinalized;
        if (sequence > last) {
          last = sequence;
          set.put(keys.lastFinalized(), encodeLastFinalized(sequence));
        }
        return last;
      }
      case 'accepted': {
        const { key, value } = encodeAcceptedList(write.vertices);
        set.put(key, value);
        return lastFinalized;
      }
      case 'truncate':
        for (const key of set.keysInRange(KEY_PREFIX.prePrepare, 0, write.through)) set.remove(key);
        for (const key of set.keysInRange(KEY_PREFIX.prepared, 0, write.through)) set.remove(key);
        // Keyed by (highest) validThrough first: the expired (or final) ones are one range.
        for (const key of set.keysInRange(KEY_PREFIX.acceptedList, 0, write.through)) set.remove(key);
        for (const key of set.keysInRange(KEY_PREFIX.accepted, 0, write.through)) set.remove(key);
        return lastFinalized;
    }
  }

  /**
   * Removes the finalized record at `sequence` and the index entries of its delivered slots (the
   * record lists its hashes first, so they are read without decoding the rest).
   */
  #removeFinalized(set: WriteSet, sequence: number): void {
    const key = keys.finalized(sequence);
    const value = set.get(key);
    if (value === undefined) return;
    const slots = decodeOrRefuse(this.#path, key, () => finalizedDeliveredHashes(sequence, value));
    for (const { hash, position: index } of slots) {
      // An entry still waiting in the tail was never written: it is dropped below instead.
      if (!this.#indexTail.waits(hash, sequence)) set.removeIndexEntry(keys.vertex(hash, sequence, index));
    }
    this.#indexTail.dropSequence(sequence);
    set.remove(key);
  }

  /** Stages the waiting index entries one commit writes (all of them with `all`), and the watermarks. */
  #stageIndexTail(set: WriteSet, lastFinalized: number, all: boolean): void {
    this.#indexTail.take(lastFinalized, all, (hashes, at, sequence, index) => {
      const entry = vertexIndexEntry(hashes, sequence, index, at);
      set.putIndexEntry(entry.key, entry.value);
    });
    set.put(keys.indexWatermarks(), encodeIndexWatermarks(this.#indexTail.watermarks));
  }

  /**
   * Refuses new writes, waits for queued ones to become durable, then writes every waiting
   * index entry (a crash instead leaves the tail to be rebuilt at the next open). The caller
   * closes the environment afterwards.
   */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing !== null) await this.#flushing;
    if (this.#failure === null && this.#indexTail.size > 0) {
      const set = new WriteSet(this.#db, this.#path);
      this.#stageIndexTail(set, this.#lastFinalized, true);
      await this.#db.batch(() => set.issue());
    }
  }
}
