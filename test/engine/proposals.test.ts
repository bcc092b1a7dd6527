/**
 * The API around proposals and the finalized stream: typed rejections (stopped, full,
 * oversized, invalid), graceful stop that finalizes what it accepted, the lifecycle, and the
 * async iterator with its bounded buffer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createVertex,
  EngineStateError,
  type FinalizedVertex,
  PROPOSAL_WAITERS_MAX,
  SubscriberOverflowError,
} from '../../src/engine/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, finalizedEverywhere, payload, recordFinalized } from './cluster.ts';

test('propose rejects with a typed code when the vertex cannot be accepted', async () => {
  const cluster = new Cluster({
    config: { pendingProposalsMax: 3, batchMaxBytes: 4096, vertexPayloadBytesMax: 1024 },
  });
  const engine = cluster.engines[1]!;
  await assert.rejects(
    engine.propose(createVertex(payload('early', 0), { validThrough: TEST_VALID_THROUGH })),
    {
      name: 'ProposalRejectedError',
      code: 'stopped',
    },
  );
  await cluster.start();
  try {
    await assert.rejects(
      engine.propose(createVertex(new Uint8Array(1025), { validThrough: TEST_VALID_THROUGH })),
      { code: 'oversized' },
    );
    const tampered = {
      ...createVertex(payload('tampered', 0), { validThrough: TEST_VALID_THROUGH }),
      hash: new Uint8Array(32),
    };
    await assert.rejects(engine.propose(tampered), { code: 'invalid' });
    // Three pending proposals fill the engine; the fourth is refused until some are final.
    const accepted = [0, 1, 2].map((i) =>
      engine.propose(createVertex(payload('fill', i), { validThrough: TEST_VALID_THROUGH })),
    );
    await assert.rejects(
      engine.propose(createVertex(payload('fill', 3), { validThrough: TEST_VALID_THROUGH })),
      { code: 'full' },
    );
    // The same vertex again is not a new proposal: it waits with the first.
    const again = engine.propose(createVertex(payload('fill', 0), { validThrough: TEST_VALID_THROUGH }));
    assert.equal(engine.status().pendingProposals, 3);
    const results = await Promise.all([...accepted, again]);
    assert.deepEqual(results[3], results[0]);
    await engine.propose(createVertex(payload('fill', 3), { validThrough: TEST_VALID_THROUGH }));
  } finally {
    await cluster.stop();
  }
  await assert.rejects(
    engine.propose(createVertex(payload('late', 0), { validThrough: TEST_VALID_THROUGH })),
    { code: 'stopped' },
  );
});

test('a pending vertex keeps at most PROPOSAL_WAITERS_MAX callers: one more is refused as full', async () => {
  const cluster = new Cluster();
  await cluster.start();
  try {
    // node-1 takes the vertex, but nothing it sends arrives: it stays pending.
    cluster.network.setFilter((from) => from !== 'node-1');
    const engine = cluster.engines[1]!;
    const vertex = engine.createVertex(payload('retried', 0));
    const waiting = Array.from({ length: PROPOSAL_WAITERS_MAX }, () => engine.propose(vertex));
    await assert.rejects(engine.propose(vertex), { code: 'full' });
    const [refusal] = await engine.acceptMany([vertex]);
    assert.equal(refusal?.code, 'full');
    // Another vertex is still taken: the engine is not full, this vertex's callers are.
    const other = engine.propose(engine.createVertex(payload('retried', 1)));
    assert.equal(engine.status().pendingProposals, 2);
    cluster.network.setFilter(null);
    let settled = false;
    const all = Promise.all([...waiting, other]).finally(() => {
      settled = true;
    });
    for (let elapsed = 0; elapsed < 5_000 && !settled; elapsed += 10) await cluster.advance(10);
    const results = await all;
    for (const result of results.slice(0, PROPOSAL_WAITERS_MAX)) assert.deepEqual(result, results[0]);
    // Final now: a caller late for it learns its place instead of a refusal.
    assert.deepEqual(await engine.propose(vertex), results[0]);
  } finally {
    await cluster.stop();
  }
});

test('accept() of a pending vertex with PROPOSAL_WAITERS_MAX callers is refused as full', async () => {
  const cluster = new Cluster();
  await cluster.start();
  try {
    // node-1 takes the vertex, but nothing it sends arrives: it stays pending, unacknowledged.
    cluster.network.setFilter((from) => from !== 'node-1');
    const engine = cluster.engines[1]!;
    const vertex = engine.createVertex(payload('crowded', 0));
    const waiting = Array.from({ length: PROPOSAL_WAITERS_MAX }, () => engine.propose(vertex));
    for (const pending of waiting) pending.catch(() => {});
    let outcome = 'pending';
    engine.accept(vertex).then(
      () => {
        outcome = 'accepted';
      },
      (error: { code: string }) => {
        outcome = error.code;
      },
    );
    await cluster.advance(100, 10);
    assert.equal(outcome, 'full');
  } finally {
    await cluster.stop();
  }
});

test('stop is graceful: proposals accepted before it are finalized, not dropped', async () => {
  const cluster = new Cluster();
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const engine = cluster.engines[2]!;
    // Still in the batcher when stop() is called.
    const proposals = Array.from({ length: 50 }, (_, i) =>
      engine.propose(createVertex(payload('drain', i), { validThrough: TEST_VALID_THROUGH })),
    );
    const stopped = engine.stop();
    await assert.rejects(
      engine.propose(createVertex(payload('refused', 0), { validThrough: TEST_VALID_THROUGH })),
      { code: 'stopped' },
    );
    const results = await Promise.all(proposals);
    await stopped;
    assert.equal(results.length, 50);
    assert.equal(engine.status().state, 'stopped');
    assert.equal(orders[2]!.length, 50);
    await finalizedEverywhere(
      cluster.engines.filter((e) => e !== engine),
      [orders[0]!, orders[1]!, orders[3]!],
      50,
    );
    await assert.rejects(engine.start(), EngineStateError);
  } finally {
    await cluster.stop();
  }
});

test('the finalized stream: an async iterator in the total order, ending at stop; a slow subscriber overflows', async () => {
  const cluster = new Cluster();
  const engine = cluster.engines[0]!;
  const stream = engine.finalized();
  const slow = engine.finalized({ bufferMax: 5 });
  const events = recordFinalized(engine);
  await cluster.start();
  const streamed: FinalizedVertex[] = [];
  const consumed = (async () => {
    for await (const finalized of stream) streamed.push(finalized);
  })();
  try {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        cluster.engines[i % 4]!.propose(
          createVertex(payload('stream', i), { validThrough: TEST_VALID_THROUGH }),
        ),
      ),
    );
  } finally {
    await cluster.stop();
  }
  await consumed;
  assert.deepEqual(
    streamed.map((f) => Buffer.from(f.hash).toString('hex')),
    events,
  );
  assert.equal(streamed.length, 20);
  for (const [i, finalized] of streamed.entries()) {
    if (i > 0) {
      const previous = streamed[i - 1]!;
      assert.ok(
        finalized.sequence > previous.sequence ||
          (finalized.sequence === previous.sequence && finalized.position === previous.position + 1),
      );
    }
  }
  // The slow subscriber read nothing: it gets its five buffered vertices, then the overflow.
  const read: FinalizedVertex[] = [];
  await assert.rejects(
    (async () => {
      for await (const finalized of slow) read.push(finalized);
    })(),
    SubscriberOverflowError,
  );
  assert.equal(read.length, 5);
});

test('the lifecycle refuses misuse', async () => {
  const cluster = new Cluster();
  await cluster.start();
  try {
    await assert.rejects(cluster.engines[0]!.start(), { name: 'EngineStateError' });
  } finally {
    await cluster.stop();
  }
  const unstarted = new Cluster();
  await unstarted.engines[0]!.stop();
  assert.equal(unstarted.engines[0]!.status().state, 'stopped');
  await assert.rejects(unstarted.engines[0]!.start(), { name: 'EngineStateError' });
});
