import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import { DeliveredSet } from '../../src/protocol/delivered-set.ts';
import { Prng } from '../../src/sim/prng.ts';

/** A vertex key as `vertexKey` makes one: the lower-case hex of a SHA-256 hash. */
function keyOf(i: number): string {
  return createHash('sha256').update(`vertex ${i}`).digest('hex');
}

/** The hashes the set records, of these keys. */
function hashesOf(keys: readonly string[]): Uint8Array[] {
  return keys.map((key) => Uint8Array.from(Buffer.from(key, 'hex')));
}

/**
 * The set's contract in its plainest form (a Map from key to its latest sequence, and the keys
 * of each sequence): what the compact set must answer alike.
 */
class ModelSet {
  readonly #sequenceOf = new Map<string, number>();
  readonly #bySequence: { sequence: number; keys: readonly string[] }[] = [];
  readonly horizon: number;
  constructor(horizon: number) {
    this.horizon = horizon;
  }

  get size(): number {
    return this.#sequenceOf.size;
  }

  sequenceOf(key: string): number | undefined {
    return this.#sequenceOf.get(key);
  }

  record(sequence: number, keys: readonly string[]): void {
    for (const key of keys) this.#sequenceOf.set(key, sequence);
    this.#bySequence.push({ sequence, keys });
    while (this.#bySequence.length > 0 && this.#bySequence[0]!.sequence <= sequence - this.horizon) {
      const oldest = this.#bySequence.shift()!;
      for (const key of oldest.keys)
        if (this.#sequenceOf.get(key) === oldest.sequence) this.#sequenceOf.delete(key);
    }
  }
}

/** Multipliers of the index: random (as replicas use), and zero (every key in one probe run). */
const layouts: readonly { readonly name: string; readonly multipliers?: Int32Array }[] = [
  { name: 'random multipliers' },
  { name: 'every key colliding', multipliers: new Int32Array(2) },
];

describe('DeliveredSet', () => {
  for (const layout of layouts) {
    it(`agrees with a plain map over random histories (${layout.name})`, () => {
      const seed = Number(process.env.DELIVERED_SET_SEED ?? Math.floor(Math.random() * 0xffff_ffff));
      console.log(`# DeliveredSet (${layout.name}): seed ${seed} (replay with DELIVERED_SET_SEED=${seed})`);
      const prng = new Prng(seed);
      const collide = layout.multipliers !== undefined;
      const pool = Array.from({ length: collide ? 600 : 6000 }, (_, i) => keyOf(i));
      for (let history = 0; history < 4; history++) {
        const horizon = 1 + prng.int(collide ? 12 : 40);
        const set = new DeliveredSet(horizon, layout.multipliers);
        const model = new ModelSet(horizon);
        let sequence = 0;
        for (let step = 0; step < (collide ? 150 : 400); step++) {
          sequence += 1 + (prng.chance(0.1) ? prng.int(horizon + 2) : 0);
          // Bursts grow the ring past its first capacity and quiet spells shrink it again.
          const burst = !collide && prng.chance(0.05);
          const count = burst ? 1000 + prng.int(2000) : prng.int(prng.chance(0.5) ? 4 : 60);
          // Keys repeat across sequences, and now and then within one.
          const keys = Array.from({ length: count }, () => prng.pick(pool));
          set.record(sequence, hashesOf(keys));
          model.record(sequence, keys);
          assert.equal(set.size, model.size, `size after sequence ${sequence}`);
          const probes = prng.chance(0.2) ? pool : Array.from({ length: 50 }, () => prng.pick(pool));
          for (const key of probes) {
            assert.equal(set.sequenceOf(key), model.sequenceOf(key), `sequenceOf ${key} at ${sequence}`);
            assert.equal(set.has(key), model.sequenceOf(key) !== undefined);
          }
        }
      }
    });
  }

  it('forgets a vertex once its sequence leaves the horizon, and only then', () => {
    const set = new DeliveredSet(3);
    const [a, b] = [keyOf(1), keyOf(2)];
    set.record(1, hashesOf([a]));
    set.record(2, hashesOf([b]));
    set.record(3, []);
    assert.equal(set.sequenceOf(a), 1);
    set.record(4, []);
    assert.equal(set.has(a), false, 'sequence 1 is out of the horizon of 4');
    assert.equal(set.sequenceOf(b), 2);
    // Delivered again (only a Byzantine history does this): the later sequence counts.
    set.record(5, hashesOf([b]));
    set.record(6, []);
    assert.equal(set.sequenceOf(b), 5, 'the expiry of sequence 2 does not forget the later delivery');
    assert.equal(set.size, 1);
  });

  it('answers no for anything that is not a vertex key, and refuses to record a hash of another size', () => {
    const set = new DeliveredSet(10);
    const key = keyOf(7);
    set.record(1, hashesOf([key]));
    assert.equal(set.has(key), true);
    for (const other of [
      key.toUpperCase(),
      key.slice(1),
      `${key}0`,
      `${key.slice(0, 63)}g`,
      '',
      'é'.repeat(64),
    ]) {
      assert.equal(set.has(other), false, other);
      assert.equal(set.sequenceOf(other), undefined, other);
    }
    const next = keyOf(8);
    const [nextHash, lastHash] = hashesOf([next, keyOf(9)]);
    assert.throws(() => set.record(2, [nextHash!, nextHash!.subarray(1), lastHash!]), ArgumentError);
    assert.equal(set.sequenceOf(next), 2, 'the hashes before the bad one are recorded');
    assert.equal(set.has(keyOf(9)), false);
    // The ring's accounting survived: sequence 2's recorded key leaves with it.
    for (let sequence = 3; sequence <= 12; sequence++) set.record(sequence, []);
    assert.equal(set.size, 0);
  });

  it('refuses multipliers of the wrong count', () => {
    assert.throws(() => new DeliveredSet(10, new Int32Array(8)), ArgumentError);
  });
});
