/**
 * The LMDB store's write path and lookups: group commit (many steps share one sync, a receipt
 * only once its write is synced), vertex lookup with position and commit certificate, and the
 * refusals of misuse.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/crypto/index.ts';
import type { DurableReceipt, DurableWrite } from '../../src/protocol/effects.ts';
import { ConfigError } from '../../src/protocol/errors.ts';
import { createVertex, DurableImage, hasValidHash, type Vertex } from '../../src/protocol/index.ts';
import { StoreClosedError, StoreInUseError } from '../../src/storage/errors.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { CLUSTER_ID, crashStep, tempDir, voteWrite } from './lmdb-fixtures.ts';

async function openStore(dir: string): Promise<LmdbStore> {
  return LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
}

test('group commit: concurrent applies share syncs, and receipts come in order, each after its write', async (t) => {
  const store = await openStore(tempDir(t));
  try {
    const applies = 300;
    const order: number[] = [];
    const pending: Promise<DurableReceipt>[] = [];
    for (let sequence = 1; sequence <= applies; sequence++) {
      pending.push(
        store.apply(crashStep(sequence), sequence).then((receipt) => {
          // The write the receipt covers is committed (readable) when the receipt arrives.
          assert.ok(store.finalizedAt(sequence) !== undefined, `sequence ${sequence} durable at its receipt`);
          order.push(receipt.through);
          return receipt;
        }),
      );
    }
    const receipts = await Promise.all(pending);
    assert.deepStrictEqual(
      receipts.map((receipt) => receipt.through),
      Array.from({ length: applies }, (_, i) => i + 1),
    );
    assert.deepStrictEqual(
      order,
      Array.from({ length: applies }, (_, i) => i + 1),
      'receipts resolve in apply order',
    );
    assert.equal(store.stats.applied, applies);
    assert.equal(store.stats.writes, 2 * applies);
    assert.ok(store.stats.syncs < applies, `${store.stats.syncs} syncs for ${applies} applies`);
    t.diagnostic(`${applies} concurrent applies took ${store.stats.syncs} synced commits`);
  } finally {
    await store.close();
  }
});

test('group commit: writes that arrive while a sync is under way share the next sync', async (t) => {
  const store = await openStore(tempDir(t));
  try {
    const first = store.apply([voteWrite(1)], 1);
    // Let the first flush start (it runs on the next turn), then queue 50 more at once.
    await new Promise((resolve) => setImmediate(resolve));
    const rest = Array.from({ length: 50 }, (_, i) => store.apply([voteWrite(i + 2)], i + 2));
    await Promise.all([first, ...rest]);
    assert.equal(store.stats.syncs, 2);
    assert.equal(store.stats.applied, 51);
  } finally {
    await store.close();
  }
});

test('group commit: sequential applies each wait for their own sync', async (t) => {
  const store = await openStore(tempDir(t));
  try {
    for (let sequence = 1; sequence <= 20; sequence++) await store.apply([voteWrite(sequence)], sequence);
    assert.equal(store.stats.syncs, 20);
    // A step without writes still gets its receipt (nothing to sync).
    const receipt = await store.apply([], 20);
    assert.equal(receipt.through, 20);
    assert.equal(store.stats.syncs, 20);
  } finally {
    await store.close();
  }
});

test('vertex lookup: position, batch and commit certificate; gone once its batch is pruned', async (t) => {
  const dir = tempDir(t);
  let store = await openStore(dir);
  try {
    for (let sequence = 1; sequence <= 5; sequence++) await store.apply(crashStep(sequence), sequence);
    const [, finalizedWrite] = crashStep(3);
    assert.ok(finalizedWrite?.kind === 'finalized');
    const { record } = finalizedWrite;
    const vertex = record.batch[1]!;
    const check = (found: ReturnType<LmdbStore['vertex']>): void => {
      assert.deepStrictEqual(found, {
        vertex,
        sequence: 3,
        index: 1,
        view: record.view,
        batchDigest: record.digest,
        chainDigest: record.chainDigest,
        commits: record.commits,
      });
    };
    check(store.vertex(vertex.hash));
    await store.close();
    store = await openStore(dir);
    check(store.vertex(vertex.hash));
    await store.pruneFinalized(3);
    assert.equal(store.vertex(vertex.hash), undefined);
    assert.equal(store.finalizedAt(3), undefined);
    assert.ok(store.finalizedAt(4) !== undefined);
    assert.deepStrictEqual(store.verify(), {
      // Metadata, last finalized, 5 PRE-PREPAREs, 2 finalized records and their entries (the
      // close wrote every waiting one), and the index watermarks the prune's commit wrote.
      records: 1 + 1 + 5 + 2 + 2 * 2 + 1,
      finalized: 2,
      vertices: 4,
      lastFinalized: 5,
    });
  } finally {
    await store.close();
  }
});

test('vertex lookup: a vertex finalized twice is found at its first batch, then at the next once that is pruned', async (t) => {
  const store = await openStore(tempDir(t));
  try {
    const [, first] = crashStep(1);
    const [, second] = crashStep(2);
    assert.ok(first?.kind === 'finalized' && second?.kind === 'finalized');
    const shared = first.record.batch[0]!;
    const record2 = { ...second.record, batch: [second.record.batch[0]!, shared] };
    await store.apply([first], 1);
    await store.apply([{ kind: 'finalized', record: record2 }], 2);
    assert.deepStrictEqual([store.vertex(shared.hash)?.sequence, store.vertex(shared.hash)?.index], [1, 0]);
    await store.pruneFinalized(1);
    assert.deepStrictEqual([store.vertex(shared.hash)?.sequence, store.vertex(shared.hash)?.index], [2, 1]);
    store.verify();
  } finally {
    await store.close();
  }
});

test('misuse: a second open of one directory, writes after close, bad options', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await assert.rejects(openStore(dir), StoreInUseError);
  await store.close();
  await assert.rejects(store.apply([voteWrite(1)], 1), StoreClosedError);
  await assert.rejects(store.pruneFinalized(1), StoreClosedError);
  await assert.rejects(LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: -1 }), ConfigError);
  // Closed cleanly, the directory opens again.
  const again = await openStore(dir);
  await again.close();
});

test('close waits for queued writes to become durable', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  const pending = Array.from({ length: 20 }, (_, i) => store.apply(crashStep(i + 1), i + 1));
  await store.close();
  await Promise.all(pending);
  const reopened = await openStore(dir);
  try {
    assert.equal(reopened.lastFinalized, 20);
  } finally {
    await reopened.close();
  }
});

test('accepted client vertices are durable, come back with the snapshot, and leave with their list once all of it expired', async (t) => {
  const dir = tempDir(t);
  let store = await openStore(dir);
  const vertexOf = (text: string, validThrough: number, parents: Uint8Array[] = []): Vertex =>
    createVertex(new TextEncoder().encode(text), { parents, validThrough });
  const alone = vertexOf('valid through 5, alone', 5);
  const early = vertexOf('valid through 5, with a later one', 5);
  const late = vertexOf('valid through 90', 90, [early.hash]);
  const writes: DurableWrite[] = [
    { kind: 'accepted', vertices: [alone] },
    { kind: 'accepted', vertices: [early, late] },
  ];
  // The reference image keeps what the store keeps, write by write.
  const image = new DurableImage();
  const agrees = async (): Promise<void> => {
    const stored = (await store.load(0)).accepted.map((vertex) => toHex(vertex.hash));
    assert.deepStrictEqual(new Set(stored), new Set(image.accepted.keys()));
    assert.equal(stored.length, image.accepted.size, 'each vertex once');
  };
  try {
    await store.apply(writes, 1);
    for (const write of writes) image.apply(write);
    // Written and read again as they were, hashes included; every record checks out.
    const accepted = (await store.load(0)).accepted;
    assert.deepStrictEqual(
      accepted.map((vertex) => [toHex(vertex.hash), vertex.validThrough, vertex.parents.length]),
      [
        [toHex(alone.hash), 5, 0],
        [toHex(early.hash), 5, 0],
        [toHex(late.hash), 90, 1],
      ],
    );
    assert.ok(accepted.every((vertex) => hasValidHash(vertex)));
    assert.equal(store.verify().records, 2 + 2, 'the metadata, the index watermarks and one record per list');
    await agrees();
    await store.close();
    store = await openStore(dir);
    assert.equal((await store.load(0)).accepted.length, 3, 'durable across a reopen');
    // A checkpoint at 10 removes the lists whose every vertex was valid through 10 at most; the
    // early vertex stays with the late one (a restore drops it as expired).
    const truncate: DurableWrite = { kind: 'truncate', through: 10 };
    await store.apply([truncate], 2);
    image.apply(truncate);
    assert.deepStrictEqual(
      (await store.load(0)).accepted.map((vertex) => vertex.validThrough),
      [5, 90],
    );
    await agrees();
    const last: DurableWrite = { kind: 'truncate', through: 90 };
    await store.apply([last], 3);
    image.apply(last);
    assert.deepStrictEqual((await store.load(0)).accepted, []);
    await agrees();
    assert.equal(store.verify().records, 2);
  } finally {
    await store.close();
  }
});
