/**
 * `POST /v1/admin/backup` against hostile paths: each is refused with 400 and its own code,
 * never 500 and never a hang; a good path gets a backup that restores; one backup at a time; a
 * path check that does not answer in time gets 503 while the node keeps serving and still
 * stops. `cretoai-node backup` of a stopped node applies the same rules.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupNode } from '../../src/cli/admin.ts';
import { CliError } from '../../src/cli/errors.ts';
import { type ApiErrorCode, digestFromHex } from '../../src/client/api.ts';
import { BackupTargetError, type BackupTargetErrorCode } from '../../src/node/backup-target.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import {
  call,
  clusterDir,
  editConfig,
  postJson,
  readEvents,
  startNode,
  type TestNode,
  tempDir,
} from './support.ts';

const hooks = (cleanups: (() => Promise<void> | void)[]) => ({
  after: (fn: () => Promise<void> | void) => cleanups.push(fn),
});

function backup(url: string, body: unknown): ReturnType<typeof call> {
  return call(`${url}/v1/admin/backup`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

/** Submits `count` vertices and waits until they are final; returns their hashes. */
async function finalize(url: string, count: number): Promise<string[]> {
  const events = await readEvents(url);
  try {
    const vertices = Array.from({ length: count }, (_, i) => ({
      payload: Buffer.from(`backed up ${i} ${Math.random()}`).toString('base64'),
    }));
    const answer = await postJson(`${url}/v1/vertices`, { vertices });
    assert.equal(answer.status, 202);
    const hashes = answer.body.hashes as string[];
    await events.until((seen) => hashes.every((hash) => seen.some((event) => event.hash === hash)));
    return hashes;
  } finally {
    events.close();
  }
}

/** Around a data directory: a full directory, a file, links into the data directory and /proc. */
function surroundings(t: Parameters<typeof tempDir>[0], dataDir: string) {
  const root = fs.realpathSync(tempDir(t, 'cretoai-backup-route-'));
  fs.mkdirSync(path.join(root, 'full'));
  fs.writeFileSync(path.join(root, 'full', 'something'), 'x');
  fs.writeFileSync(path.join(root, 'file'), 'x');
  fs.symlinkSync(dataDir, path.join(root, 'link-to-data'));
  fs.symlinkSync('/proc/self', path.join(root, 'link-to-proc'));
  return root;
}

describe('POST /v1/admin/backup', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let node: TestNode;
  let root: string;
  let dataDir: string;
  before(async () => {
    const cluster = await clusterDir(hooks(cleanups), 1);
    node = await startNode(hooks(cleanups), cluster, 0);
    dataDir = node.node.settings.dataDir;
    root = surroundings(hooks(cleanups), dataDir);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('hostile paths get 400, each with its code and a message, and nothing is written', async () => {
    const cases: [string, unknown, ApiErrorCode][] = [
      ['not JSON', '{"out":', 'bad-request'],
      ['no out', {}, 'bad-request'],
      ['out not a string', { out: 7 }, 'bad-request'],
      ['a relative path', { out: 'backups/b1' }, 'backup-path-not-absolute'],
      ['under /proc', { out: '/proc/self/bk' }, 'backup-path-system'],
      ['under /sys', { out: '/sys/x' }, 'backup-path-system'],
      ['under /dev', { out: '/dev/x' }, 'backup-path-system'],
      ['through a link to /proc', { out: `${root}/link-to-proc/bk` }, 'backup-path-system'],
      ['inside the data directory', { out: `${dataDir}/bk` }, 'backup-path-in-data-dir'],
      [
        'inside it by ..',
        { out: `${root}/x/../../${path.relative(path.dirname(root), dataDir)}/bk` },
        'backup-path-in-data-dir',
      ],
      [
        'through a link into the data directory',
        { out: `${root}/link-to-data/bk` },
        'backup-path-in-data-dir',
      ],
      ['a directory that holds something', { out: `${root}/full` }, 'backup-path-not-empty'],
      ['a file', { out: `${root}/file` }, 'backup-path-not-directory'],
    ];
    const dataBefore = fs.readdirSync(dataDir).sort();
    const rootBefore = fs.readdirSync(root).sort();
    for (const [name, body, code] of cases) {
      const answer = await backup(node.url, body);
      assert.equal(answer.status, 400, `${name}: ${answer.text}`);
      assert.equal(answer.body.error.code, code, `${name}: ${answer.body.error.message}`);
      assert.ok(answer.body.error.message.length > 0, name);
    }
    assert.deepEqual(fs.readdirSync(dataDir).sort(), dataBefore);
    assert.deepEqual(fs.readdirSync(root).sort(), rootBefore);
    assert.equal(node.log.filter((line) => line.event === 'http-handler-failed').length, 0);
    assert.equal((await call(`${node.url}/healthz`)).status, 200);
  });

  it('a good path gets 200 and a backup that restores, with the vertices finalized before it', async (t) => {
    const hashes = await finalize(node.url, 20);
    const out = path.join(root, 'backups', 'first');
    const answer = await backup(node.url, { out });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.out, out);
    assert.ok(answer.body.lastFinalized >= 1);
    const clusterId = node.node.settings.cluster.clusterId;
    const replica = node.node.settings.replica;
    const restoredDir = path.join(tempDir(t), 'restored');
    const report = await LmdbStore.restoreBackup(out, restoredDir, { clusterId, replica });
    assert.equal(report.lastFinalized, answer.body.lastFinalized);
    assert.equal(report.dataSha256, answer.body.dataSha256);
    const restored = await LmdbStore.open({ path: restoredDir, clusterId, replica });
    try {
      for (const hash of hashes) assert.ok(restored.vertex(digestFromHex(hash)!) !== undefined, hash);
    } finally {
      await restored.close();
    }
    // The same directory again holds a backup now: refused.
    const again = await backup(node.url, { out });
    assert.equal(again.status, 400);
    assert.equal(again.body.error.code, 'backup-path-not-empty');
  });

  it('one backup at a time: a second one while the first runs gets 409', async () => {
    const answers = await Promise.all([
      backup(node.url, { out: path.join(root, 'concurrent', 'a') }),
      backup(node.url, { out: path.join(root, 'concurrent', 'b') }),
    ]);
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [200, 409], answers.map((answer) => answer.text).join(' '));
    const refused = answers.find((answer) => answer.status === 409)!;
    assert.equal(refused.body.error.code, 'backup-running');
    // And once it is done, the next one goes through.
    assert.equal((await backup(node.url, { out: path.join(root, 'concurrent', 'c') })).status, 200);
  });
});

describe('POST /v1/admin/backup when the path check does not answer in time', { timeout: 60_000 }, () => {
  it('answers 503 backup-timeout every time (a timed-out check frees its place), keeps serving, and still stops', async (t) => {
    const cluster = await clusterDir(t, 1);
    editConfig(cluster, 0, (config) => {
      // Far less than a child process takes to start: every check misses its deadline.
      config.http = { ...(config.http as object), backupCheckTimeoutMs: 1 };
    });
    const node = await startNode(t, cluster, 0);
    const root = fs.realpathSync(tempDir(t));
    for (let i = 0; i < 2; i++) {
      const answer = await backup(node.url, { out: path.join(root, `b${i}`) });
      assert.equal(answer.status, 503, answer.text);
      assert.equal(answer.body.error.code, 'backup-timeout');
      assert.match(answer.body.error.message, /no backup was taken/);
      assert.equal((await call(`${node.url}/healthz`)).status, 200);
    }
    assert.equal(fs.existsSync(path.join(root, 'b0', 'data.mdb')), false);
    await node.node.stop();
  });
});

describe('cretoai-node backup of a stopped node', { timeout: 60_000 }, () => {
  it('applies the same rules as the route, and writes a good backup', async (t) => {
    const cluster = await clusterDir(t, 1);
    const node = await startNode(t, cluster, 0);
    await finalize(node.url, 5);
    await node.node.stop();
    const settings = loadNodeSettings(cluster.configFiles[0]!);
    const root = surroundings(t, settings.dataDir);
    const cases: [string, string, BackupTargetErrorCode][] = [
      ['under /proc', '/proc/self/bk', 'system'],
      ['inside the data directory', path.join(settings.dataDir, 'bk'), 'inside-data-dir'],
      ['through a link into the data directory', path.join(root, 'link-to-data', 'bk'), 'inside-data-dir'],
      ['a directory that holds something', path.join(root, 'full'), 'not-empty'],
    ];
    for (const [name, out, code] of cases) {
      await assert.rejects(
        backupNode(settings, out),
        (error: unknown) => {
          assert.ok(error instanceof CliError, `${name}: ${String(error)}`);
          assert.ok(error.cause instanceof BackupTargetError, name);
          assert.equal(error.cause.code, code, name);
          return true;
        },
        name,
      );
    }
    const manifest = await backupNode(settings, path.join(root, 'good'));
    assert.equal(manifest.via, 'store');
    assert.ok(manifest.lastFinalized >= 1);
    assert.ok(fs.existsSync(path.join(root, 'good', 'data.mdb')));
  });
});
