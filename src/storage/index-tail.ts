/**
 * The vertex index entries the LMDB store has not written yet, and the rule for when it writes
 * them.
 *
 * Why. Index keys start with the vertex hash, so the entries of one finalized batch land on as
 * many B-tree leaf pages as the batch has vertices, and LMDB writes every page a commit touches
 * (copy-on-write) before the sync. Written with their batch, every commit rewrote about one
 * page per vertex, and under load the disk writes and the kernel's share of the CPU grew with
 * the rate (docs/benchmarks.md).
 *
 * So entries wait here, in 1,024 buckets by the top ten bits of the hash, and each commit writes
 * one bucket in turn (plus any bucket grown past `BUCKET_ENTRIES_MAX`). One bucket's keys fill
 * one 1,024th of the index's key range, so its entries share leaf pages: writing them costs
 * about a 1,024th of the index's pages however many entries waited, and each commit is about as
 * large as the last (one large write every so often stalled every vote behind it). The index
 * grows by whole buckets instead of whole batches; lookups consult the tail too.
 *
 * Why 1,024 and not fewer. A bucket's key range holds index-size / buckets leaf pages, and the
 * entries one commit writes (those of one bucket) are scattered across them, so once the index
 * holds a few minutes of vertices a commit rewrites about that many pages. With 64 buckets that
 * was most of every commit's disk writes at 8,000 vertices/s (docs/benchmarks.md). More buckets
 * keep entries waiting longer: at that rate about half a minute of vertices, 44 bytes each in
 * typed arrays that the collector does not trace.
 *
 * Crash safety. Each bucket has a watermark: every index entry of a record at or below it has
 * been written (or the record removed). The watermarks are written in the same transaction as
 * the bucket, so after a crash the store rebuilds the tail from the finalized records above
 * them. Writing an entry twice is harmless: it is the same key and value.
 */
import { ArgumentError } from '../errors.ts';
import type { Digest } from '../protocol/types.ts';

/** Buckets of the tail: the number of commits that write every bucket once. A power of two. */
export const INDEX_BUCKETS = 1024;

/** Bits of the hash that name its bucket. */
const BUCKET_BITS = Math.log2(INDEX_BUCKETS);

/**
 * A bucket this large is written with the next commit, out of turn: it bounds the tail's memory
 * (at most about INDEX_BUCKETS x BUCKET_ENTRIES_MAX entries, 44 bytes each).
 */
export const BUCKET_ENTRIES_MAX = 1024;

const HASH_BYTES = 32;

/** A bucket's first capacity, in entries; it doubles as it fills. */
const BUCKET_CAPACITY_MIN = 8;

/** The bucket of a vertex hash: its top ten bits, so a bucket is a contiguous key range. */
export function indexBucketOf(hash: Digest): number {
  return ((hash[0]! << 8) | hash[1]!) >> (16 - BUCKET_BITS);
}

/**
 * Watermarks stored by a release with fewer buckets (a power of two that divides
 * INDEX_BUCKETS), as this release's: a bucket of fewer top bits is the union of the buckets
 * that extend its bits, so each of them inherits its watermark exactly. Null for any other count.
 */
export function widenWatermarks(stored: readonly number[]): number[] | null {
  const bits = Math.log2(stored.length);
  if (!Number.isInteger(bits) || bits > BUCKET_BITS) return null;
  const shift = BUCKET_BITS - bits;
  return Array.from({ length: INDEX_BUCKETS }, (_, bucket) => stored[bucket >> shift]!);
}

/** The waiting entries of one bucket, in the order they were added, in typed arrays. */
class Bucket {
  hashes = new Uint8Array(BUCKET_CAPACITY_MIN * HASH_BYTES);
  sequences = new Float64Array(BUCKET_CAPACITY_MIN);
  indexes = new Uint32Array(BUCKET_CAPACITY_MIN);
  length = 0;

  add(hash: Digest, sequence: number, index: number): void {
    if (this.length === this.sequences.length) this.#grow();
    this.hashes.set(hash, this.length * HASH_BYTES);
    this.sequences[this.length] = sequence;
    this.indexes[this.length] = index;
    this.length++;
  }

  /** Whether entry `at` holds `hash`. */
  holds(at: number, hash: Digest): boolean {
    const hashes = this.hashes;
    const base = at * HASH_BYTES;
    for (let i = 0; i < HASH_BYTES; i++) if (hashes[base + i] !== hash[i]) return false;
    return true;
  }

  /** Keeps the entries `keep` approves, in order; returns how many were dropped. */
  retain(keep: (at: number) => boolean): number {
    let kept = 0;
    for (let at = 0; at < this.length; at++) {
      if (!keep(at)) continue;
      if (kept !== at) {
        this.hashes.copyWithin(kept * HASH_BYTES, at * HASH_BYTES, (at + 1) * HASH_BYTES);
        this.sequences[kept] = this.sequences[at]!;
        this.indexes[kept] = this.indexes[at]!;
      }
      kept++;
    }
    const dropped = this.length - kept;
    this.length = kept;
    return dropped;
  }

  /** Empties the bucket, giving back the memory of a bucket that grew past its usual size. */
  clear(): void {
    this.length = 0;
    if (this.sequences.length > BUCKET_ENTRIES_MAX) this.#resize(BUCKET_CAPACITY_MIN);
  }

  #grow(): void {
    this.#resize(this.sequences.length * 2);
  }

  #resize(capacity: number): void {
    const hashes = new Uint8Array(capacity * HASH_BYTES);
    hashes.set(this.hashes.subarray(0, this.length * HASH_BYTES));
    const sequences = new Float64Array(capacity);
    sequences.set(this.sequences.subarray(0, this.length));
    const indexes = new Uint32Array(capacity);
    indexes.set(this.indexes.subarray(0, this.length));
    this.hashes = hashes;
    this.sequences = sequences;
    this.indexes = indexes;
  }
}

export class VertexIndexTail {
  readonly #buckets: Bucket[] = Array.from({ length: INDEX_BUCKETS }, () => new Bucket());
  readonly #watermarks: number[];
  #next = 0;
  #size = 0;

  /** @param watermarks - per bucket, the sequence through which its entries are written. */
  constructor(watermarks: readonly number[]) {
    if (watermarks.length !== INDEX_BUCKETS) {
      throw new ArgumentError(`expected ${INDEX_BUCKETS} watermarks, got ${watermarks.length}`);
    }
    this.#watermarks = [...watermarks];
  }

  /** Entries waiting. */
  get size(): number {
    return this.#size;
  }

  /** The watermarks, per bucket. */
  get watermarks(): readonly number[] {
    return this.#watermarks;
  }

  /** The lowest watermark: every entry of a record at or below it is written. */
  get lowestWatermark(): number {
    let lowest = this.#watermarks[0]!;
    for (const watermark of this.#watermarks) if (watermark < lowest) lowest = watermark;
    return lowest;
  }

  /**
   * Whether the entry of this slot waits here rather than in LMDB: its sequence lies above its
   * bucket's watermark. (A record finalized below the watermark, out of order, is written
   * directly; so is its removal.)
   */
  waits(hash: Digest, sequence: number): boolean {
    return sequence > this.#watermarks[indexBucketOf(hash)]!;
  }

  /** Adds the entry of a slot that {@link VertexIndexTail.waits}; the hash is copied. */
  add(hash: Digest, sequence: number, index: number): void {
    this.#buckets[indexBucketOf(hash)]!.add(hash, sequence, index);
    this.#size++;
  }

  /** Forgets the waiting entries of the record at `sequence` (it was removed before they were written). */
  dropSequence(sequence: number): void {
    if (sequence <= this.lowestWatermark) return;
    for (const bucket of this.#buckets) {
      if (bucket.length === 0) continue;
      const { sequences } = bucket;
      this.#size -= bucket.retain((at) => sequences[at] !== sequence);
    }
  }

  /** The first waiting position of the vertex `hash` (lowest sequence, then index). */
  find(hash: Digest): { readonly sequence: number; readonly index: number } | undefined {
    const bucket = this.#buckets[indexBucketOf(hash)]!;
    let first: { sequence: number; index: number } | undefined;
    for (let at = 0; at < bucket.length; at++) {
      if (!bucket.holds(at, hash)) continue;
      const slot = { sequence: bucket.sequences[at]!, index: bucket.indexes[at]! };
      if (first === undefined || positionBefore(slot, first)) first = slot;
    }
    return first;
  }

  /**
   * Hands `write` the entries one commit writes: the next bucket in turn and any bucket past
   * `BUCKET_ENTRIES_MAX` (every bucket with `all`). Their watermarks move to `lastFinalized`,
   * the highest sequence the commit leaves finalized: every entry of theirs is then written.
   * `write` gets each hash as the 32 bytes of `hashes` from `at`, valid only during the call
   * (a view of each would be an object an entry, and the flush writes one a finalized vertex).
   */
  take(
    lastFinalized: number,
    all: boolean,
    write: (hashes: Uint8Array, at: number, sequence: number, index: number) => void,
  ): void {
    const turn = this.#next;
    this.#next = (this.#next + 1) % INDEX_BUCKETS;
    for (let number = 0; number < INDEX_BUCKETS; number++) {
      const bucket = this.#buckets[number]!;
      if (!all && number !== turn && bucket.length <= BUCKET_ENTRIES_MAX) continue;
      const { hashes, sequences, indexes } = bucket;
      for (let at = 0; at < bucket.length; at++) {
        write(hashes, at * HASH_BYTES, sequences[at]!, indexes[at]!);
      }
      this.#size -= bucket.length;
      bucket.clear();
      this.#watermarks[number] = Math.max(this.#watermarks[number]!, lastFinalized);
    }
  }
}

/** Whether position `a` comes before `b` in the total order (by sequence, then index). */
export function positionBefore(
  a: { readonly sequence: number; readonly index: number },
  b: { readonly sequence: number; readonly index: number },
): boolean {
  return a.sequence < b.sequence || (a.sequence === b.sequence && a.index < b.index);
}
