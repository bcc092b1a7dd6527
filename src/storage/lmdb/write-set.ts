/**
 * The write set of one group commit: the group's writes over the committed state, readable
 * before they are issued in one LMDB transaction.
 */
import { type Db, guardLmdb } from '../record-checks.ts';
import { orderingNumberOf, rangeBounds } from './key-ranges.ts';

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
export class WriteSet {
  readonly #db: Db;
  readonly #path: string;
  readonly #staged = new Map<string, { readonly key: Uint8Array; value: Uint8Array | null }>();
  /** Keys and values (null: a removal) one after the other: no object an entry. */
  readonly #indexLog: (Uint8Array | null)[] = [];

  constructor(db: Db, storePath: string) {
    this.#db = db;
    this.#path = storePath;
  }

  get size(): number {
    return this.#staged.size + this.#indexLog.length / 2;
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
    this.#indexLog.push(key, value);
  }

  /** Stages the removal of a vertex index entry. */
  removeIndexEntry(key: Uint8Array): void {
    this.#indexLog.push(key, null);
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
    const log = this.#indexLog;
    for (let i = 0; i < log.length; i += 2) {
      const key = log[i]!;
      const value = log[i + 1] ?? null;
      if (value === null) void this.#db.remove(key);
      else void this.#db.put(key, value);
    }
  }
}

function id(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
