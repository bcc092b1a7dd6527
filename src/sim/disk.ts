/**
 * A replica's disk, which outlives its processes: what was made durable (the reference image of
 * the durable writes), the sync failures and the damage planned for it, and what becomes of it
 * when an operator wipes it.
 *
 * Damage is real bytes: a record is encoded as the store encodes it (`record-codec.ts`, with its
 * CRC-32 over key and value), one bit of it flips, and the next open reads it back through the
 * store's own check, which refuses the disk with a `StoreCorruptError` as a node's store refuses
 * a damaged data directory at start.
 */
import { DurableImage } from '../protocol/index.ts';
import { decodeOrRefuse } from '../storage/record-checks.ts';
import {
  encodeAcceptedList,
  encodeFinalized,
  encodePrePrepare,
  encodePrepared,
  encodeStable,
  encodeView,
  keys,
  verifyRecord,
} from '../storage/record-codec.ts';
import type { Prng } from './prng.ts';
import type { SimProcess } from './process.ts';
import { SimStore, type SimStoreOptions } from './sim-store.ts';

interface StoredRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export class SimDisk {
  readonly replica: number;
  /** Where a node would keep it, for error messages. */
  readonly path: string;
  /** What is durable: what the next process starts from. */
  image = new DurableImage();
  /** Times this disk was wiped. */
  wipes = 0;
  #damaged: StoredRecord | null = null;
  /** Virtual times after which the next sync to complete fails, soonest first. */
  readonly #syncFailures: number[] = [];

  constructor(replica: number) {
    this.replica = replica;
    this.path = `sim://replica-${replica}/data`;
  }

  /** Makes the first sync that completes at or after `atMs` fail. */
  planSyncFailure(atMs: number): void {
    this.#syncFailures.push(atMs);
    this.#syncFailures.sort((a, b) => a - b);
  }

  /** Whether a sync completing now fails (consumes the planned failure). */
  takeSyncFailure(nowMs: number): boolean {
    if (this.#syncFailures.length === 0 || this.#syncFailures[0]! > nowMs) return false;
    this.#syncFailures.shift();
    return true;
  }

  /** Drops every planned sync failure (the fault phase is over). */
  clearSyncFailures(): void {
    this.#syncFailures.length = 0;
  }

  /**
   * Flips one bit of one stored record, chosen by `prng` (bit rot while the replica is down).
   * False when nothing is stored yet.
   */
  damage(prng: Prng): boolean {
    const records = this.#records();
    if (records.length === 0) return false;
    const record = prng.pick(records)();
    const value = record.value.slice();
    const bit = prng.int(value.length * 8);
    value[bit >> 3] = value[bit >> 3]! ^ (1 << (bit & 7));
    this.#damaged = { key: record.key, value };
    return true;
  }

  /** Whether a record is damaged (the next open will refuse the disk). */
  get damaged(): boolean {
    return this.#damaged !== null;
  }

  /**
   * Opens the disk for `process`, checking what a restart reads.
   *
   * @throws StoreCorruptError when a record is damaged, as the node's store does at open.
   */
  open(process: SimProcess, prng: Prng, options: SimStoreOptions): SimStore {
    const damaged = this.#damaged;
    if (damaged !== null)
      decodeOrRefuse(this.path, damaged.key, () => verifyRecord(damaged.key, damaged.value));
    return new SimStore(this, process, prng, options);
  }

  /** What `cretoai-node wipe` does: the store is forgotten; the replica rejoins by state transfer. */
  wipe(): void {
    this.image = new DurableImage();
    this.#damaged = null;
    this.wipes++;
  }

  /** Every stored record, each encoded on demand. */
  #records(): (() => StoredRecord)[] {
    const image = this.image;
    const records: (() => StoredRecord)[] = [];
    const view = image.view;
    if (view !== null) records.push(() => ({ key: keys.view(), value: encodeView(view) }));
    const stable = image.stable;
    if (stable !== null) records.push(() => ({ key: keys.stable(), value: encodeStable(stable) }));
    for (const record of image.prePrepares.values())
      records.push(() => ({ key: keys.prePrepare(record.sequence), value: encodePrePrepare(record) }));
    for (const record of image.prepared.values())
      records.push(() => ({ key: keys.prepared(record.sequence), value: encodePrepared(record) }));
    for (const record of image.finalized.values())
      records.push(() => ({ key: keys.finalized(record.sequence), value: encodeFinalized(record) }));
    // The store writes each accepted write as one list; a list of each vertex is encoded as it would be.
    for (const vertex of image.accepted.values()) records.push(() => encodeAcceptedList([vertex]));
    return records;
  }
}
