/**
 * The vertex index of store format 2: one entry per position of a vertex, keyed so that LMDB's
 * byte order is (hash, sequence, index) order. A lookup finds the first kept position (where the
 * vertex was delivered, or its next copy once that batch is pruned); finalizing and pruning only
 * add and remove a batch's own entries.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DurableWrite } from '../../src/protocol/effects.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import {
  decodeVertexIndexEntry,
  describeKey,
  KEY_PREFIX,
  keys,
  parseKey,
  RecordError,
  vertexIndexEntry,
  vertexKeyRange,
} from '../../src/storage/record-codec.ts';
import { CLUSTER_ID, crashStep, tempDir } from './lmdb-fixtures.ts';

type FinalizedWrite = Extract<DurableWrite, { readonly kind: 'finalized' }>;

function finalizedAt(sequence: number): FinalizedWrite {
  const write = crashStep(sequence)[1];
  assert.ok(write?.kind === 'finalized');
  return write;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

test('index keys sort by hash, then sequence, then index, and parse back', () => {
  const hash = new Uint8Array(32).fill(0xab);
  const positions = [
    [1, 0],
    [1, 1],
    [1, 256],
    [255, 0],
    [256, 0],
    [2 ** 32, 0],
    [Number.MAX_SAFE_INTEGER, 0xffff_ffff],
  ] as const;
  const built = positions.map(([sequence, index]) => keys.vertex(hash, sequence, index));
  assert.deepStrictEqual([...built].sort(compareBytes), built, 'byte order is position order');
  positions.forEach(([sequence, index], i) => {
    assert.deepStrictEqual(parseKey(built[i]!), { kind: 'vertex', hash, sequence, index });
  });
  assert.match(describeKey(built[2]!), /^vertex index entry for (ab){32} at index 256 of sequence 1$/);
  // A sequence no store writes (above 2^53 - 1) is not a key of this release.
  const beyond = keys.vertex(hash, 0, 0);
  beyond[1 + 32] = 0xff;
  assert.equal(parseKey(beyond), null);
});

test("a hash's range holds exactly its entries, also for hashes ending in 0xff bytes", () => {
  for (const hash of [
    new Uint8Array(32),
    new Uint8Array(32).fill(0x7f),
    Uint8Array.from({ length: 32 }, (_, i) => (i < 20 ? 0x12 : 0xff)),
    new Uint8Array(32).fill(0xff),
  ]) {
    const { start, end } = vertexKeyRange(hash);
    const inside = [keys.vertex(hash, 0, 0), keys.vertex(hash, Number.MAX_SAFE_INTEGER, 0xffff_ffff)];
    for (const key of inside) {
      assert.ok(compareBytes(start, key) <= 0 && compareBytes(key, end) < 0, describeKey(key));
    }
    const next = Uint8Array.from(hash);
    let at = 31;
    while (at >= 0 && next[at] === 0xff) next[at--] = 0;
    if (at >= 0) {
      next[at]! += 1;
      assert.ok(compareBytes(keys.vertex(next, 0, 0), end) >= 0, 'the next hash is outside');
    } else {
      assert.deepStrictEqual([...end], [KEY_PREFIX.vertex + 1], 'the last hash ends at the next prefix');
    }
  }
});

test('an index entry is a checksummed empty record: a flipped bit or a moved entry is refused', () => {
  const hash = new Uint8Array(32).fill(9);
  const { key, value } = vertexIndexEntry(hash, 7, 3);
  assert.deepStrictEqual(key, keys.vertex(hash, 7, 3));
  assert.deepStrictEqual(decodeVertexIndexEntry(key, value), { hash, sequence: 7, index: 3 });
  const flipped = Uint8Array.from(value);
  flipped[0]! ^= 0x01;
  assert.throws(
    () => decodeVertexIndexEntry(key, flipped),
    (e) => e instanceof RecordError,
  );
  assert.throws(
    () => decodeVertexIndexEntry(keys.vertex(hash, 7, 4), value),
    (e: unknown) => e instanceof RecordError && e.code === 'checksum',
  );
});

test('a vertex ordered again in a later batch is found where it was delivered, and nowhere once that record is pruned', async (t) => {
  const dir = tempDir(t);
  const options = { path: dir, clusterId: CLUSTER_ID, replica: 1 };
  let store = await LmdbStore.open(options);
  try {
    const first = finalizedAt(1);
    const second = finalizedAt(2);
    const third = finalizedAt(3);
    const shared = first.record.batch[1]!;
    // The copy sits at index 0 of sequence 2, not delivered there (it was at index 1 of
    // sequence 1): only delivered slots are indexed, so a vertex has one place in the order.
    await store.apply([first], 1);
    await store.apply(
      [
        {
          kind: 'finalized',
          record: { ...second.record, batch: [shared, ...second.record.batch], delivered: [1, 2] },
        },
      ],
      2,
    );
    await store.apply([third], 3);
    const at = (): [number, number] | undefined => {
      const found = store.vertex(shared.hash);
      return found === undefined ? undefined : [found.sequence, found.index];
    };
    assert.deepStrictEqual(at(), [1, 1]);
    assert.deepStrictEqual(store.vertex(shared.hash)?.commits, first.record.commits);
    // 2 + 2 + 2 delivered slots: 6 distinct vertices.
    assert.equal(store.verify().vertices, 6);
    await store.close();
    store = await LmdbStore.open(options);
    assert.deepStrictEqual(at(), [1, 1], 'the same after reopening');
    await store.pruneFinalized(1);
    assert.equal(at(), undefined, 'not found at the slot where it was not delivered');
    assert.equal(store.verify().vertices, 4);
    await store.pruneFinalized(2);
    assert.equal(at(), undefined);
    assert.equal(store.vertex(second.record.batch[0]!.hash), undefined);
    assert.deepStrictEqual(
      store.vertex(third.record.batch[0]!.hash)?.sequence,
      3,
      'a vertex of a kept batch is still found',
    );
    assert.deepStrictEqual(store.verify(), {
      // Metadata, last finalized, the record at 3, its 2 entries, the index watermarks.
      records: 1 + 1 + 1 + 2 + 1,
      finalized: 1,
      vertices: 2,
      lastFinalized: 3,
    });
  } finally {
    await store.close();
  }
});

test('a vertex twice in one batch is found at its first index; finalized and pruned in one group, nothing is left', async (t) => {
  const store = await LmdbStore.open({ path: tempDir(t), clusterId: CLUSTER_ID, replica: 1 });
  try {
    const { record } = finalizedAt(1);
    const [a, b] = record.batch;
    await store.apply([{ kind: 'finalized', record: { ...record, batch: [a!, b!, a!] } }], 1);
    assert.deepStrictEqual([store.vertex(a!.hash)?.sequence, store.vertex(a!.hash)?.index], [1, 0]);
    assert.deepStrictEqual(store.verify(), {
      // Metadata, last finalized, the record, the index watermarks: the 3 entries wait in the tail.
      records: 1 + 1 + 1 + 1,
      finalized: 1,
      vertices: 2,
      lastFinalized: 1,
    });
    // Finalized and pruned in the same flush: the entries are put, then removed, in that order.
    const pending = [store.apply([finalizedAt(2)], 2), store.pruneFinalized(2)];
    await Promise.all(pending);
    assert.equal(store.vertex(finalizedAt(2).record.batch[0]!.hash), undefined);
    assert.equal(store.vertex(a!.hash), undefined);
    assert.deepStrictEqual(store.verify(), { records: 3, finalized: 0, vertices: 0, lastFinalized: 2 });
  } finally {
    await store.close();
  }
});

test('a lookup while its batch is being committed answers not final, never "inconsistent"', async (t) => {
  const store = await LmdbStore.open({ path: tempDir(t), clusterId: CLUSTER_ID, replica: 2 });
  t.after(() => store.close());
  // Wide batches put positions in the index tail as they are staged, before the commit lands.
  for (let sequence = 1; sequence <= 40; sequence++) {
    const write = finalizedAt(sequence);
    const applied = store.apply([write], sequence);
    const hash = write.record.batch[0]!.hash;
    // Ask on every turn of the event loop until the commit is durable: not final, then final.
    let durable = false;
    void applied.then(() => {
      durable = true;
    });
    while (!durable) {
      const found = store.vertex(hash);
      if (found !== undefined) assert.equal(found.sequence, sequence);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(store.vertex(hash)?.sequence, sequence);
  }
});
