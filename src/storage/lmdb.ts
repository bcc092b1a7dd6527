/**
 * The node's durable store on LMDB (`lmdb`): every durable write of the protocol core, with
 * synced group commits, checksummed records, corruption checks at open, and backups.
 *
 * Durability. LMDB commits are atomic and, with `overlappingSync` off, synced (fdatasync) before
 * the commit's promise resolves; a receipt is minted only then, so a vote never leaves before the
 * write that records it is on disk. (lmdb-js turns `overlappingSync` on by default on Linux, and
 * then resolves writes when they are visible, before they are flushed.)
 *
 * Group commit. `apply` queues its writes; one flush at a time takes everything queued, builds
 * the records, and commits them in one LMDB transaction (`db.batch`, whose writes cannot be
 * split across transactions). Writes that arrive while a flush is syncing share the next one, so
 * under load the number of syncs stays near the disk's sync rate however many steps there are.
 * (lmdb-js's asynchronous `transaction(callback)` is not used: in this environment its callback
 * never runs. Reads the writes depend on - truncation ranges, retention - go through a small
 * write set that overlays the group's own writes on the committed state. The vertex index is
 * never read on the write path: finalizing a batch adds one entry per vertex and pruning it
 * removes exactly those, so its entries are staged as a plain log. They reach the log some
 * commits after their batch, one sixty-fourth of the key range per commit: see `index-tail.ts`.)
 *
 * Corruption. LMDB keeps no checksums, so every record carries one (see `record-codec.ts`). At
 * open the store checks the data file's header, its metadata (format version, cluster id,
 * replica id) and every record a restart reads except the finalized history, which `load`,
 * `finalizedAt` and `vertex` verify as they read it; `verify` scans everything, and the
 * background scrub (`startScrub`, `scrub.ts`) does the same while the node runs, a bounded
 * number of records a second, with the checks of `record-checks.ts`. Damage the scrub found is
 * recorded next to the store, and `open` refuses the store while that record is there. A damaged store
 * is refused with a {@link StoreCorruptError} naming the record and the way back. LMDB itself may
 * still crash the process on structural damage inside its B-tree (it does not check its pages):
 * loud, never silent; a suspect store is best checked with `verify` in a separate process.
 * Backups carry a SHA-256 of the whole file, checked before LMDB ever maps a restored copy.
 *
 * Key layout and record formats: see `record-codec.ts`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { bytesEqual, DIGEST_BYTES } from '../crypto/digest.ts';
import type { DurableSnapshot, PrePrepareRecord, PreparedRecord } from '../protocol/durable-image.ts';
import {
  type DurableReceipt,
  type DurableWrite,
  durableReceipt,
  type FinalizedRecord,
} from '../protocol/effects.ts';
import type { Commit } from '../protocol/messages.ts';
import type { Digest, ReplicaId, Vertex } from '../protocol/types.ts';
import { StoreClosedError, StoreCorruptError, StoreInUseError } from './errors.ts';
import { positionBefore, VertexIndexTail } from './index-tail.ts';
import {
  type Db,
  decodeOrRefuse,
  guardLmdb,
  type ReadTransaction,
  readIndexWatermarks,
  type VerifyReport,
  verifyAll,
} from './record-checks.ts';
import {
  decodeAccepted,
  decodeFinalized,
  decodeLastFinalized,
  decodeMeta,
  decodePrePrepare,
  decodePrepared,
  decodeStable,
  decodeVertexIndexEntry,
  decodeView,
  describeKey,
  encodeAccepted,
  encodeFinalized,
  encodeIndexWatermarks,
  encodeLastFinalized,
  encodeMeta,
  encodePrePrepare,
  encodePrepared,
  encodeStable,
  encodeView,
  finalizedDeliveredHashes,
  KEY_PREFIX,
  keyBySequence,
  keys,
  parseKey,
  STORE_FORMAT_VERSION,
  type StoreMeta,
  verifyRecord,
  vertexIndexEntry,
  vertexKeyRange,
} from './record-codec.ts';
import { damageMarkerError, type ScrubHooks, type ScrubOptions, StoreScrubber } from './scrub.ts';
import type { Store } from './store.ts';

/** How to open a store. */
export interface LmdbStoreOptions {
  /** The data directory (created if missing). */
  readonly path: string;
  /** The cluster this node belongs to: recorded at creation, checked at every open. */
  readonly clusterId: string;
  /** This node's replica id: recorded at creation, checked at every open. */
  readonly replica: ReplicaId;
  /**
   * Finalized records kept, as `DurableImage` keeps them: finalizing sequence s drops s minus
   * this. Default: all (the engine prunes with `pruneFinalized`).
   */
  readonly finalizedRetention?: number;
}

/** Counters for tests and metrics. */
export interface LmdbStoreStats {
  /** Synced LMDB transactions committed by `apply` and `pruneFinalized`. */
  syncs: number;
  /** Calls to `apply` made durable. */
  applied: number;
  /** Durable writes made durable. */
  writes: number;
}

/** A finalized vertex: where it sits and the commit certificate that makes it final. */
export interface FinalizedVertex {
  readonly vertex: Vertex;
  /**
   * The sequence of the batch it was first finalized (and delivered) in; once that batch is
   * pruned, of the next kept batch that holds a copy.
   */
  readonly sequence: number;
  /** Its index in that batch. */
  readonly index: number;
  /** The view the batch was committed in. */
  readonly view: number;
  /** The batch digest the commits sign. */
  readonly batchDigest: Digest;
  /** The chain digest after the batch. */
  readonly chainDigest: Digest;
  /** The commit certificate: a quorum of COMMITs for (view, sequence, batchDigest). */
  readonly commits: readonly Commit[];
}

/** What a full scan found (see `record-checks.ts`). */
export type { VerifyReport } from './record-checks.ts';

/** What a backup holds, as its manifest says. */
export interface BackupManifest {
  readonly backupVersion: number;
  readonly formatVersion: number;
  readonly clusterId: string;
  readonly replica: ReplicaId;
  readonly lastFinalized: number;
  readonly dataBytes: number;
  /** SHA-256 of the backup's data file, hex. */
  readonly dataSha256: string;
}

const DATA_FILE = 'data.mdb';
const LOCK_FILE = 'lock.mdb';
const MANIFEST_FILE = 'MANIFEST';
const BACKUP_VERSION = 1;
const MANIFEST_MAGIC = 'cretoai-backup';

/** LMDB's meta page: the magic 0xBEEFC0DE (little-endian) at this offset of the first page. */
const LMDB_MAGIC_OFFSET = 24;
const LMDB_MAGIC = 0xbeefc0de;

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

/** Data directories open in this process: two stores on one directory would corrupt it. */
const openPaths = new Set<string>();

export class LmdbStore implements Store {
  /** The data directory. */
  readonly path: string;
  readonly clusterId: string;
  readonly replica: ReplicaId;
  readonly finalizedRetention: number;
  readonly stats: LmdbStoreStats = { syncs: 0, applied: 0, writes: 0 };
  readonly #db: Db;
  #lastFinalized: number;
  /** Vertex index entries not written yet (see `index-tail.ts`). */
  readonly #indexTail: VertexIndexTail;
  #queue: Operation[] = [];
  #flushing: Promise<void> | null = null;
  #failure: unknown = null;
  #closed = false;
  #scrubber: StoreScrubber | null = null;

  private constructor(
    db: Db,
    options: LmdbStoreOptions,
    resolvedPath: string,
    lastFinalized: number,
    indexTail: VertexIndexTail,
  ) {
    this.#db = db;
    this.#indexTail = indexTail;
    this.path = resolvedPath;
    this.clusterId = options.clusterId;
    this.replica = options.replica;
    this.finalizedRetention = options.finalizedRetention ?? Number.POSITIVE_INFINITY;
    this.#lastFinalized = lastFinalized;
  }

  /**
   * Opens (or creates) the store in `options.path` and checks it: the data file's header, the
   * metadata (format version, cluster id, replica id) and every record a restart reads.
   *
   * @throws StoreCorruptError when the store is damaged or belongs to another node.
   * @throws StoreInUseError when the directory is already open in this process.
   */
  static async open(options: LmdbStoreOptions): Promise<LmdbStore> {
    const retention = options.finalizedRetention ?? Number.POSITIVE_INFINITY;
    if (retention !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(retention) || retention < 1)) {
      throw new RangeError(`finalizedRetention must be a positive integer, got ${retention}`);
    }
    if (!Number.isInteger(options.replica) || options.replica < 0 || options.replica > 0xffff) {
      throw new RangeError(`replica must be an integer in [0, 65535], got ${options.replica}`);
    }
    const resolvedPath = path.resolve(options.path);
    if (openPaths.has(resolvedPath))
      throw new StoreInUseError(resolvedPath, 'is already open in this process');
    // Damage the background scrub found while the node ran: refused at once, as it was then.
    const marked = damageMarkerError(resolvedPath);
    if (marked !== null) throw marked;
    checkDataFileHeader(resolvedPath);
    openPaths.add(resolvedPath);
    let db: Db | undefined;
    try {
      db = openEnvironment(resolvedPath);
      const lastFinalized = await initializeOrCheck(db, resolvedPath, {
        formatVersion: STORE_FORMAT_VERSION,
        clusterId: options.clusterId,
        replica: options.replica,
      });
      const indexTail = loadIndexTail(db, resolvedPath, lastFinalized);
      return new LmdbStore(db, options, resolvedPath, lastFinalized, indexTail);
    } catch (error) {
      if (db !== undefined) await db.close().catch(() => undefined);
      openPaths.delete(resolvedPath);
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  apply(writes: readonly DurableWrite[], through: number): Promise<DurableReceipt> {
    return new Promise((resolve, reject) => {
      const refusal = this.#refusal();
      if (refusal !== null) {
        reject(refusal);
        return;
      }
      this.#queue.push({ kind: 'apply', writes, through, resolve, reject });
      this.#schedule();
    });
  }

  pruneFinalized(sequence: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const refusal = this.#refusal();
      if (refusal !== null) {
        reject(refusal);
        return;
      }
      this.#queue.push({ kind: 'prune', sequence, resolve, reject });
      this.#schedule();
    });
  }

  #refusal(): Error | null {
    if (this.#closed) return new StoreClosedError(`the store at ${this.path} is closed`);
    if (this.#failure !== null) {
      return new StoreClosedError(`the store at ${this.path} stopped after a failed write`, {
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
      const group = this.#queue;
      this.#queue = [];
      try {
        await this.#flush(group);
      } catch (error) {
        this.#failure = error;
        for (const operation of [...group, ...this.#queue]) operation.reject(error);
        this.#queue = [];
      }
    }
    this.#flushing = null;
  }

  /** Commits one group in one synced transaction, then resolves its operations in order. */
  async #flush(group: readonly Operation[]): Promise<void> {
    // Read the state the previous commit left, not a snapshot from before it.
    this.#db.resetReadTxn();
    const set = new WriteSet(this.#db, this.path);
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
    for (const operation of group) {
      if (operation.kind === 'apply') {
        this.stats.applied++;
        operation.resolve(durableReceipt(operation.through));
      } else operation.resolve();
    }
    this.stats.writes += writes;
  }

  /** Stages one write, as `DurableImage.apply` applies it. Returns the last finalized sequence. */
  #stage(set: WriteSet, write: DurableWrite, lastFinalized: number): number {
    switch (write.kind) {
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
            this.#indexTail.add({ hash, sequence, index });
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
        const expired = sequence - this.finalizedRetention;
        if (expired >= 0) this.#removeFinalized(set, expired);
        return last;
      }
      case 'accepted':
        for (const vertex of write.vertices)
          set.put(keys.accepted(vertex.validThrough, vertex.hash), encodeAccepted(vertex));
        return lastFinalized;
      case 'truncate':
        for (const key of set.keysInRange(KEY_PREFIX.prePrepare, 0, write.through)) set.remove(key);
        for (const key of set.keysInRange(KEY_PREFIX.prepared, 0, write.through)) set.remove(key);
        // Keyed by validThrough first: the expired (or final) ones are one range.
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
    const slots = this.#decode(key, () => finalizedDeliveredHashes(sequence, value));
    for (const { hash, position: index } of slots) {
      // An entry still waiting in the tail was never written: it is dropped below instead.
      if (!this.#indexTail.waits(hash, sequence)) set.removeIndexEntry(keys.vertex(hash, sequence, index));
    }
    this.#indexTail.dropSequence(sequence);
    set.remove(key);
  }

  /** Stages the waiting index entries one commit writes (all of them with `all`), and the watermarks. */
  #stageIndexTail(set: WriteSet, lastFinalized: number, all: boolean): void {
    for (const { hash, sequence, index } of this.#indexTail.take(lastFinalized, all)) {
      const entry = vertexIndexEntry(hash, sequence, index);
      set.putIndexEntry(entry.key, entry.value);
    }
    set.put(keys.indexWatermarks(), encodeIndexWatermarks(this.#indexTail.watermarks));
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
    this.#db.resetReadTxn();
    const transaction = this.#db.useReadTransaction();
    try {
      const read = (key: Uint8Array): Uint8Array | undefined => this.#get(key, transaction);
      const viewValue = read(keys.view());
      const stableValue = read(keys.stable());
      const prePrepares: PrePrepareRecord[] = [];
      for (const { key, value } of this.#range(
        KEY_PREFIX.prePrepare,
        0,
        Number.MAX_SAFE_INTEGER,
        transaction,
      )) {
        prePrepares.push(this.#decode(key, () => decodePrePrepare(sequenceOf(key), value)));
      }
      const prepared: PreparedRecord[] = [];
      for (const { key, value } of this.#range(
        KEY_PREFIX.prepared,
        0,
        Number.MAX_SAFE_INTEGER,
        transaction,
      )) {
        prepared.push(this.#decode(key, () => decodePrepared(sequenceOf(key), value)));
      }
      const finalized: FinalizedRecord[] = [];
      const last = this.#lastFinalized;
      const first = Math.max(1, last - recentFinalized + 1);
      if (last >= first) {
        for (const { key, value } of this.#range(KEY_PREFIX.finalized, first, last, transaction)) {
          finalized.push(this.#decode(key, () => decodeFinalized(sequenceOf(key), value)));
        }
      }
      const accepted: Vertex[] = [];
      for (const { key, value } of this.#range(
        KEY_PREFIX.accepted,
        0,
        Number.MAX_SAFE_INTEGER,
        transaction,
      )) {
        accepted.push(this.#decode(key, () => decodeAccepted(key, value)));
      }
      return {
        view: viewValue === undefined ? null : this.#decode(keys.view(), () => decodeView(viewValue)),
        stable:
          stableValue === undefined ? null : this.#decode(keys.stable(), () => decodeStable(stableValue)),
        prePrepares,
        prepared,
        finalized,
        accepted,
      };
    } finally {
      transaction.done();
    }
  }

  /**
   * The record finalized at `sequence`, if kept (state transfer reads through this).
   *
   * @throws StoreCorruptError when the record is damaged: a node never serves damaged history.
   */
  finalizedAt(sequence: number): FinalizedRecord | undefined {
    if (!Number.isSafeInteger(sequence) || sequence < 0) return undefined;
    const key = keys.finalized(sequence);
    const value = this.#get(key);
    return value === undefined ? undefined : this.#decode(key, () => decodeFinalized(sequence, value));
  }

  /** The highest sequence finalized (0 before any). */
  get lastFinalized(): number {
    return this.#lastFinalized;
  }

  /**
   * A finalized vertex by hash: its position and its batch's commit certificate, or undefined
   * when it is not finalized here (or every batch holding it was pruned).
   *
   * @throws StoreCorruptError when the index or the record it points at is damaged.
   */
  vertex(hash: Digest): FinalizedVertex | undefined {
    if (hash.length !== DIGEST_BYTES) return undefined;
    // The vertex's entries sort by position: the first kept one is where it was delivered (or,
    // once that batch is pruned, its next copy).
    const [first] = guardLmdb(this.path, () => [...this.#db.getRange({ ...vertexKeyRange(hash), limit: 1 })]);
    const written =
      first === undefined
        ? undefined
        : this.#decode(first.key, () => decodeVertexIndexEntry(first.key, first.value));
    // A position still in the tail may come first (a vertex finalized again in a later batch
    // sorts after the first one, whether or not that one is written yet).
    const waiting = this.#indexTail.find(hash);
    const found =
      written === undefined || (waiting !== undefined && positionBefore(waiting, written))
        ? waiting
        : written;
    if (found === undefined) return undefined;
    const { sequence, index } = found;
    const record = this.finalizedAt(sequence);
    // A position enters the tail as its batch is staged, before the commit that writes the
    // batch: until that commit is visible, the vertex is not final here yet.
    if (record === undefined && found === waiting && sequence > this.#lastFinalized) return undefined;
    const vertex = record?.batch[index];
    if (record === undefined || vertex === undefined || !bytesEqual(vertex.hash, hash)) {
      throw new StoreCorruptError(
        'inconsistent',
        this.path,
        `${describeKey(keys.vertex(hash, sequence, index))} points at index ${index} of sequence ${sequence}, which does not hold it`,
      );
    }
    return {
      vertex,
      sequence,
      index,
      view: record.view,
      batchDigest: record.digest,
      chainDigest: record.chainDigest,
      commits: record.commits,
    };
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
      return verifyAll(this.#db, this.path, transaction, this.#lastFinalized);
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
   * @throws RangeError for scrub figures that are not positive integers; Error when a scrub runs.
   */
  startScrub(options: ScrubOptions, hooks: ScrubHooks): StoreScrubber {
    const refusal = this.#refusal();
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
    const refusal = this.#refusal();
    if (refusal !== null) throw refusal;
    const target = path.resolve(toPath);
    if (fs.existsSync(target) && fs.readdirSync(target).length > 0) {
      throw new StoreInUseError(target, 'is not empty: a backup goes to a new or empty directory');
    }
    fs.mkdirSync(target, { recursive: true });
    // The last finalized sequence the copy holds at least (a commit may land during the copy).
    const lastFinalized = this.#lastFinalized;
    await this.#db.backup(target, false);
    const dataPath = path.join(target, DATA_FILE);
    fsyncFile(dataPath);
    const { bytes, sha256 } = await digestFile(dataPath);
    const manifest: BackupManifest = {
      backupVersion: BACKUP_VERSION,
      formatVersion: STORE_FORMAT_VERSION,
      clusterId: this.clusterId,
      replica: this.replica,
      lastFinalized,
      dataBytes: bytes,
      dataSha256: sha256,
    };
    writeFileDurably(path.join(target, MANIFEST_FILE), formatManifest(manifest));
    return manifest;
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
    const source = path.resolve(fromPath);
    const target = path.resolve(dataDir);
    const manifest = readManifest(source);
    if (
      expected !== undefined &&
      (expected.clusterId !== manifest.clusterId || expected.replica !== manifest.replica)
    ) {
      throw new StoreCorruptError(
        'identity-mismatch',
        source,
        `the backup is of replica ${manifest.replica} in cluster "${manifest.clusterId}", not replica ${expected.replica} in cluster "${expected.clusterId}"`,
      );
    }
    const { bytes, sha256 } = await digestFile(path.join(source, DATA_FILE));
    if (bytes !== manifest.dataBytes || sha256 !== manifest.dataSha256) {
      throw new StoreCorruptError(
        'backup',
        source,
        `${DATA_FILE} does not match its manifest (${bytes} bytes, SHA-256 ${sha256}; the manifest says ${manifest.dataBytes} bytes, ${manifest.dataSha256})`,
      );
    }
    if (fs.existsSync(target) && fs.readdirSync(target).length > 0) {
      throw new StoreInUseError(target, 'is not empty: move it away before restoring a backup into it');
    }
    const parent = path.dirname(target);
    fs.mkdirSync(parent, { recursive: true });
    const staging = fs.mkdtempSync(path.join(parent, `${path.basename(target)}.restore-`));
    try {
      fs.copyFileSync(path.join(source, DATA_FILE), path.join(staging, DATA_FILE));
      fsyncFile(path.join(staging, DATA_FILE));
      let report: VerifyReport;
      try {
        const store = await LmdbStore.open({
          path: staging,
          clusterId: manifest.clusterId,
          replica: manifest.replica,
        });
        try {
          report = store.verify();
        } finally {
          await store.close();
        }
      } catch (error) {
        if (error instanceof StoreCorruptError) {
          throw new StoreCorruptError('backup', source, `its records do not check out (${error.detail})`, {
            cause: error,
          });
        }
        throw error;
      }
      fs.rmSync(path.join(staging, LOCK_FILE), { force: true });
      if (fs.existsSync(target)) fs.rmdirSync(target);
      fs.renameSync(staging, target);
      fsyncDirectory(parent);
      return { ...manifest, ...report };
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Closing

  /** Waits for queued writes to become durable, then closes the environment. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#scrubber?.stop();
    while (this.#flushing !== null) await this.#flushing;
    // A store closed in order leaves every index entry written (a crash leaves the tail to be
    // rebuilt at the next open).
    try {
      if (this.#failure === null && this.#indexTail.size > 0) {
        const set = new WriteSet(this.#db, this.path);
        this.#stageIndexTail(set, this.#lastFinalized, true);
        await this.#db.batch(() => set.issue());
      }
    } finally {
      await this.#db.close();
      openPaths.delete(this.path);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  #get(key: Uint8Array, transaction?: ReadTransaction): Uint8Array | undefined {
    return guardLmdb(this.path, () =>
      transaction === undefined ? this.#db.get(key) : this.#db.get(key, { transaction }),
    );
  }

  *#range(
    prefix: number,
    from: number,
    to: number,
    transaction: ReadTransaction,
  ): Generator<{ key: Uint8Array; value: Uint8Array }> {
    const entries = guardLmdb(this.path, () => [
      ...this.#db.getRange({ ...rangeBounds(prefix, from, to), transaction }),
    ]);
    yield* entries;
  }

  #decode<T>(key: Uint8Array, decode: () => T): T {
    return decodeOrRefuse(this.path, key, decode);
  }
}

// ---------------------------------------------------------------------------------------------
// The write set of one group: the group's writes over the committed state

/**
 * Puts and removals staged for one transaction, readable before they are issued. Only the
 * final state of each key is issued, in the order keys were first touched.
 *
 * Vertex index entries are the exception: they are never read back while a group is staged, so
 * they skip the overlay (a map keyed by a string per key, which showed in profiles at one entry
 * per finalized vertex) and go into a log issued in order after the rest. An entry put and then
 * removed within one group (a batch finalized and pruned in the same flush) is issued as both,
 * and LMDB applies them in that order within the transaction.
 */
class WriteSet {
  readonly #db: Db;
  readonly #path: string;
  readonly #staged = new Map<string, { readonly key: Uint8Array; value: Uint8Array | null }>();
  readonly #indexLog: { readonly key: Uint8Array; readonly value: Uint8Array | null }[] = [];

  constructor(db: Db, storePath: string) {
    this.#db = db;
    this.#path = storePath;
  }

  get size(): number {
    return this.#staged.size + this.#indexLog.length;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const staged = this.#staged.get(id(key));
    if (staged !== undefined) return staged.value ?? undefined;
    return guardLmdb(this.#path, () => this.#db.get(key));
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.#staged.set(id(key), { key, value });
  }

  remove(key: Uint8Array): void {
    this.#staged.set(id(key), { key, value: null });
  }

  /** Stages a vertex index entry (never read back through the write set). */
  putIndexEntry(key: Uint8Array, value: Uint8Array): void {
    this.#indexLog.push({ key, value });
  }

  /** Stages the removal of a vertex index entry. */
  removeIndexEntry(key: Uint8Array): void {
    this.#indexLog.push({ key, value: null });
  }

  /** Keys present (committed or staged, not staged for removal) with `prefix` and a sequence in [from, to]. */
  keysInRange(prefix: number, from: number, to: number): Uint8Array[] {
    const found = new Map<string, Uint8Array>();
    const committed = guardLmdb(this.#path, () => [...this.#db.getKeys(rangeBounds(prefix, from, to))]);
    for (const key of committed) found.set(id(key), key);
    for (const [keyId, staged] of this.#staged) {
      // Keys by sequence, or by validThrough and a hash: the u64 follows the prefix in both.
      if (staged.key[0] !== prefix || staged.key.length < 9) continue;
      const sequence = orderingNumberOf(staged.key);
      if (sequence < from || sequence > to) continue;
      if (staged.value === null) found.delete(keyId);
      else found.set(keyId, staged.key);
    }
    return [...found.values()];
  }

  /** Issues the staged writes; called inside `db.batch`, so they commit together. */
  issue(): void {
    for (const { key, value } of this.#staged.values()) {
      if (value === null) void this.#db.remove(key);
      else void this.#db.put(key, value);
    }
    for (const { key, value } of this.#indexLog) {
      if (value === null) void this.#db.remove(key);
      else void this.#db.put(key, value);
    }
  }
}

function id(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** The sequence in a key by sequence (prefix byte, u64). */
function sequenceOf(key: Uint8Array): number {
  const parsed = parseKey(key);
  if (parsed === null || !('sequence' in parsed)) throw new RangeError('not a key by sequence');
  return parsed.sequence;
}

/** The number a range of keys of one prefix is ordered by: the sequence, or an accepted vertex's validThrough. */
function orderingNumberOf(key: Uint8Array): number {
  const parsed = parseKey(key);
  if (parsed !== null && 'sequence' in parsed) return parsed.sequence;
  if (parsed?.kind === 'accepted') return parsed.validThrough;
  throw new RangeError('not a key ordered by a number');
}

/** LMDB range bounds for keys of `prefix` with a sequence in [from, to]. */
function rangeBounds(prefix: number, from: number, to: number): { start: Uint8Array; end: Uint8Array } {
  // The end is exclusive: the key after `to`, or the next prefix when `to` is the largest.
  const end = to >= Number.MAX_SAFE_INTEGER ? Uint8Array.of(prefix + 1) : keyBySequence(prefix, to + 1);
  return { start: keyBySequence(prefix, from), end };
}

// ---------------------------------------------------------------------------------------------
// Opening and checking

function openEnvironment(dataPath: string): Db {
  return guardLmdb(dataPath, () =>
    open<Uint8Array, Uint8Array>({
      path: dataPath,
      keyEncoding: 'binary',
      encoding: 'binary',
      // Commits resolve only once synced (see the module comment).
      overlappingSync: false,
      noSync: false,
      // lmdb-js takes a path with a dot in its last part for a file; ours is always a directory.
      noSubdir: false,
    }),
  );
}

/**
 * Refuses a data file that is not an LMDB environment before LMDB maps it: LMDB trusts its
 * file and crashes the process on garbage instead of reporting an error.
 */
function checkDataFileHeader(dataPath: string): void {
  const file = path.join(dataPath, DATA_FILE);
  if (!fs.existsSync(file)) return;
  const header = Buffer.alloc(LMDB_MAGIC_OFFSET + 4);
  const fd = fs.openSync(file, 'r');
  let read: number;
  try {
    read = fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (read === 0) return; // An empty file: LMDB initializes it.
  if (read < header.length || header.readUInt32LE(LMDB_MAGIC_OFFSET) !== LMDB_MAGIC) {
    throw new StoreCorruptError('lmdb', dataPath, `${DATA_FILE} is not an LMDB data file (bad header)`);
  }
}

/** Creates the metadata record in a new store, or checks an existing store. Returns the last finalized sequence. */
async function initializeOrCheck(db: Db, dataPath: string, meta: StoreMeta): Promise<number> {
  const metaKey = keys.meta();
  const metaValue = guardLmdb(dataPath, () => db.get(metaKey));
  if (metaValue === undefined) {
    const empty = guardLmdb(dataPath, () => db.getKeysCount({ limit: 1 }) === 0);
    if (!empty)
      throw new StoreCorruptError(
        'missing-metadata',
        dataPath,
        'records are present but the metadata record is missing',
      );
    await db.batch(() => {
      void db.put(metaKey, encodeMeta(meta));
    });
    return 0;
  }
  const stored = decodeOrRefuse(dataPath, metaKey, () => decodeMeta(metaValue));
  if (stored.formatVersion !== meta.formatVersion) {
    throw new StoreCorruptError(
      'format-version',
      dataPath,
      `store format ${stored.formatVersion}, this release reads format ${meta.formatVersion}`,
    );
  }
  if (stored.clusterId !== meta.clusterId || stored.replica !== meta.replica) {
    throw new StoreCorruptError(
      'identity-mismatch',
      dataPath,
      `it holds replica ${stored.replica} of cluster "${stored.clusterId}", this node is replica ${meta.replica} of cluster "${meta.clusterId}"`,
    );
  }
  return checkRestoreRecords(db, dataPath);
}

/**
 * Verifies every record a restart reads except the finalized history (verified as it is read):
 * view, stable checkpoint, PRE-PREPAREs, prepared certificates, the last-finalized marker and
 * the record it names. Returns the last finalized sequence.
 */
function checkRestoreRecords(db: Db, dataPath: string): number {
  const check = (key: Uint8Array, value: Uint8Array): void => {
    decodeOrRefuse(dataPath, key, () => verifyRecord(key, value));
  };
  for (const key of [keys.view(), keys.stable()]) {
    const value = guardLmdb(dataPath, () => db.get(key));
    if (value !== undefined) check(key, value);
  }
  for (const prefix of [KEY_PREFIX.prePrepare, KEY_PREFIX.prepared]) {
    const entries = guardLmdb(dataPath, () => [
      ...db.getRange(rangeBounds(prefix, 0, Number.MAX_SAFE_INTEGER)),
    ]);
    for (const { key, value } of entries) check(key, value);
  }
  const lastKey = keys.lastFinalized();
  const lastValue = guardLmdb(dataPath, () => db.get(lastKey));
  const last =
    lastValue === undefined ? 0 : decodeOrRefuse(dataPath, lastKey, () => decodeLastFinalized(lastValue));
  const highest = guardLmdb(dataPath, () => [
    ...db.getRange({
      // Reverse ranges run from `start` (inclusive) down to `end` (exclusive).
      start: Uint8Array.of(KEY_PREFIX.finalized, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      end: Uint8Array.of(KEY_PREFIX.finalized),
      reverse: true,
      limit: 1,
    }),
  ]);
  const top = highest[0];
  if (top !== undefined) {
    const sequence = sequenceOf(top.key);
    if (sequence > last) {
      throw new StoreCorruptError(
        'inconsistent',
        dataPath,
        `a finalized record at sequence ${sequence} lies above the last finalized sequence ${last}`,
      );
    }
    check(top.key, top.value);
  }
  return last;
}

/**
 * The index tail after a restart: the slots of the kept finalized records above their bucket's
 * watermark, which the commits before the crash (or close) had not written yet.
 */
function loadIndexTail(db: Db, dataPath: string, lastFinalized: number): VertexIndexTail {
  const tail = new VertexIndexTail(readIndexWatermarks(db, dataPath, lastFinalized));
  const from = tail.lowestWatermark + 1;
  if (from > lastFinalized) return tail;
  const records = guardLmdb(dataPath, () => [
    ...db.getRange(rangeBounds(KEY_PREFIX.finalized, from, lastFinalized)),
  ]);
  for (const { key, value } of records) {
    const sequence = sequenceOf(key);
    const slots = decodeOrRefuse(dataPath, key, () => finalizedDeliveredHashes(sequence, value));
    for (const { hash, position: index } of slots)
      if (tail.waits(hash, sequence)) tail.add({ hash, sequence, index });
  }
  return tail;
}

// ---------------------------------------------------------------------------------------------
// Files

async function digestFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDirectory(directory: string): void {
  const fd = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeFileDurably(file: string, contents: string): void {
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, contents);
  fsyncFile(temporary);
  fs.renameSync(temporary, file);
  fsyncDirectory(path.dirname(file));
}

/**
 * The manifest is a small text file a person can read: one "name value" per line. The cluster
 * id is percent-encoded so that any id fits on one line.
 */
function formatManifest(manifest: BackupManifest): string {
  return [
    `${MANIFEST_MAGIC} ${manifest.backupVersion}`,
    `store-format ${manifest.formatVersion}`,
    `cluster-id ${encodeURIComponent(manifest.clusterId)}`,
    `replica ${manifest.replica}`,
    `last-finalized ${manifest.lastFinalized}`,
    `data-bytes ${manifest.dataBytes}`,
    `data-sha256 ${manifest.dataSha256}`,
    '',
  ].join('\n');
}

function readManifest(source: string): BackupManifest {
  const file = path.join(source, MANIFEST_FILE);
  const refuse = (detail: string): never => {
    throw new StoreCorruptError('backup', source, detail);
  };
  if (!fs.existsSync(file))
    refuse(`it has no ${MANIFEST_FILE} (is it a backup made by cretoai-node backup?)`);
  if (!fs.existsSync(path.join(source, DATA_FILE))) refuse(`it has no ${DATA_FILE}`);
  const fields = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    if (space <= 0) refuse(`${MANIFEST_FILE} has a malformed line "${line}"`);
    fields.set(line.slice(0, space), line.slice(space + 1));
  }
  const field = (name: string): string => fields.get(name) ?? refuse(`${MANIFEST_FILE} lacks "${name}"`);
  const integer = (name: string): number => {
    const text = field(name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
      refuse(`${MANIFEST_FILE} has a bad "${name}": ${text}`);
    return value;
  };
  const backupVersion = integer(MANIFEST_MAGIC);
  if (backupVersion !== BACKUP_VERSION) refuse(`backup version ${backupVersion} is unknown to this release`);
  const formatVersion = integer('store-format');
  if (formatVersion !== STORE_FORMAT_VERSION) {
    refuse(
      `it holds store format ${formatVersion}, this release reads format ${STORE_FORMAT_VERSION} only ` +
        '(restore it with the release that wrote it, or let the node rejoin by state transfer: ' +
        'cretoai-node wipe, then start it)',
    );
  }
  let clusterId = '';
  try {
    clusterId = decodeURIComponent(field('cluster-id'));
  } catch {
    refuse(`${MANIFEST_FILE} has a bad "cluster-id"`);
  }
  const dataSha256 = field('data-sha256');
  if (!/^[0-9a-f]{64}$/.test(dataSha256)) refuse(`${MANIFEST_FILE} has a bad "data-sha256"`);
  return {
    backupVersion,
    formatVersion,
    clusterId,
    replica: integer('replica'),
    lastFinalized: integer('last-finalized'),
    dataBytes: integer('data-bytes'),
    dataSha256,
  };
}
