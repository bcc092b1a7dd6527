/**
 * An acknowledgment survives a crash: `accept()` resolves only once the store holds the vertex
 * durably, and an engine restarted on that store proposes it again, so that it becomes final,
 * once, although nobody but that replica ever had it. By default it also waits for f peers to
 * hold the vertex on their disks (HELD), so that losing the accepting node's disk loses nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/crypto/index.ts';
import type { ProposalRejectedError } from '../../src/engine/index.ts';
import { Cluster, payload, recordFinalized } from './cluster.ts';

test('accept() resolves only once the vertex is durable, and a restarted engine proposes it again', async () => {
  // Acknowledged on this replica's own write (acknowledgeCopies 0), which is what a crash tests.
  const cluster = new Cluster({ storeFlushLatencyMs: 5, config: { acknowledgeCopies: 0 } });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    // node-1 accepts the vertex, but nothing it sends arrives: it alone will ever hold it.
    cluster.network.setFilter((from) => from !== 'node-1');
    const backup = cluster.engines[1]!;
    const vertex = backup.createVertex(payload('durable', 0));
    const key = toHex(vertex.hash);
    let acknowledged = false;
    const accepted = backup.accept(vertex).then((result) => {
      acknowledged = true;
      return result;
    });
    // The store has not flushed yet: no acknowledgment, and nothing durable.
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(acknowledged, false, 'acknowledged before the store flushed');
    assert.equal(cluster.stores[1]!.image.accepted.has(key), false);
    await cluster.advance(10, 1);
    const { final } = await accepted;
    assert.equal(cluster.stores[1]!.image.accepted.has(key), true, 'durable when acknowledged');
    assert.equal(backup.holds(key), true);

    // The node goes down with it: its waiter is told, the vertex stays in its store.
    await backup.stop({ drainTimeoutMs: 0 });
    await assert.rejects(final, { code: 'stopped' });
    cluster.network.setFilter(null);
    const restarted = cluster.createEngine(1, cluster.stores[1]!);
    cluster.engines[1] = restarted;
    orders[1] = recordFinalized(restarted);
    await restarted.start();
    assert.equal(restarted.holds(key), true, 'held again after the restart');
    for (let elapsed = 0; elapsed < 5_000 && !orders.every((order) => order.includes(key)); elapsed += 10)
      await cluster.advance(10);
    for (const [i, order] of orders.entries())
      assert.equal(order.filter((hash) => hash === key).length, 1, `node-${i} finalized it once`);
    assert.equal(restarted.holds(key), false);
  } finally {
    await cluster.stop();
  }
});

test('by default accept() waits until a peer holds the vertex on its disk too', async () => {
  const cluster = new Cluster({ storeFlushLatencyMs: 5 });
  await cluster.start();
  try {
    // node-1 accepts the vertex, but nothing it sends arrives yet.
    cluster.network.setFilter((from) => from !== 'node-1');
    const backup = cluster.engines[1]!;
    const vertex = backup.createVertex(payload('held', 0));
    const key = toHex(vertex.hash);
    let acknowledged = false;
    const accepted = backup.accept(vertex).then((result) => {
      acknowledged = true;
      return result;
    });
    await cluster.advance(50, 5);
    assert.equal(cluster.stores[1]!.image.accepted.has(key), true, 'durable here');
    assert.equal(acknowledged, false, 'not acknowledged on its own disk alone');
    // The link heals: the primary holds it (and orders it), and says so.
    cluster.network.setFilter(null);
    for (let elapsed = 0; elapsed < 5_000 && !acknowledged; elapsed += 10) await cluster.advance(10);
    assert.equal(acknowledged, true);
    assert.equal(cluster.stores[0]!.image.accepted.has(key), true, 'the primary holds it on its disk');
    const { final } = await accepted;
    for (let elapsed = 0; elapsed < 5_000; elapsed += 10) {
      const settled = await Promise.race([final.then(() => true), Promise.resolve(false)]);
      if (settled) break;
      await cluster.advance(10);
    }
    assert.equal((await final).sequence >= 1, true);
  } finally {
    await cluster.stop();
  }
});

test('acceptMany() answers a list once each vertex is held durably or refused, and reports later give-ups', async () => {
  const cluster = new Cluster({
    storeFlushLatencyMs: 5,
    config: { acknowledgeCopies: 0, pendingProposalsMax: 3 },
  });
  await cluster.start();
  try {
    // node-1 holds what it accepts, but nothing it sends arrives: nothing becomes final.
    cluster.network.setFilter((from) => from !== 'node-1');
    const backup = cluster.engines[1]!;
    const fresh = [0, 1].map((i) => backup.createVertex(payload('many', i)));
    const oversized = backup.createVertex(new Uint8Array(backup.config.vertexPayloadBytesMax + 1));
    // The same vertex twice is one proposal; the fourth distinct one finds the engine full.
    const list = [fresh[0]!, oversized, fresh[1]!, fresh[0]!, backup.createVertex(payload('many', 2))];
    const extra = [3, 4].map((i) => backup.createVertex(payload('many', i)));
    const givenUp: string[] = [];
    let answered: (ProposalRejectedError | null)[] | null = null;
    const answer = backup
      .acceptMany([...list, ...extra], (vertex, error) => givenUp.push(`${toHex(vertex.hash)} ${error.code}`))
      .then((outcomes) => {
        answered = outcomes;
      });
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered, null, 'answered before the store flushed');
    await cluster.advance(10, 1);
    await answer;
    const codes = answered!.map((outcome) => (outcome === null ? null : outcome.code));
    assert.deepEqual(codes, [null, 'oversized', null, null, null, 'full', 'full']);
    // The vertices a full registry turns away share one refusal: an overloaded node does not
    // build an error a vertex.
    assert.equal(answered![5], answered![6]);
    assert.match(answered![5]!.message, /^3 proposals are pending/);
    for (const vertex of [fresh[0]!, fresh[1]!, list[4]!])
      assert.equal(cluster.stores[1]!.image.accepted.has(toHex(vertex.hash)), true, 'durable when answered');
    // Held, then given up on when the node stops: reported for each entry (the repeated one twice).
    await backup.stop({ drainTimeoutMs: 0 });
    assert.deepEqual(
      givenUp.sort(),
      [fresh[0]!, fresh[0]!, fresh[1]!, list[4]!].map((vertex) => `${toHex(vertex.hash)} stopped`).sort(),
    );
  } finally {
    await cluster.stop();
  }
});
