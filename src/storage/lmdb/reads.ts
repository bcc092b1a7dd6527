/**
 * The LMDB store's reads: the state a replica restarts from, a finalized record by sequence
 * (state transfer), and a finalized vertex by hash through the vertex index and its unwritten
 * tail. Every record is verified as it is read.
 */
import { bytesEqual, DIGEST_BYTES } from '../../crypto/digest.ts';
import type { DurableSnapshot, PrePrepareRecord, PreparedRecord } from '../../protocol/durable-image.ts';
import type { FinalizedRecord } from '../../protocol/effects.ts';
import type { EpochRecord } from '../../protocol/epochs.ts';
import type { Commit } from '../../protocol/messages.ts';
import { type Digest, type Vertex, vertexKey } from '../../protocol/types.ts';
import { StoreCorruptError } from '../errors.ts';
import { positionBefore, type VertexIndexTail } from '../index-tail.ts';
import { type Db, decodeOrRefuse, guardLmdb, type ReadTransaction } from '../record-checks.ts';
import {
  decodeAccepted,
  decodeAcceptedList,
  decodeEpoch,
  decodeFinalized,
  decodePrePrepare,
  decodePrepared,
  decodeStable,
  decodeVertexIndexEntry,
  decodeView,
  describeKey,
  KEY_PREFIX,
  keys,
  vertexKeyRange,
} from '../record-codec.ts';
import { orderingNumberOf, rangeBounds, sequenceOf } from './key-ranges.ts';

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

/**
 * The state to restore a replica from: view, stable checkpoint, PRE-PREPAREs and prepared
 * certificates in sequence order, and the finalized records among the latest `recentFinalized`
 * sequences up to `lastFinalized`, in order, all from one read transaction.
 *
 * @throws StoreCorruptError for a damaged record.
 */
export function readSnapshot(
  db: Db,
  storePath: string,
  lastFinalized: number,
  recentFinalized: number,
): DurableSnapshot {
  db.resetReadTxn();
  const transaction = db.useReadTransaction();
  try {
    const read = (key: Uint8Array): Uint8Array | undefined => get(db, storePath, key, transaction);
    const range = (prefix: number, from: number, to: number) =>
      rangeOf(db, storePath, prefix, from, to, transaction);
    const decode = <T>(key: Uint8Array, decoder: () => T): T => decodeOrRefuse(storePath, key, decoder);
    const viewValue = read(keys.view());
    const stableValue = read(keys.stable());
    const prePrepares: PrePrepareRecord[] = [];
    for (const { key, value } of range(KEY_PREFIX.prePrepare, 0, Number.MAX_SAFE_INTEGER)) {
      prePrepares.push(decode(key, () => decodePrePrepare(sequenceOf(key), value)));
    }
    const prepared: PreparedRecord[] = [];
    for (const { key, value } of range(KEY_PREFIX.prepared, 0, Number.MAX_SAFE_INTEGER)) {
      prepared.push(decode(key, () => decodePrepared(sequenceOf(key), value)));
    }
    const finalized: FinalizedRecord[] = [];
    const last = lastFinalized;
    const first = Math.max(1, last - recentFinalized + 1);
    if (last >= first) {
      for (const { key, value } of range(KEY_PREFIX.finalized, first, last)) {
        finalized.push(decode(key, () => decodeFinalized(sequenceOf(key), value)));
      }
    }
    const epochs: EpochRecord[] = [];
    for (const { key, value } of range(KEY_PREFIX.epoch, 0, 0xffff_ffff)) {
      const number = orderingNumberOf(key);
      epochs.push(decode(key, () => decodeEpoch(number, value)));
    }
    // Each vertex once, though several lists may hold it (one accepted before a restart and
    // again after it); a store of format 3 (see UPGRADABLE_STORE_FORMATS) holds them one each.
    const accepted = new Map<string, Vertex>();
    for (const { key, value } of range(KEY_PREFIX.acceptedList, 0, Number.MAX_SAFE_INTEGER)) {
      for (const vertex of decode(key, () => decodeAcceptedList(key, value)))
        accepted.set(vertexKey(vertex), vertex);
    }
    for (const { key, value } of range(KEY_PREFIX.accepted, 0, Number.MAX_SAFE_INTEGER)) {
      const vertex = decode(key, () => decodeAccepted(key, value));
      accepted.set(vertexKey(vertex), vertex);
    }
    return {
      epochs,
      view: viewValue === undefined ? null : decode(keys.view(), () => decodeView(viewValue)),
      stable: stableValue === undefined ? null : decode(keys.stable(), () => decodeStable(stableValue)),
      prePrepares,
      prepared,
      finalized,
      accepted: [...accepted.values()],
    };
  } finally {
    transaction.done();
  }
}

/**
 * The record finalized at `sequence`, if kept.
 *
 * @throws StoreCorruptError when the record is damaged: a node never serves damaged history.
 */
export function readFinalized(db: Db, storePath: string, sequence: number): FinalizedRecord | undefined {
  if (!Number.isSafeInteger(sequence) || sequence < 0) return undefined;
  const key = keys.finalized(sequence);
  const value = get(db, storePath, key);
  return value === undefined
    ? undefined
    : decodeOrRefuse(storePath, key, () => decodeFinalized(sequence, value));
}

/**
 * A finalized vertex by hash: its position (the first written index entry, or an earlier one
 * still waiting in `indexTail`) and its batch's commit certificate, or undefined when it is not
 * finalized here (or every batch holding it was pruned).
 *
 * @throws StoreCorruptError when the index or the record it points at is damaged.
 */
export function findVertex(
  db: Db,
  storePath: string,
  indexTail: VertexIndexTail,
  lastFinalized: number,
  hash: Digest,
): FinalizedVertex | undefined {
  if (hash.length !== DIGEST_BYTES) return undefined;
  // The vertex's entries sort by position: the first kept one is where it was delivered (or,
  // once that batch is pruned, its next copy).
  const [first] = guardLmdb(storePath, () => [...db.getRange({ ...vertexKeyRange(hash), limit: 1 })]);
  const written =
    first === undefined
      ? undefined
      : decodeOrRefuse(storePath, first.key, () => decodeVertexIndexEntry(first.key, first.value));
  // A position still in the tail may come first (a vertex finalized again in a later batch
  // sorts after the first one, whether or not that one is written yet).
  const waiting = indexTail.find(hash);
  const found =
    written === undefined || (waiting !== undefined && positionBefore(waiting, written)) ? waiting : written;
  if (found === undefined) return undefined;
  const { sequence, index } = found;
  const record = readFinalized(db, storePath, sequence);
  // A position enters the tail as its batch is staged, before the commit that writes the
  // batch: until that commit is visible, the vertex is not final here yet.
  if (record === undefined && found === waiting && sequence > lastFinalized) return undefined;
  const vertex = record?.batch[index];
  if (record === undefined || vertex === undefined || !bytesEqual(vertex.hash, hash)) {
    throw new StoreCorruptError(
      'inconsistent',
      storePath,
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

function get(
  db: Db,
  storePath: string,
  key: Uint8Array,
  transaction?: ReadTransaction,
): Uint8Array | undefined {
  return guardLmdb(storePath, () => (transaction === undefined ? db.get(key) : db.get(key, { transaction })));
}

function* rangeOf(
  db: Db,
  storePath: string,
  prefix: number,
  from: number,
  to: number,
  transaction: ReadTransaction,
): Generator<{ key: Uint8Array; value: Uint8Array }> {
  const entries = guardLmdb(storePath, () => [
    ...db.getRange({ ...rangeBounds(prefix, from, to), transaction }),
  ]);
  yield* entries;
}
