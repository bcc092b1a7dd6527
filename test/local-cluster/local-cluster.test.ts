/**
 * createLocalCluster: n engines wired over the in-memory network or TCP on loopback, with
 * in-memory or LMDB stores, agree on one order; stop() leaves nothing behind that it made; bad
 * options are refused before anything is opened.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { insecureSimulationScheme } from '../../src/crypto/index.ts';
import { ConfigError } from '../../src/engine/index.ts';
import { ArgumentError } from '../../src/errors.ts';
import { createLocalCluster, type LocalCluster } from '../../src/index.ts';

/** Proposes `count` vertices, each at the next engine in turn, and waits for all of them. */
async function proposeRoundRobin(cluster: LocalCluster, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const engine = cluster.engines[i % cluster.engines.length]!;
      return engine.propose(engine.createVertex(new TextEncoder().encode(`local ${i}`)));
    }),
  );
}

/** Each engine's first `count` finalized vertices, as `sequence.position:hash`, from its store on. */
async function orders(cluster: LocalCluster, count: number): Promise<string[][]> {
  return Promise.all(
    cluster.engines.map(async (engine) => {
      const order: string[] = [];
      for await (const final of engine.finalized({ from: 1 })) {
        order.push(`${final.sequence}.${final.position}:${Buffer.from(final.hash).toString('hex')}`);
        if (order.length === count) break;
      }
      return order;
    }),
  );
}

describe('createLocalCluster', { timeout: 60_000 }, () => {
  test('four engines in memory agree on one order', async () => {
    const cluster = await createLocalCluster({ scheme: insecureSimulationScheme });
    try {
      assert.deepEqual(cluster.ids, ['node-0', 'node-1', 'node-2', 'node-3']);
      assert.notEqual(cluster.network, null);
      assert.equal(cluster.dir, null);
      await proposeRoundRobin(cluster, 20);
      const [first, ...rest] = await orders(cluster, 20);
      assert.equal(new Set(first).size, 20);
      for (const order of rest) assert.deepEqual(order, first);
    } finally {
      await cluster.stop();
    }
  });

  test('four engines over TCP with LMDB stores agree on one order; stop() removes the temporary directory', async () => {
    const cluster = await createLocalCluster({ transport: 'tcp', store: 'lmdb' });
    const dir = cluster.dir!;
    try {
      assert.equal(cluster.network, null);
      assert.deepEqual([...cluster.addresses.keys()], cluster.ids);
      for (const address of cluster.addresses.values()) assert.match(address, /^127\.0\.0\.1:\d+$/);
      assert.ok(fs.existsSync(path.join(dir, 'node-3')));
      await proposeRoundRobin(cluster, 8);
      const [first, ...rest] = await orders(cluster, 8);
      for (const order of rest) assert.deepEqual(order, first);
    } finally {
      await cluster.stop();
    }
    assert.equal(fs.existsSync(dir), false);
    await cluster.stop(); // idempotent
  });

  test('a given directory is kept at stop()', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-local-test-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cluster = await createLocalCluster({
      nodes: 1,
      store: 'lmdb',
      dir,
      scheme: insecureSimulationScheme,
    });
    await proposeRoundRobin(cluster, 3);
    await cluster.stop();
    assert.ok(fs.existsSync(path.join(dir, 'node-0')));
  });

  test('start: false leaves the engines created, to be started by start()', async () => {
    const cluster = await createLocalCluster({ nodes: 1, start: false, scheme: insecureSimulationScheme });
    try {
      assert.equal(cluster.engine('node-0').status().state, 'created');
      await cluster.start();
      assert.equal(cluster.engine('node-0').status().state, 'running');
      assert.throws(() => cluster.engine('node-9'), ArgumentError);
    } finally {
      await cluster.stop();
    }
  });

  test('bad options are refused before anything is opened', async () => {
    for (const options of [{ nodes: 0 }, { nodes: 65 }, { nodes: 2.5 }]) {
      await assert.rejects(createLocalCluster(options), ArgumentError, JSON.stringify(options));
    }
    await assert.rejects(createLocalCluster({ transport: 'udp' as 'tcp' }), ArgumentError);
    await assert.rejects(createLocalCluster({ store: 'disk' as 'lmdb' }), ArgumentError);
    await assert.rejects(createLocalCluster({ config: { checkpointInterval: 0 } }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.field, 'checkpointInterval');
      return true;
    });
  });
});
