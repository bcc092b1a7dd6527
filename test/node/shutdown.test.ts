/**
 * Graceful shutdown of a node process: on SIGTERM it refuses new work, finishes what it accepted,
 * makes every write durable, closes its store and exits 0, logging each step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNodeSettings } from '../../src/node/config.ts';
import { spawnCli } from '../cli/support.ts';
import { clusterDir, postJson } from './support.ts';

describe('a node process and SIGTERM', { timeout: 60_000 }, () => {
  it('finishes the vertices it accepted, closes its store and exits 0', async (t) => {
    const cluster = await clusterDir(t, 1);
    const settings = loadNodeSettings(cluster.configFiles[0]!);
    const node = spawnCli(['start', '--config', cluster.configFiles[0]!]);
    t.after(() => {
      if (node.child.exitCode === null) node.child.kill('SIGKILL');
    });
    await node.waitFor(/"event":"node-started"/, 'stderr');
    const url = `http://127.0.0.1:${settings.http.listen.port}`;
    const vertices = Array.from({ length: 200 }, (_, i) => ({
      payload: Buffer.from(`drain ${i}`).toString('base64'),
    }));
    const answer = await postJson(`${url}/v1/vertices`, { vertices });
    assert.equal(answer.status, 202);
    node.child.kill('SIGTERM');
    assert.equal(await node.exited, 0);
    const log = (await node.waitFor(/^\{.*"event":"node-stopped".*$/m, 'stderr'))[0];
    const stopped = JSON.parse(log) as { sequence: number };
    assert.ok(stopped.sequence >= 1);

    // Everything it accepted is final in the store it closed.
    const { LmdbStore } = await import('../../src/storage/lmdb.ts');
    const store = await LmdbStore.open({
      path: settings.dataDir,
      clusterId: settings.cluster.clusterId,
      replica: 0,
    });
    try {
      const { digestFromHex } = await import('../../src/client/api.ts');
      for (const hash of answer.body.hashes as string[])
        assert.ok(store.vertex(digestFromHex(hash)!) !== undefined, hash);
      assert.equal(store.verify().lastFinalized, stopped.sequence);
    } finally {
      await store.close();
    }
  });
});
