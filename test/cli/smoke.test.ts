/**
 * The commands an operator runs, end to end on loopback, each a separate process: `init`, `up`
 * (four node processes), `submit --wait`, `status`, `verify-evidence`, a `backup` of a running
 * node, a graceful stop, `verify-store`, `wipe` and `restore` into a fresh directory (the
 * restored node serves the same finalized history), and `start` refusing a damaged store with
 * the commands that recover it. Each command's `--json` prints JSON alone on stdout.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { loadNodeSettings } from '../../src/node/config.ts';
import { keys } from '../../src/storage/record-codec.ts';
import { call, tempDir } from '../node/support.ts';
import { runCli, spawnCli } from './support.ts';

describe('cretoai-node on loopback', { timeout: 120_000 }, () => {
  it('init, up, submit --wait, status, backup, stop, verify-store, wipe, restore, and a damaged store refused', async (t) => {
    const dir = path.join(tempDir(t), 'cluster');
    const clusterFile = path.join(dir, 'cluster.json');
    const config = (i: number) => path.join(dir, `node-${i}.json`);

    const init = await runCli(['init', '--nodes', '4', '--dir', dir]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /created a cluster of 4 nodes/);

    const up = spawnCli(['up', '--dir', dir]);
    t.after(() => {
      if (up.child.exitCode === null) up.child.kill('SIGKILL');
    });
    await up.waitFor(/serving; press Ctrl-C to stop/);
    const urls = [...up.stdout().matchAll(/^ {2}node-\d {2}(http:\/\/\S+)/gm)].map((match) => match[1]!);
    assert.equal(urls.length, 4, up.stdout());

    const submit = await runCli([
      'submit',
      '--cluster',
      clusterFile,
      '--data',
      'hello from the CLI',
      '--wait',
    ]);
    assert.equal(submit.code, 0, submit.stderr);
    const [hash, finalLine] = submit.stdout.trim().split('\n');
    assert.match(hash!, /^[0-9a-f]{64}$/);
    const place = finalLine!.match(
      /^final at sequence (\d+), index (\d+), view \d+: the commit certificate from (\S+) checks out/,
    );
    assert.ok(place !== null, submit.stdout);

    const submitJson = await runCli([
      'submit',
      '--cluster',
      clusterFile,
      '--data',
      'as JSON',
      '--wait',
      '--json',
    ]);
    assert.equal(submitJson.code, 0, submitJson.stderr);
    const submitted = JSON.parse(submitJson.stdout);
    assert.match(submitted.hash, /^[0-9a-f]{64}$/);
    assert.equal(submitted.final.proof, 'certificate');
    assert.ok(Number.isSafeInteger(submitted.final.sequence) && submitted.acceptedBy.length === 1);

    const bench = await runCli([
      'bench',
      '--cluster',
      clusterFile,
      '--duration',
      '2',
      '--warmup',
      '1',
      '--rate',
      '100',
      '--json',
    ]);
    assert.equal(bench.code, 0, bench.stderr);
    const [report] = JSON.parse(bench.stdout);
    assert.equal(report.rate, 100);
    assert.ok(report.finalizedPerSecond > 0, bench.stdout);

    const statusJson = await runCli(['status', '--cluster', clusterFile, '--json']);
    assert.equal(statusJson.code, 0, statusJson.stderr);
    assert.deepEqual(
      JSON.parse(statusJson.stdout).map((answer: { nodeId: string }) => answer.nodeId),
      ['node-0', 'node-1', 'node-2', 'node-3'],
    );

    const status = await runCli(['status', '--cluster', clusterFile]);
    assert.equal(status.code, 0, status.stderr);
    const rows = status.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 4);
    for (const row of rows) assert.match(row, /^node-\d\s+running\s+0\s+0\s+node-0\s+\d+\s+\d+\s+3\/3\s+/);

    const evidence = await runCli(['verify-evidence', '--cluster', clusterFile, '--url', urls[0]!]);
    assert.equal(evidence.code, 0, evidence.stderr);
    assert.match(evidence.stdout, /no evidence to check/);
    const evidenceJson = await runCli([
      'verify-evidence',
      '--cluster',
      clusterFile,
      '--url',
      urls[0]!,
      '--json',
    ]);
    assert.equal(evidenceJson.code, 0, evidenceJson.stderr);
    assert.deepEqual(JSON.parse(evidenceJson.stdout), { checked: 0, invalid: 0, items: [] });

    const backupDir = path.join(tempDir(t), 'backup-node-1');
    const backup = await runCli(['backup', '--config', config(1), '--out', backupDir]);
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /taken by the running node/);
    const backupJson = await runCli([
      'backup',
      '--config',
      config(2),
      '--out',
      path.join(tempDir(t), 'backup-node-2'),
      '--json',
    ]);
    assert.equal(backupJson.code, 0, backupJson.stderr);
    const manifest = JSON.parse(backupJson.stdout);
    assert.equal(manifest.via, 'node');
    assert.equal(manifest.replica, 2);
    assert.match(manifest.dataSha256, /^[0-9a-f]{64}$/);

    up.child.kill('SIGTERM');
    assert.equal(await up.exited, 0);
    assert.match(up.stdout(), /stopped; the cluster stays in /);

    const verified = await runCli(['verify-store', '--config', config(1)]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /the store checks out/);
    const verifiedJson = await runCli(['verify-store', '--config', config(1), '--json']);
    assert.equal(verifiedJson.code, 0, verifiedJson.stderr);
    assert.ok(JSON.parse(verifiedJson.stdout).lastFinalized >= Number(place[1]));

    // Restore node-1's backup into a fresh data directory: it serves the same history.
    const wipe = await runCli(['wipe', '--config', config(1), '--yes', '--json']);
    assert.equal(wipe.code, 0, wipe.stderr);
    assert.match(JSON.parse(wipe.stdout).movedTo, /\.wiped-/);
    const restore = await runCli(['restore', '--config', config(1), '--from', backupDir]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /every record checked/);
    // A second restore over it, as JSON: the restored store is moved aside first.
    const again = await runCli([
      'restore',
      '--config',
      config(1),
      '--from',
      backupDir,
      '--replace',
      '--json',
    ]);
    assert.equal(again.code, 0, again.stderr);
    const restored = JSON.parse(again.stdout);
    assert.match(restored.movedTo, /\.replaced-/);
    assert.ok(restored.records > 0);
    const node1 = spawnCli(['start', '--config', config(1)]);
    t.after(() => {
      if (node1.child.exitCode === null) node1.child.kill('SIGKILL');
    });
    const settings = loadNodeSettings(config(1));
    const url = `http://127.0.0.1:${settings.http.listen.port}`;
    await node1.waitFor(/"event":"node-started"/, 'stderr');
    const found = await call(`${url}/v1/vertices/${hash}`);
    assert.equal(found.body.status, 'final');
    assert.equal(found.body.sequence, Number(place[1]));
    assert.equal(found.body.index, Number(place[2]));
    node1.child.kill('SIGTERM');
    assert.equal(await node1.exited, 0);

    // A damaged store: start refuses, exit status 3, and says how to recover.
    const damaged = loadNodeSettings(config(2));
    const db = open<Uint8Array, Uint8Array>({
      path: damaged.dataDir,
      keyEncoding: 'binary',
      encoding: 'binary',
    });
    const value = new Uint8Array(db.get(keys.view())!);
    value[value.length - 1]! ^= 0xff;
    await db.put(keys.view(), value);
    await db.close();
    const refused = await runCli(['start', '--config', config(2)]);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /damaged/);
    assert.match(
      refused.stderr,
      new RegExp(`cretoai-node wipe --config ${config(2).replaceAll('.', '\\.')} --yes`),
    );
    assert.match(refused.stderr, /cretoai-node restore --config .* --from <backup dir> --replace/);
  });
});
