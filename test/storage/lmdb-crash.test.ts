/**
 * Crash safety: a writer killed with SIGKILL at a random moment loses no write whose receipt it
 * had, and leaves a consistent prefix of whole steps, with no damage. The store is reopened by
 * the next writer each time, so recovery is exercised repeatedly on one data directory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Prng } from '../../src/sim/prng.ts';
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { CLUSTER_ID, crashStep, tempDir } from './lmdb-fixtures.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lmdb-crash-child.ts');
const seed = Number(process.env.CRASH_SEED ?? 20260502);
const iterations = Number(process.env.CRASH_ITERATIONS ?? 6);

interface Run {
  /** The last finalized sequence the writer found at start. */
  readonly startedAt: number;
  /** Sequences whose receipts the writer reported. */
  readonly acknowledged: readonly number[];
  readonly signal: NodeJS.Signals | null;
}

/** Starts the writer, kills it `killAfterMs` after it reports ready, and collects its receipts. */
function runAndKill(dir: string, inFlight: number, killAfterMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(inFlight)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let startedAt = -1;
    const acknowledged: number[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [word, value] = line.split(' ');
        if (word === 'ready') {
          startedAt = Number(value);
          setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        } else if (word === 'ack') acknowledged.push(Number(value));
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL')
        reject(new Error(`the writer exited with ${code} before it was killed: ${stderr}`));
      else resolve({ startedAt, acknowledged, signal });
    });
  });
}

test(`SIGKILL at a random moment loses no acknowledged write and leaves a consistent prefix (seed ${seed})`, async (t) => {
  const prng = new Prng(seed);
  const dir = tempDir(t);
  let acknowledgedThrough = 0;
  for (let iteration = 1; iteration <= iterations; iteration++) {
    const inFlight = prng.pick([1, 4, 16, 64]);
    const killAfterMs = prng.between(5, 400);
    const run = await runAndKill(dir, inFlight, killAfterMs);
    // The writer started from everything acknowledged before.
    assert.ok(run.startedAt >= acknowledgedThrough, `iteration ${iteration}: started at ${run.startedAt}`);
    const maxAcknowledged = Math.max(acknowledgedThrough, ...run.acknowledged);

    const started = performance.now();
    const store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 0 });
    const openMs = performance.now() - started;
    try {
      const verifyStarted = performance.now();
      const report = store.verify();
      const verifyMs = performance.now() - verifyStarted;
      const last = store.lastFinalized;
      const context = `seed ${seed}, iteration ${iteration} (in flight ${inFlight}, killed after ${killAfterMs} ms)`;
      assert.ok(
        last >= maxAcknowledged,
        `${context}: store holds 1..${last}, ${maxAcknowledged} was acknowledged`,
      );
      // A prefix of whole steps: every step up to `last` with both its writes, and nothing after.
      const snapshot = await store.load(Number.POSITIVE_INFINITY);
      const through = Array.from({ length: last }, (_, i) => i + 1);
      assert.deepStrictEqual(
        snapshot.finalized.map((record) => record.sequence),
        through,
        context,
      );
      assert.deepStrictEqual(
        snapshot.prePrepares.map((record) => record.sequence),
        through,
        context,
      );
      for (const record of snapshot.finalized) {
        const [prePrepare, finalized] = crashStep(record.sequence, true);
        assert.deepStrictEqual(
          finalized,
          { kind: 'finalized', record },
          `${context}: sequence ${record.sequence}`,
        );
        assert.deepStrictEqual(snapshot.prePrepares[record.sequence - 1], prePrepare);
        // Every vertex is found, whether its index entry was written before the kill or waited
        // in the tail that the open rebuilt.
        record.batch.forEach((vertex, index) => {
          const found = store.vertex(vertex.hash);
          assert.ok(
            found !== undefined && found.sequence <= record.sequence,
            `${context}: vertex ${index} of sequence ${record.sequence} is found (at ${found?.sequence})`,
          );
        });
      }
      assert.equal(report.finalized, last);
      t.diagnostic(
        `${context}: ${run.acknowledged.length} receipts (through ${maxAcknowledged}), store holds 1..${last}, reopened in ${openMs.toFixed(1)} ms, full verify ${verifyMs.toFixed(1)} ms`,
      );
      acknowledgedThrough = last;
    } finally {
      await store.close();
    }
  }
});
