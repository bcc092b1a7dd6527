/**
 * A node does not serve from a damaged store (the operator's report: bytes flipped in
 * data.mdb, `verify-store` refused it, `start` served from it, since a restart reads only what
 * it needs: the state it restores and the latest 2,048 finalized batches). On a node process:
 * an old finalized record is damaged while the node is stopped; after `start` the background
 * scrub finds it, the node says so with the two ways back and exits with status 3; the next
 * start refuses the store at once; a lookup of a vertex of the damaged record fails safely (and
 * stops the node too); after a wipe the node starts again.
 *
 * The store lives on /dev/shm where there is one: the test needs more finalized sequences than
 * a restart reads, and synced commits on tmpfs make them quick.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { initCluster } from '../../src/cli/init.ts';
import type { StatusResponse } from '../../src/client/api.ts';
import { BftClient } from '../../src/client/client.ts';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import { keys } from '../../src/storage/record-codec.ts';
import { DAMAGE_MARKER_FILE } from '../../src/storage/scrub.ts';
import { runCli, spawnCli } from '../cli/support.ts';
import { call, editConfig } from './support.ts';

/** Finalized sequences a restart reads (the replica's dedup horizon, at least 2,048). */
const RESTART_READS = 2048;

describe('a damaged record in old history', { timeout: 180_000 }, () => {
  it('is found by the scrub after start: the node stops with the ways back, and the record is never served', async (t) => {
    const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const root = fs.mkdtempSync(path.join(base, 'cretoai-scrub-'));
    t.after(() => fs.rmSync(root, { recursive: true, force: true }));
    const cluster = await initCluster({
      dir: path.join(root, 'cluster'),
      nodes: 1,
      // One vertex per sequence: many sequences quickly.
      engine: { batchMaxVertices: 1, pipelineDepth: 4 },
      nodeConfig: () => ({ shutdownDrainMs: 0 }),
    });
    const configFile = cluster.configFiles[0]!;
    const settings = loadNodeSettings(configFile);
    const url = cluster.apiUrls[0]!;
    const client = BftClient.fromClusterFile(loadClusterFile(cluster.clusterFile));

    // History: the target vertex, then more sequences than a restart reads.
    let node = spawnCli(['start', '--config', configFile]);
    t.after(() => {
      if (node.child.exitCode === null) node.child.kill('SIGKILL');
    });
    await node.waitFor(/"event":"node-started"/, 'stderr');
    const { hash } = await client.submit({ payload: new TextEncoder().encode('the damaged one') });
    const { sequence } = await client.waitFinal(hash, { timeoutMs: 30_000 });
    // In rounds, each valid for a while from where the node stands (a vertex is valid for a
    // limited number of sequences past the one the client read).
    const target = sequence + RESTART_READS + 50;
    for (let round = 0; ; round++) {
      const status = (await call(`${url}/v1/status`)).body as StatusResponse;
      if (status.durableSequence >= target) break;
      const count = Math.min(500, target - status.durableSequence);
      const vertices = Array.from({ length: count }, (_, i) => ({
        payload: new TextEncoder().encode(`filler ${round}/${i}`),
        validThrough: status.sequence + 1000,
      }));
      await client.submitMany(vertices, url);
      const roundTarget = status.durableSequence + count;
      while (((await call(`${url}/v1/status`)).body as StatusResponse).durableSequence < roundTarget)
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    node.child.kill('SIGTERM');
    assert.equal(await node.exited, 0);

    // Flip bytes of its finalized record while the node is stopped.
    const db = open<Uint8Array, Uint8Array>({
      path: settings.dataDir,
      keyEncoding: 'binary',
      encoding: 'binary',
    });
    const value = Uint8Array.from(db.get(keys.finalized(sequence))!);
    for (let i = 60; i < 124 && i < value.length - 4; i++) value[i]! ^= 0xa5;
    await db.put(keys.finalized(sequence), value);
    await db.close();

    // Start: it opens (a restart does not read that far back), then the scrub finds it.
    node = spawnCli(['start', '--config', configFile]);
    await node.waitFor(/"event":"node-started"/, 'stderr');
    await node.waitFor(/"event":"store-damaged"/, 'stderr');
    assert.equal(await node.exited, 3);
    const said = (await node.waitFor(/cretoai-node: the store at .*/s, 'stderr'))[0];
    assert.match(said, new RegExp(`the finalized record at sequence ${sequence} fails its check`));
    assert.match(said, /cretoai-node wipe --config/);
    assert.match(said, /cretoai-node restore --config/);
    assert.ok(fs.existsSync(path.join(settings.dataDir, DAMAGE_MARKER_FILE)));

    // The next start refuses the store at once, with the same message.
    const again = await runCli(['start', '--config', configFile]);
    assert.equal(again.code, 3);
    assert.doesNotMatch(again.stderr, /node-started/);
    assert.match(again.stderr, new RegExp(`finalized record at sequence ${sequence} fails its check`));
    assert.match(again.stderr, /cretoai-node wipe --config/);

    // A lookup never serves the record either: without the marker and the scrub, the node
    // starts, and the lookup of the vertex fails (500) and stops the node.
    fs.rmSync(path.join(settings.dataDir, DAMAGE_MARKER_FILE));
    editConfig(cluster, 0, (config) => {
      config.scrub = { enabled: false };
    });
    node = spawnCli(['start', '--config', configFile]);
    await node.waitFor(/"event":"node-started"/, 'stderr');
    const lookup = await call(`${url}/v1/vertices/${hash}`);
    assert.equal(lookup.status, 500);
    assert.equal(lookup.body.error.code, 'internal');
    assert.doesNotMatch(lookup.text, /damaged one|batch/);
    assert.equal(await node.exited, 3);

    // The way back: wipe, and the node starts again.
    const wiped = await runCli(['wipe', '--config', configFile, '--yes', '--delete']);
    assert.equal(wiped.code, 0, wiped.stderr);
    node = spawnCli(['start', '--config', configFile]);
    await node.waitFor(/"event":"node-started"/, 'stderr');
    assert.equal(((await call(`${url}/v1/status`)).body as StatusResponse).durableSequence, 0);
    node.child.kill('SIGTERM');
    assert.equal(await node.exited, 0);
  });
});
