/**
 * Opening the LMDB store and checking it before use: the options, the data file's header
 * (before LMDB maps it), the metadata (format version, cluster id, replica id), every record a
 * restart reads, and the vertex index tail the last run left to write. Also the set of data
 * directories open in this process, so that no directory is opened twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { integerField } from '../../protocol/errors.ts';
import type { ReplicaId } from '../../protocol/types.ts';
import { StoreCorruptError, StoreInUseError } from '../errors.ts';
import { VertexIndexTail } from '../index-tail.ts';
import { type Db, decodeOrRefuse, guardLmdb, readIndexWatermarks } from '../record-checks.ts';
import {
  decodeLastFinalized,
  decodeMeta,
  describeReadableStoreFormats,
  encodeMeta,
  finalizedDeliveredHashes,
  KEY_PREFIX,
  keys,
  STORE_FORMAT_VERSION,
  type StoreMeta,
  UPGRADABLE_STORE_FORMATS,
  verifyRecord,
} from '../record-codec.ts';
import { damageMarkerError } from '../scrub.ts';
import { DATA_FILE } from './files.ts';
import { rangeBounds, sequenceOf } from './key-ranges.ts';

/** How to open a store. */
export interface LmdbStoreOptions {
  /** The data directory (created if missing). */
  readonly path: string;
  /** The cluster this node belongs to: recorded at creation, checked at every open. */
  readonly clusterId: string;
  /** This node's replica id: recorded at creation, checked at every open. */
  readonly replica: ReplicaId;
}

/** A store opened and checked: what the store object starts from. */
export interface CheckedEnvironment {
  readonly db: Db;
  /** The data directory, resolved. */
  readonly path: string;
  /** The highest sequence finalized (0 before any). */
  readonly lastFinalized: number;
  /** Vertex index entries not written yet (see `index-tail.ts`). */
  readonly indexTail: VertexIndexTail;
}

/** LMDB's meta page: the magic 0xBEEFC0DE (little-endian) at this offset of the first page. */
const LMDB_MAGIC_OFFSET = 24;
const LMDB_MAGIC = 0xbeefc0de;

/** Data directories open in this process: two stores on one directory would corrupt it. */
const openPaths = new Set<string>();

/**
 * Opens (or creates) the environment in `options.path` and checks it. The directory counts as
 * open in this process until {@link releaseStorePath}.
 *
 * @throws StoreCorruptError when the store is damaged or belongs to another node.
 * @throws StoreInUseError when the directory is already open in this process.
 */
export async function openAndCheck(options: LmdbStoreOptions): Promise<CheckedEnvironment> {
  integerField('replica', options.replica, undefined, 0, 0xffff);
  const resolvedPath = path.resolve(options.path);
  if (openPaths.has(resolvedPath)) throw new StoreInUseError(resolvedPath, 'is already open in this process');
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
    return { db, path: resolvedPath, lastFinalized, indexTail };
  } catch (error) {
    if (db !== undefined) await db.close().catch(() => undefined);
    openPaths.delete(resolvedPath);
    throw error;
  }
}

/** Marks a data directory as no longer open in this process (its environment is closed). */
export function releaseStorePath(resolvedPath: string): void {
  openPaths.delete(resolvedPath);
}

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
  const upgrade = UPGRADABLE_STORE_FORMATS.has(stored.formatVersion);
  if (stored.formatVersion !== meta.formatVersion && !upgrade) {
    throw new StoreCorruptError(
      'format-version',
      dataPath,
      `store format ${stored.formatVersion}, this release reads ${describeReadableStoreFormats()}`,
    );
  }
  if (stored.clusterId !== meta.clusterId || stored.replica !== meta.replica) {
    throw new StoreCorruptError(
      'identity-mismatch',
      dataPath,
      `it holds replica ${stored.replica} of cluster "${stored.clusterId}", this node is replica ${meta.replica} of cluster "${meta.clusterId}"`,
    );
  }
  const last = checkRestoreRecords(db, dataPath);
  // Checked first, so that a damaged store is refused as it is; then marked as this release's.
  if (upgrade) {
    await db.batch(() => {
      void db.put(metaKey, encodeMeta(meta));
    });
  }
  return last;
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
      if (tail.waits(hash, sequence)) tail.add(hash, sequence, index);
  }
  return tail;
}
