/**
 * A node never runs on a store it cannot trust, nor on a data directory another node process
 * holds: it refuses to start, says why and how to recover, and leaves nothing half started.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { loadNodeSettings } from '../../src/node/config.ts';
import { DataDirInUseError } from '../../src/node/data-lock.ts';
import { Logger } from '../../src/node/log.ts';
import { CretoaiNode } from '../../src/node/node.ts';
import { StoreCorruptError } from '../../src/storage/errors.ts';
import { keys } from '../../src/storage/record-codec.ts';
import { clusterDir, startNode } from './support.ts';

const quiet = new Logger('test', 'error', { sink: () => undefined });

describe('a node and its data directory', { timeout: 60_000 }, () => {
  it('refuses a damaged store with a StoreCorruptError that names the ways back, and can start again once it is wiped', async (t) => {
    const cluster = await clusterDir(t, 1);
    const first = await startNode(t, cluster, 0);
    await first.node.stop();
    const settings = loadNodeSettings(cluster.configFiles[0]!);
    // Damage one record: its bytes no longer match its checksum.
    const db = open<Uint8Array, Uint8Array>({
      path: settings.dataDir,
      keyEncoding: 'binary',
      encoding: 'binary',
    });
    const value = new Uint8Array(db.get(keys.view())!);
    value[value.length - 1]! ^= 0xff;
    await db.put(keys.view(), value);
    await db.close();

    await assert.rejects(CretoaiNode.start(settings, { logger: quiet }), (error: unknown) => {
      assert.ok(error instanceof StoreCorruptError, String(error));
      assert.ok(['checksum', 'malformed'].includes(error.code), error.code);
      assert.match(error.message, /wipe the data directory/);
      assert.match(error.message, /restore/);
      return true;
    });
    // Nothing was left holding the directory or the ports: after a wipe it starts.
    const { wipeNode } = await import('../../src/cli/admin.ts');
    const movedTo = wipeNode(settings);
    assert.ok(movedTo !== null && path.basename(movedTo).startsWith('node-0.wiped-'));
    const again = await startNode(t, cluster, 0);
    assert.equal(again.node.engine.status().sequence, 0);
  });

  it('refuses a data directory that a running node holds', async (t) => {
    const cluster = await clusterDir(t, 1);
    await startNode(t, cluster, 0);
    await assert.rejects(
      CretoaiNode.start(loadNodeSettings(cluster.configFiles[0]!), { logger: quiet }),
      (error: unknown) => error instanceof DataDirInUseError && error.pid === process.pid,
    );
  });
});
