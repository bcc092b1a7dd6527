/**
 * `cretoai-node bench` on a fresh local cluster stops that cluster's nodes however it ends, here
 * killed outright in the middle of a run: its nodes see their standard input close. Real
 * processes; every wait is for a line of output or a process's end, bounded.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { LOCK_FILE } from '../../src/node/data-lock.ts';
import { alive, gone, spawnCli } from './support.ts';

describe('cretoai-node bench and its local cluster', { timeout: 120_000 }, () => {
  it('stops its nodes when it is killed outright mid-run; the test removes what remains', async (t) => {
    const bench = spawnCli(['bench', '--nodes', '1', '--rate', '50', '--duration', '60', '--warmup', '1']);
    t.after(() => bench.child.kill('SIGKILL'));
    const [, dir] = (await bench.waitFor(/bench: data in (\S+)/, 'stderr')) as RegExpMatchArray;
    t.after(() => fs.rmSync(dir!, { recursive: true, force: true }));
    // The load runs: the node serves.
    await bench.waitFor(/offered/, 'stderr');
    const lock = path.join(dir!, 'data', 'node-0', LOCK_FILE);
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    assert.ok(alive(pid), `node pid ${pid} from ${lock}`);
    bench.child.kill('SIGKILL');
    await bench.exited;
    await gone([pid]);
    // It stopped gracefully: it released its data directory, which a killed node leaves behind.
    assert.equal(fs.existsSync(lock), false);
  });
});
