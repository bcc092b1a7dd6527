/**
 * The vertex index tail on its own (`src/storage/index-tail.ts`): its typed-array buckets must
 * answer as a plain list of slots would, through growth, out-of-turn writes, removals and the
 * turn of the buckets. The LMDB side (what each commit writes, crash rebuild) is in
 * `lmdb-index-tail.test.ts`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import { Prng } from '../../src/sim/prng.ts';
import {
  BUCKET_ENTRIES_MAX,
  INDEX_BUCKETS,
  indexBucketOf,
  positionBefore,
  VertexIndexTail,
  widenWatermarks,
} from '../../src/storage/index-tail.ts';

interface Slot {
  readonly hash: Uint8Array;
  readonly sequence: number;
  readonly index: number;
  /** The hash as hex, compared by the model. */
  readonly key: string;
}

/** A hash in `bucket` (its top ten bits), the rest from `prng`. */
function hashIn(bucket: number, prng: Prng): Uint8Array {
  const hash = new Uint8Array(32);
  for (let i = 0; i < 32; i++) hash[i] = prng.int(256);
  hash[0] = bucket >> 2;
  hash[1] = ((bucket & 3) << 6) | (hash[1]! & 0x3f);
  return hash;
}

const hex = (hash: Uint8Array): string => Buffer.from(hash).toString('hex');

/** The tail's contract in its plainest form: a list of waiting slots and the same turn rule. */
class ModelTail {
  slots: Slot[] = [];
  readonly watermarks: number[];
  next = 0;
  constructor(watermarks: readonly number[]) {
    this.watermarks = [...watermarks];
  }

  waits(hash: Uint8Array, sequence: number): boolean {
    return sequence > this.watermarks[indexBucketOf(hash)]!;
  }

  find(hash: Uint8Array): { sequence: number; index: number } | undefined {
    const key = hex(hash);
    let first: Slot | undefined;
    for (const slot of this.slots) {
      if (slot.key !== key) continue;
      if (first === undefined || positionBefore(slot, first)) first = slot;
    }
    return first === undefined ? undefined : { sequence: first.sequence, index: first.index };
  }

  take(lastFinalized: number, all: boolean): Slot[] {
    const turn = this.next;
    this.next = (this.next + 1) % INDEX_BUCKETS;
    const counts = new Map<number, number>();
    for (const slot of this.slots) {
      const bucket = indexBucketOf(slot.hash);
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    const taken = (bucket: number): boolean =>
      all || bucket === turn || (counts.get(bucket) ?? 0) > BUCKET_ENTRIES_MAX;
    const out = this.slots.filter((slot) => taken(indexBucketOf(slot.hash)));
    this.slots = this.slots.filter((slot) => !taken(indexBucketOf(slot.hash)));
    for (let bucket = 0; bucket < INDEX_BUCKETS; bucket++) {
      if (taken(bucket)) this.watermarks[bucket] = Math.max(this.watermarks[bucket]!, lastFinalized);
    }
    return out;
  }
}

/** Slots in the order a take hands them, per bucket (a bucket keeps the order slots were added). */
function byBucket(slots: readonly Slot[]): string[] {
  return slots
    .map((slot) => `${indexBucketOf(slot.hash)}:${slot.key}@${slot.sequence}.${slot.index}`)
    .sort((a, b) => Number(a.split(':')[0]) - Number(b.split(':')[0]));
}

describe('VertexIndexTail', () => {
  it('agrees with a plain list of slots over random histories', () => {
    const seed = Number(process.env.INDEX_TAIL_SEED ?? Math.floor(Math.random() * 0xffff_ffff));
    console.log(`# VertexIndexTail: seed ${seed} (replay with INDEX_TAIL_SEED=${seed})`);
    const prng = new Prng(seed);
    const start = Array.from({ length: INDEX_BUCKETS }, () => prng.int(3));
    const tail = new VertexIndexTail(start);
    const model = new ModelTail(start);
    // A few hot buckets grow past their first capacity and past BUCKET_ENTRIES_MAX; the rest are
    // spread thin. Hashes repeat, as a vertex delivered at two positions would.
    const hot = [0, 1, prng.int(INDEX_BUCKETS), INDEX_BUCKETS - 1];
    const pool: Uint8Array[] = [];
    let lastFinalized = 3;
    for (let step = 0; step < 1500; step++) {
      const roll = prng.int(100);
      if (roll < 70) {
        // Mostly the next sequence; sometimes a record finalized out of order, below the last.
        const sequence = prng.chance(0.1) ? lastFinalized - prng.int(4) : ++lastFinalized;
        const count = prng.between(1, prng.chance(0.1) ? 600 : 40);
        for (let index = 0; index < count; index++) {
          let hash: Uint8Array;
          if (pool.length > 0 && prng.chance(0.05)) hash = prng.pick(pool);
          else {
            hash = hashIn(prng.chance(0.5) ? prng.pick(hot) : prng.int(INDEX_BUCKETS), prng);
            if (pool.length < 5000) pool.push(hash);
          }
          assert.equal(tail.waits(hash, sequence), model.waits(hash, sequence));
          if (!model.waits(hash, sequence)) continue;
          tail.add(hash, sequence, index);
          model.slots.push({ hash: hash.slice(), sequence, index, key: hex(hash) });
        }
      } else if (roll < 95) {
        const all = prng.chance(0.02);
        const taken: Slot[] = [];
        tail.take(lastFinalized, all, (hashes, at, sequence, index) => {
          const hash = hashes.slice(at, at + 32);
          taken.push({ hash, sequence, index, key: hex(hash) });
        });
        assert.deepStrictEqual(
          byBucket(taken),
          byBucket(model.take(lastFinalized, all)),
          `take at step ${step}`,
        );
      } else {
        const sequence = lastFinalized - prng.int(5);
        tail.dropSequence(sequence);
        if (sequence > Math.min(...model.watermarks)) {
          model.slots = model.slots.filter((slot) => slot.sequence !== sequence);
        }
      }
      assert.equal(tail.size, model.slots.length, `size at step ${step}`);
      assert.deepStrictEqual(tail.watermarks, model.watermarks, `watermarks at step ${step}`);
      for (let probe = 0; probe < 8 && pool.length > 0; probe++) {
        const hash = prng.pick(pool);
        assert.deepStrictEqual(tail.find(hash), model.find(hash), `find at step ${step}`);
      }
    }
  });

  it('copies the hash it is given', () => {
    const tail = new VertexIndexTail(new Array(INDEX_BUCKETS).fill(0));
    const hash = new Uint8Array(32).fill(7);
    tail.add(hash, 1, 0);
    hash.fill(9);
    assert.equal(tail.find(hash), undefined);
    assert.deepStrictEqual(tail.find(new Uint8Array(32).fill(7)), { sequence: 1, index: 0 });
  });

  it('finds the first position of a hash, whatever order its positions were added in', () => {
    const tail = new VertexIndexTail(new Array(INDEX_BUCKETS).fill(0));
    const hash = new Uint8Array(32).fill(3);
    tail.add(hash, 5, 3);
    tail.add(hash, 4, 7);
    tail.add(hash, 5, 1);
    tail.add(hash, 4, 9);
    assert.deepStrictEqual(tail.find(hash), { sequence: 4, index: 7 });
  });

  it('refuses watermarks for another number of buckets', () => {
    assert.throws(() => new VertexIndexTail([0, 0]), ArgumentError);
  });
});

describe('widenWatermarks', () => {
  it("gives each of an earlier release's buckets to the buckets that extend its bits", () => {
    const stored = Array.from({ length: 64 }, (_, bucket) => 100 + bucket);
    const widened = widenWatermarks(stored);
    assert.ok(widened !== null);
    assert.equal(widened.length, INDEX_BUCKETS);
    const prng = new Prng(1);
    for (let i = 0; i < 2000; i++) {
      const hash = hashIn(prng.int(INDEX_BUCKETS), prng);
      assert.equal(widened[indexBucketOf(hash)], stored[hash[0]! >> 2], 'old bucket: the top six bits');
    }
    assert.deepStrictEqual(widenWatermarks([5]), new Array(INDEX_BUCKETS).fill(5));
    assert.deepStrictEqual(widenWatermarks(widened), widened);
  });

  it('refuses a count that is not a power of two, or more buckets than this release has', () => {
    assert.equal(widenWatermarks([1, 2, 3]), null);
    assert.equal(widenWatermarks(new Array(INDEX_BUCKETS * 2).fill(0)), null);
    assert.equal(widenWatermarks([]), null);
  });
});
