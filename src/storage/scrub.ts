/**
 * The background scrub of an LMDB store: it reads every record and checks it as `verify-store`
 * does (`record-checks.ts`), a little at a time, so that damage anywhere in the store is found
 * while the node runs rather than when a read happens to trip on it (or never, for history no
 * peer asks for).
 *
 * What a restart needs is checked at open (`LmdbStore.open`); the finalized history and the
 * vertex index, which are most of a store, are checked here, and so is the rest again, since
 * damage can come later.
 *
 * Bounded. The scrub walks the store in key order in chunks of at most `chunkReadsMax` reads
 * (the records it reads and the lookups their checks make), each in its own short read
 * transaction: an LMDB reader never blocks the writer, but a long-lived one keeps every page
 * freed after it began from being reused, so the file would grow for as long as a pass lasted.
 * Each chunk is one consistent snapshot, and every check compares records of one snapshot, so
 * writes between chunks (new batches, pruning, index entries landing) never look like damage.
 * After each chunk it waits long enough to hold `readsPerSecond` and `bytesPerSecond`, so it
 * takes a fixed, small share of the event loop and the disk however large the store. A full
 * pass starts at most once per `passIntervalMs`.
 *
 * On damage it stops and reports a {@link StoreCorruptError} naming the record: the node then
 * stops serving (see `CretoaiNode`) and records the finding in the data directory
 * ({@link markStoreDamaged}), so that the next start refuses the store at once, with the same
 * message and the same two ways back (wipe, or restore a backup), instead of serving again until
 * the scrub gets that far once more.
 */
import fs from 'node:fs';
import path from 'node:path';
import { integerField } from '../protocol/errors.ts';
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';
import { StoreCorruptError, type StoreCorruptionCode } from './errors.ts';
import {
  checkDeliveredSlots,
  checkRecord,
  type Db,
  type DeliveredSlot,
  guardLmdb,
  recordExists,
  snapshotOf,
} from './record-checks.ts';

/** How fast and how often to scrub. */
export interface ScrubOptions {
  /** Reads a second: records read plus the lookups their checks make. Default 10,000. */
  readonly readsPerSecond?: number;
  /** Bytes of records read a second. Default 32 MiB. */
  readonly bytesPerSecond?: number;
  /** Reads per chunk, each chunk one read transaction. Default 250. */
  readonly chunkReadsMax?: number;
  /** From the start of one full pass to the start of the next, at the least. Default 1 h. */
  readonly passIntervalMs?: number;
  /** Default: the system clock. Tests pass a ManualClock. */
  readonly clock?: Clock;
}

/** Where the scrub's findings go. */
export interface ScrubHooks {
  /** A damaged record or a broken reference: the scrub has stopped. */
  readonly onDamage: (error: StoreCorruptError) => void;
  /** A failure that says nothing about the data (the store was closed under it): the scrub has stopped. */
  readonly onFailure?: (error: unknown) => void;
  /** A full pass finished clean. */
  readonly onPass?: (pass: ScrubPass) => void;
}

/** One full pass. */
export interface ScrubPass {
  readonly records: number;
  readonly reads: number;
  readonly bytes: number;
  readonly chunks: number;
  /** From its first chunk to its last, waits included. */
  readonly durationMs: number;
}

/** What the scrub has done since it started. */
export interface ScrubStats {
  /** Full passes finished clean. */
  passes: number;
  records: number;
  reads: number;
  bytes: number;
  chunks: number;
  /** The longest a chunk held its read transaction, in milliseconds. */
  chunkMsMax: number;
}

/**
 * The defaults. At 10,000 reads a second (two per vertex: its index entry, and its lookup from
 * its batch) a pass over a store of 10 M vertices fits in the hour between passes, in chunks of
 * 250 reads that each take a few milliseconds of CPU at most: a small share of a core, in short
 * slices, beside consensus (bench/store-scrub.ts; figures in docs/benchmarks.md).
 */
const DEFAULTS = Object.freeze({
  readsPerSecond: 10_000,
  bytesPerSecond: 32 << 20,
  chunkReadsMax: 250,
  passIntervalMs: 3_600_000,
});

/** Scrubs one store; see the module comment. Made by `LmdbStore.startScrub`. */
export class StoreScrubber {
  readonly readsPerSecond: number;
  readonly bytesPerSecond: number;
  readonly chunkReadsMax: number;
  readonly passIntervalMs: number;
  readonly stats: ScrubStats = { passes: 0, records: 0, reads: 0, bytes: 0, chunks: 0, chunkMsMax: 0 };
  readonly #db: Db;
  readonly #dataPath: string;
  readonly #hooks: ScrubHooks;
  readonly #clock: Clock;
  /** Where the next chunk starts (inclusive), or null at the start of a pass. */
  #next: Uint8Array | null = null;
  /** A finalized record whose index lookups the next chunk goes on with. */
  #pending: {
    readonly key: Uint8Array;
    readonly delivered: readonly DeliveredSlot[];
    readonly from: number;
  } | null = null;
  #pass = { startedAt: 0, records: 0, reads: 0, bytes: 0, chunks: 0 };
  #timer: Timer | null = null;
  #stopped = false;

  /** @throws ArgumentError for a figure that is not a positive integer. */
  constructor(db: Db, dataPath: string, options: ScrubOptions, hooks: ScrubHooks) {
    this.readsPerSecond = positive('scrub.readsPerSecond', options.readsPerSecond ?? DEFAULTS.readsPerSecond);
    this.bytesPerSecond = positive('scrub.bytesPerSecond', options.bytesPerSecond ?? DEFAULTS.bytesPerSecond);
    this.chunkReadsMax = positive('scrub.chunkReadsMax', options.chunkReadsMax ?? DEFAULTS.chunkReadsMax);
    this.passIntervalMs = positive('scrub.passIntervalMs', options.passIntervalMs ?? DEFAULTS.passIntervalMs);
    this.#db = db;
    this.#dataPath = dataPath;
    this.#hooks = hooks;
    this.#clock = options.clock ?? systemClock;
  }

  /** Starts the first pass now. */
  start(): void {
    if (this.#stopped || this.#timer !== null) return;
    this.#startPass();
    this.#schedule(0);
  }

  /** Stops; no chunk runs after this returns (chunks run whole, between turns of the event loop). */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  /** Whether passes are scheduled: after `start`, until `stop`. */
  get running(): boolean {
    return !this.#stopped;
  }

  /**
   * Runs one chunk now. Returns what it read; the timer-driven scrub calls it, and tests and the
   * benchmark call it directly to scrub as fast as the store reads.
   *
   * @throws StoreCorruptError for damage (after stopping and calling `onDamage`).
   */
  chunk(): { readonly reads: number; readonly bytes: number; readonly passDone: boolean } {
    const started = this.#clock.now();
    const db = this.#db;
    // A fresh snapshot: the shared read transaction may date from before the latest commits.
    db.resetReadTxn();
    const transaction = db.useReadTransaction();
    let reads = 0;
    let bytes = 0;
    let records = 0;
    let passDone = true;
    try {
      const snapshot = snapshotOf(db, this.#dataPath, transaction);
      reads += 2;
      // A finalized record checked in part by the last chunk: its remaining index lookups
      // first, if it is still there (pruning may have removed it in between). The record is not
      // read again: it was checked whole, and records are never rewritten.
      const pending = this.#pending;
      if (pending !== null) {
        reads++;
        if (recordExists(snapshot, pending.key)) {
          const budget = Math.max(1, this.chunkReadsMax - reads);
          const done = checkDeliveredSlots(snapshot, pending.key, pending.delivered, pending.from, budget);
          reads += done.lookups;
          if (done.next !== null) {
            this.#pending = { ...pending, from: done.next };
            passDone = false;
          } else this.#pending = null;
        } else this.#pending = null;
      }
      if (this.#pending === null) {
        const range = guardLmdb(this.#dataPath, () =>
          db.getRange(this.#next === null ? { transaction } : { start: this.#next, transaction }),
        );
        for (const { key, value } of range) {
          if (reads >= this.chunkReadsMax) {
            // Copied: LMDB may reuse the key's memory once the cursor moves.
            this.#next = Uint8Array.from(key);
            passDone = false;
            break;
          }
          // A batch of thousands of vertices is one record with one lookup per vertex: its
          // lookups are spread over chunks, so that no chunk holds the event loop for long.
          const checked = checkRecord(snapshot, key, value, Math.max(1, this.chunkReadsMax - reads - 1));
          records++;
          reads += 1 + checked.lookups;
          bytes += key.length + value.length;
          if (checked.rest !== null) {
            const copy = Uint8Array.from(key);
            this.#pending = { key: copy, delivered: checked.rest.delivered, from: checked.rest.from };
            // The next record is the first key after this one.
            this.#next = Uint8Array.from([...copy, 0]);
            passDone = false;
            break;
          }
        }
      }
    } catch (error) {
      this.stop();
      if (error instanceof StoreCorruptError) {
        this.#hooks.onDamage(error);
        throw error;
      }
      this.#hooks.onFailure?.(error);
      throw error;
    } finally {
      transaction.done();
    }
    const heldMs = this.#clock.now() - started;
    const { stats } = this;
    stats.chunks++;
    stats.records += records;
    stats.reads += reads;
    stats.bytes += bytes;
    stats.chunkMsMax = Math.max(stats.chunkMsMax, heldMs);
    const pass = this.#pass;
    pass.chunks++;
    pass.records += records;
    pass.reads += reads;
    pass.bytes += bytes;
    if (passDone) {
      stats.passes++;
      this.#next = null;
      this.#hooks.onPass?.({
        records: pass.records,
        reads: pass.reads,
        bytes: pass.bytes,
        chunks: pass.chunks,
        durationMs: this.#clock.now() - pass.startedAt,
      });
    }
    return { reads, bytes, passDone };
  }

  #startPass(): void {
    this.#pass = { startedAt: this.#clock.now(), records: 0, reads: 0, bytes: 0, chunks: 0 };
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(delayMs, () => {
      this.#timer = null;
      if (this.#stopped) return;
      const started = this.#clock.now();
      let result: ReturnType<StoreScrubber['chunk']>;
      try {
        result = this.chunk();
      } catch {
        // Reported through the hooks; the scrub has stopped.
        return;
      }
      if (result.passDone) {
        const nextPassAt = this.#pass.startedAt + this.passIntervalMs;
        this.#schedule(Math.max(0, nextPassAt - this.#clock.now()));
        this.#startPassAt(nextPassAt);
        return;
      }
      // Pace: this chunk's reads and bytes take this long at the configured rates.
      const budgetMs = Math.max(
        (result.reads / this.readsPerSecond) * 1000,
        (result.bytes / this.bytesPerSecond) * 1000,
      );
      this.#schedule(Math.max(0, budgetMs - (this.#clock.now() - started)));
    });
  }

  /** The next pass's figures start counting when its first chunk runs, at `at`. */
  #startPassAt(at: number): void {
    this.#pass = { startedAt: Math.max(at, this.#clock.now()), records: 0, reads: 0, bytes: 0, chunks: 0 };
  }
}

// ---------------------------------------------------------------------------------------------
// The damage marker

/** The file in a data directory that records damage found while the node ran. */
export const DAMAGE_MARKER_FILE = 'STORE-DAMAGED.json';

/**
 * Records in `dataPath` that its store is damaged (as `error` says), durably, so that the next
 * open refuses it at once ({@link damageMarkerError}). Wiping the data directory or restoring a
 * backup (which moves the directory aside) removes it with the store.
 */
export function markStoreDamaged(dataPath: string, error: StoreCorruptError): void {
  const file = path.join(dataPath, DAMAGE_MARKER_FILE);
  const temporary = `${file}.tmp`;
  const note = { code: error.code, detail: error.detail, foundAt: new Date().toISOString() };
  fs.writeFileSync(temporary, `${JSON.stringify(note, null, 2)}\n`);
  const fd = fs.openSync(temporary, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
  const directory = fs.openSync(dataPath, 'r');
  try {
    fs.fsyncSync(directory);
  } finally {
    fs.closeSync(directory);
  }
}

/** The refusal a damage marker in `dataPath` calls for, or null when there is none. */
export function damageMarkerError(dataPath: string): StoreCorruptError | null {
  const file = path.join(dataPath, DAMAGE_MARKER_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let note: { code?: unknown; detail?: unknown; foundAt?: unknown } = {};
  try {
    note = JSON.parse(text) as typeof note;
  } catch {
    // Unreadable, but present: the store was found damaged all the same.
  }
  const code: StoreCorruptionCode =
    note.code === 'checksum' ||
    note.code === 'malformed' ||
    note.code === 'inconsistent' ||
    note.code === 'lmdb'
      ? note.code
      : 'inconsistent';
  const detail = typeof note.detail === 'string' ? note.detail : 'damage was found while the node ran';
  const when = typeof note.foundAt === 'string' ? ` at ${note.foundAt}` : '';
  return new StoreCorruptError(
    code,
    dataPath,
    `${detail} (found while the node ran${when}; see ${DAMAGE_MARKER_FILE})`,
  );
}

function positive(name: string, value: number): number {
  return integerField(name, value, undefined, 1);
}
