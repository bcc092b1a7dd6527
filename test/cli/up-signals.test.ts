/**
 * `cretoai-node up` (what `npm start` runs) leaves nothing behind, however it is ended: SIGTERM
 * (what a process manager sends), SIGINT (Ctrl-C, which also stops a running load at once),
 * SIGHUP (the terminal closed), the npm process above it killed with SIGKILL (npm -> sh -> up,
 * where the shell survives), and `up` itself killed outright (its nodes see their standard
 * input close). Real processes throughout; every wait is for a line of output or a process's
 * end, bounded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parentOf } from '../../src/cli/parent-watch.ts';
import { LOCK_FILE } from '../../src/node/data-lock.ts';
import { alive, CLI, gone, spawnCli } from './support.ts';

/** The node pids and the data directory `up` printed. */
function started(stdout: string): { pids: number[]; dir: string } {
  const pids = [...stdout.matchAll(/ pid (\d+) /g)].map((match) => Number(match[1]));
  const dir = /data in (\S+)/.exec(stdout)?.[1];
  assert.ok(dir !== undefined, stdout);
  return { pids, dir };
}

describe('cretoai-node up and the ways it ends', { timeout: 180_000 }, () => {
  it('stops every node and removes its directory on SIGTERM', async () => {
    const up = spawnCli(['up', '--nodes', '4']);
    await up.waitFor(/serving; press Ctrl-C/);
    const { pids, dir } = started(up.stdout());
    assert.equal(pids.length, 4);
    assert.ok(pids.every(alive) && fs.existsSync(dir));
    up.child.kill('SIGTERM');
    assert.equal(await up.exited, 0);
    await gone(pids);
    assert.equal(fs.existsSync(dir), false, `${dir} is removed`);
  });

  it('stops a running load at once on SIGINT (Ctrl-C), then the nodes, and removes its directory', async () => {
    const up = spawnCli(['up', '--nodes', '1', '--load', '20', '--duration', '600']);
    await up.waitFor(/driving 20 vertices\/s for 600 s/);
    const { pids, dir } = started(up.stdout());
    const signalled = performance.now();
    up.child.kill('SIGINT');
    assert.equal(await up.exited, 0);
    // Far sooner than the 600 s the load had left (the node's graceful stop included).
    assert.ok(performance.now() - signalled < 20_000);
    assert.match(up.stdout(), /load stopped/);
    await gone(pids);
    assert.equal(fs.existsSync(dir), false);
  });

  it('stops on SIGHUP (the terminal closed)', async () => {
    const up = spawnCli(['up', '--nodes', '1']);
    await up.waitFor(/serving; press Ctrl-C/);
    const { pids, dir } = started(up.stdout());
    up.child.kill('SIGHUP');
    assert.equal(await up.exited, 0);
    await gone(pids);
    assert.equal(fs.existsSync(dir), false);
  });

  it('stops when npm above it is killed with SIGKILL, though the shell between them lives on', async () => {
    // npm -> sh -c "node main.ts up" -> up, as `npm start` runs it: the stand-in for npm is a
    // node process that starts the shell with npm's environment and is then killed.
    const npm = spawn(
      process.execPath,
      [
        '-e',
        `require('node:child_process').spawn('sh', ['-c', ${JSON.stringify(`"${process.execPath}" "${CLI}" up --nodes 2`)}], { stdio: 'inherit' }); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_lifecycle_event: 'start' } },
    );
    let stdout = '';
    const { promise: serving, resolve } = Promise.withResolvers<void>();
    const { promise: removed, resolve: onRemoved } = Promise.withResolvers<void>();
    npm.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/serving; press Ctrl-C/.test(stdout)) resolve();
      if (/stopped; removed/.test(stdout)) onRemoved();
    });
    npm.stderr.resume();
    await serving;
    const { pids, dir } = started(stdout);
    assert.equal(pids.length, 2);
    // The shell is npm's child and up's parent.
    const upPid = parentOf(pids[0]!)!;
    const shellPid = parentOf(upPid)!;
    assert.equal(parentOf(shellPid), npm.pid);
    npm.kill('SIGKILL');
    // up still writes to the pipe it inherited: it says it stopped and removed the directory.
    await removed;
    await gone([...pids, upPid]);
    assert.equal(fs.existsSync(dir), false);
    // The shell ends with up.
    await gone([shellPid]);
  });

  it('stops its nodes when it is killed outright (their standard input closes); the test removes what remains', async (t) => {
    const up = spawnCli(['up', '--nodes', '1']);
    await up.waitFor(/serving; press Ctrl-C/);
    const { pids, dir } = started(up.stdout());
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const pidFile = path.join(dir, 'data', 'node-0', LOCK_FILE);
    assert.ok(fs.existsSync(pidFile));
    up.child.kill('SIGKILL');
    await up.exited;
    await gone(pids);
    // The node stopped gracefully (its log went to up, which is gone): it released its data
    // directory, which a killed node leaves to the next start to clean up.
    assert.equal(fs.existsSync(pidFile), false);
  });
});
