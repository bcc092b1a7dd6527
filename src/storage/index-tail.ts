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
 * So entries wait here, in 64 buckets by the top six bits of the hash, and each commit writes one
 * bucket in turn (plus any bucket grown past `BUCKET_ENTRIES_MAX`). One bucket's keys fill one
 * sixty-fourth of the index's key range, so its entries share leaf pages: writing them costs
 * about a sixty-fourth of the index's pages however many entries waited, and each commit is
 * about as large as the last (one large write every so often stalled every vote behind it).
 * The index grows by whole buckets instead of whole batches; lookups consult the tail too.
 *
 * Crash safety. Each bucket has a watermark: every index entry of a record at or below it has
 * been written (or the record removed). The watermarks are written in the same transaction as
 * the bucket, so after a crash the store rebuilds the tail from the finalized records above
 * them. Writing an entry twice is harmless: it is the same key and value.
 */
import { bytesEqual } from '../crypto/digest.ts';
import { ArgumentError } from '../errors.ts';
import type { Digest } from '../protocol/types.ts';

/** Buckets of the tail: the number of commits that write every bucket once. */
export const INDEX_BUCKETS = 64;

/** A bucket this large is written with the next commit, out of turn: it bounds the tail's memory. */
export const BUCKET_ENTRIES_MAX = 4096;

/** A vertex's position in a finalized batch. */
export interface IndexSlot {
  readonly hash: Digest;
  readonly sequence: number;
  readonly index: number;
}

/** The bucket of a vertex hash: its top six bits, so a bucket is a contiguous key range. */
export function indexBucketOf(hash: Digest): number {
  return hash[0]! >> 2;
}

export class VertexIndexTail {
  readonly #buckets: IndexSlot[][] = Array.from({ length: INDEX_BUCKETS }, () => []);
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

  add(slot: IndexSlot): void {
    this.#buckets[indexBucketOf(slot.hash)]!.push(slot);
    this.#size++;
  }

  /** Forgets the waiting entries of the record at `sequence` (it was removed before they were written). */
  dropSequence(sequence: number): void {
    if (sequence <= this.lowestWatermark) return;
    for (let bucket = 0; bucket < INDEX_BUCKETS; bucket++) {
      const slots = this.#buckets[bucket]!;
      const kept = slots.filter((slot) => slot.sequence !== sequence);
      this.#size -= slots.length - kept.length;
      this.#buckets[bucket] = kept;
    }
  }

  /** The first waiting position of the vertex `hash` (lowest sequence, then index). */
  find(hash: Digest): { readonly sequence: number; readonly index: number } | undefined {
    let first: IndexSlot | undefined;
    for (const slot of this.#buckets[indexBucketOf(hash)]!) {
      if (!bytesEqual(slot.hash, hash)) continue;
      if (first === undefined || positionBefore(slot, first)) first = slot;
    }
    return first === undefined ? undefined : { sequence: first.sequence, index: first.index };
  }

  /**
   * Takes the entries one commit writes: the next bucket in turn and any bucket past
   * `BUCKET_ENTRIES_MAX` (every bucket with `all`). Their watermarks move to `lastFinalized`,
   * the highest sequence the commit leaves finalized: every entry of theirs is then written.
   */
  take(lastFinalized: number, all = false): IndexSlot[] {
    const taken: IndexSlot[] = [];
    const turn = this.#next;
    this.#next = (this.#next + 1) % INDEX_BUCKETS;
    for (let bucket = 0; bucket < INDEX_BUCKETS; bucket++) {
      const slots = this.#buckets[bucket]!;
      if (!all && bucket !== turn && slots.length <= BUCKET_ENTRIES_MAX) continue;
      for (const slot of slots) taken.push(slot);
      this.#size -= slots.length;
      this.#buckets[bucket] = [];
      this.#watermarks[bucket] = Math.max(this.#watermarks[bucket]!, lastFinalized);
    }
    return taken;
  }
}

/** Whether position `a` comes before `b` in the total order (by sequence, then index). */
export function positionBefore(
  a: { readonly sequence: number; readonly index: number },
  b: { readonly sequence: number; readonly index: number },
): boolean {
  return a.sequence < b.sequence || (a.sequence === b.sequence && a.index < b.index);
}
