/**
 * The checks of stored records, shared by the full scan (`LmdbStore.verify`, run by
 * `verify-store`, restores and tests) and the background scrub (`scrub.ts`): one piece of code
 * decides what counts as damage, so that the scrub finds what `verify-store` would.
 *
 * {@link checkRecord} checks one record within one read snapshot: its checksum and format (the
 * key covered), that its key is one this release writes, and its references, each looked up in
 * the same snapshot so that concurrent writes never make a false alarm: a finalized record must
 * not lie above the last finalized sequence, and each of its delivered slots below its bucket's
 * index watermark must have its vertex index entry; an index entry must not lie above its
 * bucket's watermark and must point within the kept finalized records. Lookups read five-byte
 * entries only, never a batch.
 *
 * {@link verifyAll} runs it over every record of one snapshot and adds what only a whole
 * snapshot can tell: the metadata record is present, every index entry names a slot that was
 * delivered in its record, and there are exactly as many entries as written slots.
 */
import type { RootDatabase } from 'lmdb';
import { toHex } from '../crypto/digest.ts';
import { ArgumentError } from '../errors.ts';
import { StoreCorruptError, type StoreCorruptionCode } from './errors.ts';
import { INDEX_BUCKETS, indexBucketOf, widenWatermarks } from './index-tail.ts';
import {
  decodeIndexWatermarks,
  decodeLastFinalized,
  describeKey,
  finalizedDeliveredHashes,
  KEY_PREFIX,
  keys,
  type ParsedKey,
  parseKey,
  RecordError,
  verifyRecord,
  vertexKeyRange,
} from './record-codec.ts';

/** The store's LMDB database: binary keys and values. */
export type Db = RootDatabase<Uint8Array, Uint8Array>;
/** A read transaction of {@link Db}: one consistent snapshot. */
export type ReadTransaction = ReturnType<Db['useReadTransaction']>;

/** What the full scan found. */
export interface VerifyReport {
  /** Records in the data file (index entries that wait in the tail are not records yet). */
  readonly records: number;
  readonly finalized: number;
  /**
   * Distinct vertices in the kept finalized records, written to the vertex index or waiting to
   * be (a vertex finalized in two kept batches counts once).
   */
  readonly vertices: number;
  readonly lastFinalized: number;
}

/** One read snapshot, with what the checks of its records compare against. */
export interface RecordSnapshot {
  readonly db: Db;
  readonly dataPath: string;
  readonly transaction: ReadTransaction;
  /** The last finalized sequence in this snapshot. */
  readonly lastFinalized: number;
  /** The lowest finalized sequence kept in this snapshot (pruning removes from the bottom), 0 with none. */
  readonly lowestKept: number;
  /** The vertex index watermarks in this snapshot. */
  readonly watermarks: readonly number[];
}

/** A record checked by {@link checkRecord}: what its key says, and the lookups it took. */
export interface CheckedRecord {
  readonly parsed: ParsedKey;
  /** Point lookups made to check its references (the scrub counts them against its rate). */
  readonly lookups: number;
  /**
   * For a finalized record checked in part (`slotsMax`), its delivered slots and the first one
   * not checked yet (go on with {@link checkDeliveredSlots}); null once all were.
   */
  readonly rest: { readonly delivered: readonly DeliveredSlot[]; readonly from: number } | null;
}

/** A delivered slot of a finalized record: the vertex hash and its position in the batch. */
export interface DeliveredSlot {
  readonly hash: Uint8Array;
  readonly position: number;
}

/**
 * The snapshot `transaction` sees: its last finalized sequence (from its marker), its lowest
 * kept finalized sequence, and its index watermarks.
 *
 * @throws StoreCorruptError when a record it reads is damaged.
 */
export function snapshotOf(db: Db, dataPath: string, transaction: ReadTransaction): RecordSnapshot {
  const lastKey = keys.lastFinalized();
  const lastValue = guardLmdb(dataPath, () => db.get(lastKey, { transaction }));
  const lastFinalized =
    lastValue === undefined ? 0 : decodeOrRefuse(dataPath, lastKey, () => decodeLastFinalized(lastValue));
  return snapshotAt(db, dataPath, transaction, lastFinalized);
}

/** The snapshot `transaction` sees, whose last finalized sequence is known to be `lastFinalized`. */
function snapshotAt(
  db: Db,
  dataPath: string,
  transaction: ReadTransaction,
  lastFinalized: number,
): RecordSnapshot {
  return {
    db,
    dataPath,
    transaction,
    lastFinalized,
    lowestKept: lowestKept(db, dataPath, transaction),
    watermarks: readIndexWatermarks(db, dataPath, lastFinalized, transaction),
  };
}

function lowestKept(db: Db, dataPath: string, transaction: ReadTransaction): number {
  const [first] = guardLmdb(dataPath, () => [
    ...db.getKeys({
      start: Uint8Array.of(KEY_PREFIX.finalized),
      end: Uint8Array.of(KEY_PREFIX.finalized + 1),
      limit: 1,
      transaction,
    }),
  ]);
  const parsed = first === undefined ? null : parseKey(first);
  return parsed !== null && 'sequence' in parsed ? parsed.sequence : 0;
}

/**
 * A point read in the snapshot. lmdb-js hands out its shared read transaction from
 * `useReadTransaction` and holds it while in use; a plain `get` reads through that same
 * transaction as long as nothing yields to the event loop in between (the shared transaction is
 * only reset from a later task), and every check here runs synchronously. A `get` that names
 * the transaction costs several times a plain one (docs/benchmarks.md), and a finalized record
 * of 4,096 vertices takes one per vertex.
 */
function lookup(snapshot: RecordSnapshot, key: Uint8Array): Uint8Array | undefined {
  return guardLmdb(snapshot.dataPath, () => snapshot.db.get(key));
}

/**
 * Checks one record of `snapshot` (see the module comment); of a finalized record, at most
 * `slotsMax` of its delivered slots (default all: the rest are returned for later).
 *
 * @throws StoreCorruptError naming the record and what is wrong with it.
 */
export function checkRecord(
  snapshot: RecordSnapshot,
  key: Uint8Array,
  value: Uint8Array,
  slotsMax = Number.POSITIVE_INFINITY,
): CheckedRecord {
  const { dataPath, lastFinalized, watermarks } = snapshot;
  const parsed = decodeOrRefuse(dataPath, key, () => verifyRecord(key, value));
  if (parsed === null)
    throw new StoreCorruptError(
      'unknown-key',
      dataPath,
      `${describeKey(key)} is not a key this release writes`,
    );
  if (parsed.kind === 'finalized') {
    if (parsed.sequence > lastFinalized) {
      throw new StoreCorruptError(
        'inconsistent',
        dataPath,
        `a finalized record at sequence ${parsed.sequence} lies above the last finalized sequence ${lastFinalized}`,
      );
    }
    const delivered = decodeOrRefuse(dataPath, key, () => finalizedDeliveredHashes(parsed.sequence, value));
    const { lookups, next } = checkDeliveredSlots(snapshot, key, delivered, 0, slotsMax);
    return { parsed, lookups, rest: next === null ? null : { delivered, from: next } };
  }
  if (parsed.kind === 'vertex') {
    const watermark = watermarks[indexBucketOf(parsed.hash)]!;
    if (parsed.sequence > watermark) {
      throw new StoreCorruptError(
        'inconsistent',
        dataPath,
        `the ${describeKey(key)} lies above its bucket's index watermark ${watermark}`,
      );
    }
    // Kept finalized records are the ones between the lowest kept and the last (which the
    // record -> entry direction and verifyAll check exactly: an entry must name a slot that was
    // delivered in a kept record). Reading the record itself would copy its whole batch.
    if (parsed.sequence < snapshot.lowestKept || parsed.sequence > lastFinalized) {
      throw new StoreCorruptError(
        'inconsistent',
        dataPath,
        `the ${describeKey(key)} points at no kept finalized record`,
      );
    }
  }
  return { parsed, lookups: 0, rest: null };
}

/**
 * Checks that delivered slots `from` to `from + max` of the finalized record at `key` have
 * their vertex index entries, those whose bucket is written that far in `snapshot`. Returns the
 * lookups made and the next slot to check, or null once every slot was.
 *
 * @throws StoreCorruptError for a missing entry.
 */
export function checkDeliveredSlots(
  snapshot: RecordSnapshot,
  key: Uint8Array,
  delivered: readonly DeliveredSlot[],
  from: number,
  max: number,
): { readonly lookups: number; readonly next: number | null } {
  const parsed = parseKey(key);
  if (parsed?.kind !== 'finalized') throw new ArgumentError('not the key of a finalized record');
  const to = Math.min(delivered.length, from + max);
  let lookups = 0;
  for (let slot = from; slot < to; slot++) {
    const { hash, position: index } = delivered[slot]!;
    if (parsed.sequence > snapshot.watermarks[indexBucketOf(hash)]!) continue;
    lookups++;
    if (lookup(snapshot, keys.vertex(hash, parsed.sequence, index)) === undefined) {
      throw new StoreCorruptError(
        'inconsistent',
        snapshot.dataPath,
        `vertex ${index} of the ${describeKey(key)} is missing from the vertex index`,
      );
    }
  }
  return { lookups, next: to < delivered.length ? to : null };
}

/** Whether the record at `key` exists in `snapshot` (its key is read, not its value). */
export function recordExists(snapshot: RecordSnapshot, key: Uint8Array): boolean {
  const end = Uint8Array.from([...key, 0]);
  const [found] = guardLmdb(snapshot.dataPath, () => [
    ...snapshot.db.getKeys({ start: key, end, limit: 1, transaction: snapshot.transaction }),
  ]);
  return found !== undefined;
}

/**
 * Reads and checks every record of the snapshot `transaction` sees (see the module comment).
 *
 * @throws StoreCorruptError at the first problem.
 */
export function verifyAll(
  db: Db,
  dataPath: string,
  transaction: ReadTransaction,
  lastFinalized: number,
): VerifyReport {
  const snapshot = snapshotAt(db, dataPath, transaction, lastFinalized);
  const { watermarks } = snapshot;
  // Vertices of slots whose index entries are not written yet, by hex: counted at the end.
  const waiting = new Map<string, Uint8Array>();
  let records = 0;
  let finalized = 0;
  let vertices = 0;
  let slots = 0;
  let entries = 0;
  let sawMeta = false;
  let previousHash: Uint8Array | null = null;
  // The delivered positions of every kept finalized record. Key order puts every finalized
  // record (0x06) before the index (0x09), so it is complete by then.
  const deliveredSlots = new Map<number, Set<number>>();
  const all = guardLmdb(dataPath, () => db.getRange({ transaction }));
  for (const { key, value } of all) {
    records++;
    const { parsed } = checkRecord(snapshot, key, value);
    if (parsed.kind === 'meta') sawMeta = true;
    if (parsed.kind === 'finalized') {
      finalized++;
      const delivered = decodeOrRefuse(dataPath, key, () => finalizedDeliveredHashes(parsed.sequence, value));
      deliveredSlots.set(parsed.sequence, new Set(delivered.map((slot) => slot.position)));
      for (const { hash } of delivered) {
        if (parsed.sequence > watermarks[indexBucketOf(hash)]!) waiting.set(toHex(hash), hash);
        else slots++;
      }
    }
    if (parsed.kind === 'vertex') {
      entries++;
      if (previousHash === null || Buffer.compare(previousHash, parsed.hash) !== 0) vertices++;
      previousHash = parsed.hash;
      const slots = deliveredSlots.get(parsed.sequence);
      if (slots?.has(parsed.index) !== true) {
        throw new StoreCorruptError(
          'inconsistent',
          dataPath,
          `the ${describeKey(key)} points at ${slots === undefined ? 'no kept finalized record' : 'a slot not delivered there'}`,
        );
      }
    }
  }
  // Every written slot has its own entry (keys differ by position), so equal counts mean that
  // every entry is a written slot's: none names a hash its slot does not hold.
  if (entries !== slots) {
    throw new StoreCorruptError(
      'inconsistent',
      dataPath,
      `the vertex index holds ${entries} entries for ${slots} vertices in finalized records (up to the index watermarks)`,
    );
  }
  if (!sawMeta && records > 0)
    throw new StoreCorruptError('missing-metadata', dataPath, 'the metadata record is missing');
  // A vertex whose only positions wait in the tail is a vertex of the store all the same.
  for (const hash of waiting.values()) {
    const found = guardLmdb(dataPath, () => [
      ...db.getKeys({ ...vertexKeyRange(hash), limit: 1, transaction }),
    ]);
    if (found.length === 0) vertices++;
  }
  return { records, finalized, vertices, lastFinalized };
}

/**
 * The index watermarks as stored, or every bucket at `lastFinalized` when the record is absent
 * (a store written before the tail existed has every entry written).
 */
export function readIndexWatermarks(
  db: Db,
  dataPath: string,
  lastFinalized: number,
  transaction?: ReadTransaction,
): number[] {
  const key = keys.indexWatermarks();
  const value = guardLmdb(dataPath, () =>
    transaction === undefined ? db.get(key) : db.get(key, { transaction }),
  );
  if (value === undefined) return new Array<number>(INDEX_BUCKETS).fill(lastFinalized);
  return decodeOrRefuse(dataPath, key, () => {
    const stored = decodeIndexWatermarks(value);
    // A store of an earlier release has fewer, wider buckets; the next commit writes all of ours.
    const watermarks = widenWatermarks(stored);
    if (watermarks === null) {
      throw new RecordError('malformed', `${stored.length} buckets, this release has ${INDEX_BUCKETS}`);
    }
    return watermarks;
  });
}

/** Turns a record's RecordError into a StoreCorruptError that names the record. */
export function decodeOrRefuse<T>(dataPath: string, key: Uint8Array, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof RecordError) {
      const code: StoreCorruptionCode = error.code === 'checksum' ? 'checksum' : 'malformed';
      throw new StoreCorruptError(
        code,
        dataPath,
        `the ${describeKey(key)} fails its check: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** LMDB's own reports of a damaged or foreign file. */
const LMDB_DAMAGE = /MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_INVALID|MDB_VERSION_MISMATCH|MDB_BAD_TXN|corrupt/i;

/** Runs an LMDB call; LMDB's reports of damage become StoreCorruptError, other errors pass. */
export function guardLmdb<T>(dataPath: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof Error && LMDB_DAMAGE.test(error.message)) {
      throw new StoreCorruptError('lmdb', dataPath, `LMDB reports: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
