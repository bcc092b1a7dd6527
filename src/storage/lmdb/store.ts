/**
 * The node's durable store on LMDB (`lmdb`): every durable write of the protocol core, with
 * synced group commits, checksummed records, corruption checks at open, and backups. The store
 * object holds the open environment and delegates each concern to a module of this directory:
 * opening and checking (`open.ts`), the write path (`write-path.ts`), reads (`reads.ts`), and
 * backups (`backup.ts`).
 *
 * Durability. LMDB commits are atomic and, with `overlappingSync` off, synced (fdatasync) before
 * the commit's promise resolves; a receipt is minted only then, so a vote never leaves before the
 * write that records it is on disk. (lmdb-js turns `overlappingSync` on by default on Linux, and
 * then resolves writes when they are visible, before they are flushed.) Writes are grouped: see
 * `write-path.ts`.
 *
 * Corruption. LMDB keeps no checksums, so every record carries one (see `record-codec.ts`). At
 * open the store checks the data file's header, its metadata (format version, cluster id,
 * replica id) and every record a restart reads except the finalized history, which `load`,
 * `finalizedAt` and `vertex` verify as they read it; `verify` scans everything, and the
 * background scrub (`startScrub`, `scrub.ts`) does the same while the node runs, a bounded
 * number of records a second, with the checks of `record-checks.ts`. Damage the scrub found is
 * recorded next to the store, and `open` refuses the store while that record is there. A
 * damaged store is refused with a `StoreCorruptError` (`errors.ts`) naming the record and the
 * way back. LMDB itself may still crash the process on structural damage inside its B-tree (it
 * does not check its pages): loud, never silent; a suspect store is best checked with `verify`
 * in a separate process.
 * Backups carry a SHA-256 of the whole file, checked before LMDB ever maps a restored copy.
 *
 * Key layout and record formats: see `record-codec.ts`.
 */
import type { DurableSnapshot } from '../../protocol/durable-image.ts';
import type { DurableReceipt, DurableWrite, FinalizedRecord } from '../../protocol/effects.ts';
import type { Digest, ReplicaId } from '../../protocol/types.ts';
import type { VertexIndexTail } from '../index-tail.ts';
import { type Db, type VerifyReport, verifyAll } from '../record-checks.ts';
import { type ScrubHooks, type ScrubOptions, StoreScrubber } from '../scrub.ts';
import type { Store } from '../store.ts';
import { type BackupManifest, restoreBackup, writeBackup } from './backup.ts';
import { type CheckedEnvironment, type LmdbStoreOptions, openAndCheck, releaseStorePath } from './open.ts';
import { type FinalizedVertex, findVertex, readFinalized, readSnapshot } from './reads.ts';
import { GroupCommit, type LmdbStoreStats } from './write-path.ts';

/** What a full scan found (see `record-checks.ts`). */
export type { VerifyReport } from '../record-checks.ts';
export type { BackupManifest } from './backup.ts';
export type { LmdbStoreOptions } from './open.ts';
export type { FinalizedVertex } from './reads.ts';
export type { LmdbStoreStats } from './write-path.ts';

export class LmdbStore implements Store {
  /** The data directory. */
  readonly path: string;
  readonly clusterId: string;
  readonly replica: ReplicaId;
  readonly stats: LmdbStoreStats;
  readonly #db: Db;
  /** Vertex index entries not written yet (see `index-tail.ts`), shared with the write path. */
  readonly #indexTail: VertexIndexTail;
  readonly #writes: GroupCommit;
  #scrubber: StoreScrubber | null = null;

  private constructor(opened: CheckedEnvironment, options: LmdbStoreOptions) {
    this.#db = opened.db;
    this.#indexTail = opened.indexTail;
    this.path = opened.path;
    this.clusterId = options.clusterId;
    this.replica = options.replica;
    this.#writes = new GroupCommit(opened.db, opened.path, opened.lastFinalized, opened.indexTail);
    this.stats = this.#writes.stats;
  }

  /**
   * Opens (or creates) the store in `options.path` and checks it: the data file's header, the
   * metadata (format version, cluster id, replica id) and every record a restart reads.
   *
   * @throws StoreCorruptError when the store is damaged or belongs to another node.
   * @throws StoreInUseError when the directory is already open in this process.
   */
  static async open(options: LmdbStoreOptions): Promise<LmdbStore> {
    return new LmdbStore(await openAndCheck(options), options);
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  apply(writes: readonly DurableWrite[], through: number): Promise<DurableReceipt> {
    return this.#writes.apply(writes, through);
  }

  pruneFinalized(sequence: number): Promise<void> {
    return this.#writes.pruneFinalized(sequence);
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /**
   * The state to restore a replica from: view, stable checkpoint, PRE-PREPAREs and prepared
   * certificates in sequence order, and the finalized records among the latest
   * `recentFinalized` sequences, in order. Every record is verified as it is read.
   *
   * @throws StoreCorruptError for a damaged record.
   */
  async load(recentFinalized: number): Promise<DurableSnapshot> {
    return readSnapshot(this.#db, this.path, this.#writes.lastFinalized, recentFinalized);
  }

  /**
   * The record finalized at `sequence`, if kept (state transfer reads through this).
   *
   * @throws StoreCorruptError when the record is damaged: a node never serves damaged history.
   */
  finalizedAt(sequence: number): FinalizedRecord | undefined {
    return readFinalized(this.#db, this.path, sequence);
  }

  /** The highest sequence finalized (0 before any). */
  get lastFinalized(): number {
    return this.#writes.lastFinalized;
  }

  /**
   * A finalized vertex by hash: its position and its batch's commit certificate, or undefined
   * when it is not finalized here (or every batch holding it was pruned).
   *
   * @throws StoreCorruptError when the index or the record it points at is damaged.
   */
  vertex(hash: Digest): FinalizedVertex | undefined {
    return findVertex(this.#db, this.path, this.#indexTail, this.#writes.lastFinalized, hash);
  }

  /**
   * Reads and verifies every record (checksums, formats, the vertex index against the finalized
   * records), in one consistent snapshot. Slow on a large store: for `cretoai-node verify`,
   * restores and tests, not for every start.
   *
   * @throws StoreCorruptError at the first problem.
   */
  verify(): VerifyReport {
    this.#db.resetReadTxn();
    const transaction = this.#db.useReadTransaction();
    try {
      return verifyAll(this.#db, this.path, transaction, this.#writes.lastFinalized);
    } finally {
      transaction.done();
    }
  }

  /**
   * Starts the background scrub of this store (`scrub.ts`): every record is read and checked
   * as {@link LmdbStore.verify} checks it, a bounded number a second, in short read
   * transactions. It stops when the store closes, and at the first damage, which it reports to
   * `hooks.onDamage`.
   *
   * @throws ArgumentError for scrub figures that are not positive integers; Error when a scrub runs.
   */
  startScrub(options: ScrubOptions, hooks: ScrubHooks): StoreScrubber {
    const refusal = this.#writes.refusal();
    if (refusal !== null) throw refusal;
    if (this.#scrubber?.running === true)
      throw new Error(`the store at ${this.path} is already being scrubbed`);
    const scrubber = new StoreScrubber(this.#db, this.path, options, hooks);
    this.#scrubber = scrubber;
    scrubber.start();
    return scrubber;
  }

  // -------------------------------------------------------------------------------------------
  // Backup and restore

  /**
   * Writes a consistent snapshot of the store to `toPath` (a new or empty directory) while the
   * store stays in use: LMDB's copy (`mdb_env_copy`) reads one snapshot in a read transaction.
   * Next to the copy goes a manifest with the store's identity and the SHA-256 of the copy,
   * which `restoreBackup` checks before anything else.
   */
  async backup(toPath: string): Promise<BackupManifest> {
    const refusal = this.#writes.refusal();
    if (refusal !== null) throw refusal;
    return writeBackup(this.#db, toPath, this, this.#writes.lastFinalized);
  }

  /**
   * Installs the backup at `fromPath` as the data directory `dataDir` (which must not hold a
   * store), after checking it: the manifest, the SHA-256 of the data file, then, on a staging
   * copy, the metadata and every record. Nothing is installed unless every check passes.
   *
   * @param expected - when given, the cluster and replica the backup must belong to.
   * @throws StoreCorruptError (code 'backup', or 'identity-mismatch') when the backup is refused.
   * @throws StoreInUseError when `dataDir` already holds a store.
   */
  static async restoreBackup(
    fromPath: string,
    dataDir: string,
    expected?: { readonly clusterId: string; readonly replica: ReplicaId },
  ): Promise<BackupManifest & VerifyReport> {
    return restoreBackup(fromPath, dataDir, expected, async (staging, manifest) => {
      const store = await LmdbStore.open({
        path: staging,
        clusterId: manifest.clusterId,
        replica: manifest.replica,
      });
      try {
        return store.verify();
      } finally {
        await store.close();
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Closing

  /** Waits for queued writes to become durable, then closes the environment. */
  async close(): Promise<void> {
    if (this.#writes.closed) return;
    const drained = this.#writes.close();
    this.#scrubber?.stop();
    try {
      await drained;
    } finally {
      await this.#db.close();
      releaseStorePath(this.path);
    }
  }
}
