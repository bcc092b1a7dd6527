/**
 * The engine follows epochs (docs/reconfiguration.md): a request ordered like any vertex moves
 * every engine to the next validator set at the hand-over checkpoint, with replica ids
 * renumbered, a rotated key taking over from the old one, and a removed validator standing down,
 * while clients keep submitting. Engines here run the shipped shell over the in-memory network.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insecureSimulationScheme } from '../../src/crypto/index.ts';
import { BftEngine, createVertex, type ProposalResult } from '../../src/engine/index.ts';
import { MemoryStore } from '../../src/storage/index.ts';
import { decodeMessage } from '../../src/wire/index.ts';
import { testEngineReconfiguration, testKeyPair, testRequest } from '../support/reconfiguration.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, payload, recordFinalized } from './cluster.ts';

const FIGURES = { checkpointInterval: 4, watermarkWindow: 8, batchMaxVertices: 4 } as const;

const scheme = insecureSimulationScheme;

/** Five engines that read test requests; node-2 also holds its next key (generation 1) if asked. */
function reconfigurableCluster(rotatedKeyHeld = true): Cluster {
  return new Cluster({
    n: 5,
    scheme,
    config: FIGURES,
    dependencies: (i) => ({
      reconfiguration: testEngineReconfiguration(
        scheme,
        i === 2 && rotatedKeyHeld ? [testKeyPair(scheme, 'node-2', 1)] : [],
      ),
    }),
  });
}

async function settle(cluster: Cluster, done: () => boolean, limitMs = 30_000): Promise<void> {
  for (let elapsed = 0; elapsed < limitMs && !done(); elapsed += 50) await cluster.advance(50);
  assert.ok(done(), 'the cluster did not get there in time');
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

test('removing the leader and rotating a key under load: one order, every vertex final once', async () => {
  const cluster = reconfigurableCluster();
  const orders = cluster.engines.map(recordFinalized);
  const started: { node: string; epoch: number; member: boolean; validators: readonly string[] }[] = [];
  for (const engine of cluster.engines)
    engine.on('epoch-started', (event) => started.push({ node: engine.config.nodeId, ...event }));
  const banned: string[] = [];
  for (const engine of cluster.engines) engine.on('banned', ({ nodeId }) => banned.push(nodeId));
  await cluster.start();
  try {
    const results = new Map<string, Promise<ProposalResult>>();
    const proposeAt = (engine: BftEngine, label: string, i: number): void => {
      const vertex = createVertex(payload(label, i), { validThrough: TEST_VALID_THROUGH });
      results.set(hex(vertex.hash), engine.propose(vertex));
    };
    for (let i = 0; i < 40; i++) proposeAt(cluster.engines[i % 5]!, 'before', i);
    await Promise.all(results.values());
    // node-0 (the leader) leaves; node-2 moves to its generation-1 key. Load continues meanwhile
    // at the validators that stay.
    const request = testRequest(0, ['node-1', 'node-2#1', 'node-3', 'node-4']);
    results.set(hex(request.hash), cluster.engines[3]!.propose(request));
    for (let i = 0; i < 80; i++) proposeAt(cluster.engines[1 + (i % 4)]!, 'during', i);
    await settle(cluster, () => cluster.engines.every((engine) => engine.status().epoch === 1));
    for (let i = 0; i < 40; i++) proposeAt(cluster.engines[1 + (i % 4)]!, 'after', i);
    let settled = false;
    const all = Promise.all(results.values()).finally(() => {
      settled = true;
    });
    await settle(cluster, () => settled);
    const placed = await all;

    // Everyone is in epoch 1; node-0 says it left, the others are its four validators.
    const [left, ...members] = cluster.engines;
    assert.equal(left!.status().member, false);
    for (const engine of members) {
      const status = engine.status();
      assert.equal(status.member, true);
      assert.deepEqual(status.validators, ['node-1', 'node-2', 'node-3', 'node-4']);
      assert.equal(status.leader, 'node-1');
    }
    assert.deepEqual(started.map((event) => [event.node, event.epoch, event.member]).sort(), [
      ['node-0', 1, false],
      ['node-1', 1, true],
      ['node-2', 1, true],
      ['node-3', 1, true],
      ['node-4', 1, true],
    ]);
    // One order: every member finalized every vertex once, at the same place.
    await settle(cluster, () => members.every((_, i) => orders[i + 1]!.length === results.size));
    const order = orders[1]!;
    assert.equal(new Set(order).size, order.length, 'no vertex twice');
    assert.deepEqual(new Set(order), new Set(results.keys()));
    for (const other of orders.slice(2)) assert.deepEqual(other, order);
    assert.deepEqual(orders[0], order.slice(0, orders[0]!.length), "node-0's order is a prefix");
    const positions = new Set(placed.map((result) => `${result.sequence}/${result.position}`));
    assert.equal(positions.size, placed.length);
    // Nobody was blamed: node-2's new signatures verify under the key epoch 1 lists for it.
    assert.deepEqual(banned, []);
    await assert.rejects(
      left!.propose(createVertex(payload('late', 0), { validThrough: TEST_VALID_THROUGH })),
      { code: 'stopped' },
    );
  } finally {
    await cluster.stop();
  }
});

test('an engine restarted after the switch resumes in the new epoch with its keys', async () => {
  const cluster = reconfigurableCluster();
  await cluster.start();
  try {
    const request = testRequest(0, ['node-1', 'node-2#1', 'node-3', 'node-4']);
    const final = cluster.engines[1]!.propose(request);
    await settle(cluster, () => cluster.engines.every((engine) => engine.status().epoch === 1));
    await final;
    // node-2 restarts from its store: it must vote in epoch 1, with its rotated key.
    const store = cluster.stores[2]!;
    await cluster.engines[2]!.stop({ drainTimeoutMs: 0 });
    const restarted = cluster.createEngine(2, store, {
      reconfiguration: testEngineReconfiguration(scheme, [testKeyPair(scheme, 'node-2', 1)]),
    });
    cluster.engines[2] = restarted;
    const banned: string[] = [];
    for (const engine of cluster.engines) engine.on('banned', ({ nodeId }) => banned.push(nodeId));
    await restarted.start();
    assert.equal(restarted.status().epoch, 1);
    assert.deepEqual(restarted.status().validators, ['node-1', 'node-2', 'node-3', 'node-4']);
    const results: Promise<ProposalResult>[] = [];
    for (let i = 0; i < 30; i++) {
      const vertex = createVertex(payload('restarted', i), { validThrough: TEST_VALID_THROUGH });
      results.push(cluster.engines[1 + (i % 4)]!.propose(vertex));
    }
    let settled = false;
    const all = Promise.all(results).finally(() => {
      settled = true;
    });
    await settle(cluster, () => settled);
    await all;
    assert.ok(restarted.status().sequence >= cluster.engines[1]!.status().sequence - 8);
    // Its votes verify under the rotated key epoch 1 lists for it (the old one would get it banned).
    assert.deepEqual(banned, []);
  } finally {
    await cluster.stop();
  }
});

test('an engine without its rotated key halts at the switch; the others go on without it', async () => {
  const cluster = reconfigurableCluster(false);
  const errors: Error[] = [];
  cluster.engines[2]!.on('error', (error) => errors.push(error));
  await cluster.start();
  try {
    const final = cluster.engines[1]!.propose(testRequest(0, ['node-1', 'node-2#1', 'node-3', 'node-4']));
    await settle(cluster, () => errors.length > 0);
    assert.equal(errors[0]!.name, 'EpochKeyError');
    assert.equal(cluster.engines[2]!.status().state, 'halted');
    await final;
    const results: Promise<ProposalResult>[] = [];
    for (let i = 0; i < 20; i++) {
      const vertex = createVertex(payload('without-2', i), { validThrough: TEST_VALID_THROUGH });
      results.push(cluster.engines[[1, 3, 4][i % 3]!]!.propose(vertex));
    }
    let settled = false;
    const all = Promise.all(results).finally(() => {
      settled = true;
    });
    await settle(cluster, () => settled);
    await all;
    for (const i of [1, 3, 4]) assert.equal(cluster.engines[i]!.status().epoch, 1);
  } finally {
    await cluster.stop();
  }
});

test('a node added under load fetches the history as a learner, then votes with its key', async () => {
  const cluster = reconfigurableCluster();
  const orders = cluster.engines.map(recordFinalized);
  const banned: string[] = [];
  for (const engine of cluster.engines) engine.on('banned', ({ nodeId }) => banned.push(nodeId));
  await cluster.start();
  const results = new Map<string, Promise<ProposalResult>>();
  const proposeAt = (engine: BftEngine, label: string, i: number): void => {
    const vertex = createVertex(payload(label, i), { validThrough: TEST_VALID_THROUGH });
    results.set(hex(vertex.hash), engine.propose(vertex));
  };
  // node-5 is a new machine: it starts with the cluster file (epoch 0 of five) and the request
  // that adds it, before that request is even ordered.
  const add = testRequest(0, ['node-0', 'node-1', 'node-2', 'node-3', 'node-4', 'node-5']);
  const joiner = new BftEngine(
    { nodeId: 'node-5', validators: cluster.ids, clusterId: 'engine-test', batchMaxDelayMs: 0, ...FIGURES },
    testKeyPair(scheme, 'node-5'),
    {
      transport: cluster.network.endpoint('node-5'),
      store: new MemoryStore(),
      scheme,
      clock: cluster.clock,
      reconfiguration: { ...testEngineReconfiguration(scheme), joining: { epoch: 1, opening: add.payload } },
    },
  );
  for (const [i, id] of cluster.ids.entries()) joiner.registerNodePublicKey(id, cluster.keys[i]!.publicKey);
  const joinerOrder = recordFinalized(joiner);
  const joinerEpochs: { epoch: number; member: boolean; learning: boolean }[] = [];
  joiner.on('epoch-started', ({ epoch, member, learning }) => joinerEpochs.push({ epoch, member, learning }));
  await joiner.start();
  try {
    assert.equal(joiner.status().learning, true);
    await assert.rejects(
      joiner.propose(createVertex(payload('too-early', 0), { validThrough: TEST_VALID_THROUGH })),
      { code: 'stopped' },
    );
    for (let i = 0; i < 60; i++) proposeAt(cluster.engines[i % 5]!, 'before', i);
    results.set(hex(add.hash), cluster.engines[2]!.propose(add));
    for (let i = 0; i < 60; i++) proposeAt(cluster.engines[i % 5]!, 'during', i);
    await settle(cluster, () => joiner.status().member);
    assert.deepEqual(joinerEpochs, [{ epoch: 1, member: true, learning: false }]);
    for (let i = 0; i < 60; i++) proposeAt(i % 6 === 5 ? joiner : cluster.engines[i % 6]!, 'after', i);
    let settled = false;
    const all = Promise.all(results.values()).finally(() => {
      settled = true;
    });
    await settle(cluster, () => settled);
    await all;
    await settle(cluster, () => joinerOrder.length === results.size);
    // One order, which the joiner holds whole: what came before it joined, and since.
    const order = orders[0]!;
    assert.equal(new Set(order).size, order.length, 'no vertex twice');
    for (const other of [...orders.slice(1), joinerOrder]) assert.deepEqual(other, order);
    assert.equal(joiner.status().epoch, 1);
    assert.deepEqual(joiner.status().validators, [
      'node-0',
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
    ]);
    // Its votes verify under the key epoch 1 lists for it: nobody was blamed.
    assert.deepEqual(banned, []);
  } finally {
    await joiner.stop({ drainTimeoutMs: 0 });
    await cluster.stop();
  }
});

test('an acknowledged vertex whose holders all leave at one boundary is handed over and becomes final', async () => {
  // Six validators (f = 1: a vertex is acknowledged once one other holds it); node-4 and node-5
  // leave together, after node-4 accepted a vertex that only node-5 holds besides it.
  const cluster = new Cluster({
    n: 6,
    scheme,
    config: FIGURES,
    dependencies: () => ({ reconfiguration: testEngineReconfiguration(scheme) }),
  });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    // The leaving pair's REQUESTs reach no validator that stays (their hand-over, which names
    // no id of theirs, still does): a vertex node-4 accepts is held by the pair alone.
    const limits = cluster.engines[0]!.config.limits;
    const leaving = new Set(['node-4', 'node-5']);
    cluster.network.setFilter((from, to, frame) => {
      if (!leaving.has(from) || leaving.has(to)) return true;
      const decoded = decodeMessage(frame, limits);
      return !(decoded.ok && decoded.message.kind === 'request' && decoded.message.replica >= 4);
    });
    const vertex = createVertex(payload('held-by-leavers', 0), { validThrough: TEST_VALID_THROUGH });
    let accepted: Awaited<ReturnType<BftEngine['accept']>> | null = null;
    void cluster.engines[4]!.accept(vertex).then((result) => {
      accepted = result;
    });
    await settle(cluster, () => accepted !== null);
    // node-4 acknowledged it (node-5 holds a copy); as it leaves it tells its caller to look
    // for the vertex at the validators that stay.
    const told = assert.rejects(accepted!.final, { code: 'stopped' });
    const stayers = ['node-0', 'node-1', 'node-2', 'node-3'];
    void cluster.engines[1]!.propose(testRequest(0, stayers));
    await settle(cluster, () => cluster.engines.every((engine) => engine.status().epoch === 1));
    assert.equal(cluster.engines[4]!.status().member, false);
    await told;
    const key = hex(vertex.hash);
    await settle(cluster, () => orders.slice(0, 4).every((order) => order.includes(key)));
    for (const order of orders.slice(0, 4)) assert.equal(order.filter((each) => each === key).length, 1);
  } finally {
    cluster.network.setFilter(null);
    await cluster.stop();
  }
});
