/**
 * Every program in examples/ runs as a user runs it (`node examples/<name>.ts`, a child process
 * with a deadline) and ends by itself with status 0, printing what it says it prints. The
 * README's engine example is examples/memory-cluster.ts, word for word but for the import.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { clusterDir, startNode } from '../node/support.ts';

const root = path.join(import.meta.dirname, '../..');

/** Runs `examples/<file>` with `args`; rejects if it has not ended within `timeoutMs`. */
function runExample(
  file: string,
  args: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'examples', file), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`examples/${file} did not end within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The fenced blocks of `language` in the README that follow the line holding `marker`. */
function readmeBlocksAfter(marker: string, count: number): string[] {
  const text = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  let at = text.indexOf(marker);
  assert.ok(at >= 0, `README: ${marker}`);
  const blocks: string[] = [];
  for (let i = 0; i < count; i++) {
    const open = text.indexOf('```', at);
    const bodyStart = text.indexOf('\n', open) + 1;
    const close = text.indexOf('\n```', bodyStart);
    blocks.push(text.slice(bodyStart, close + 1));
    at = close + 4;
  }
  return blocks;
}

/** Lines with every number replaced by '#': their shape. */
function shapes(text: string): string[] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => line.replace(/\d+/g, '#'));
}

/** The `node-i finalized ...` lines: every replica's order, which must all be the same. */
function replicaOrders(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => /^node-\d+ finalized /.test(line))
    .map((line) => line.replace(/^node-\d+ finalized /, ''));
}

describe('examples', { timeout: 120_000 }, () => {
  test('memory-cluster.ts: four engines in memory finalize five vertices, agree, and exit 0', async () => {
    const run = await runExample('memory-cluster.ts');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(
      lines.filter((line) => /^vertex \d is final at sequence \d+, position \d+$/.test(line)).length,
      5,
    );
    const orders = replicaOrders(run.stdout);
    assert.equal(orders.length, 4);
    assert.equal(new Set(orders).size, 1, `one order everywhere:\n${run.stdout}`);
    // The README shows the program and what it prints.
    const [code, output] = readmeBlocksAfter('as `examples/memory-cluster.ts` runs them', 2);
    const source = fs.readFileSync(path.join(root, 'examples/memory-cluster.ts'), 'utf8');
    assert.equal(code, source.replace("from '../src/index.ts'", "from 'cretoai-consensus'"));
    assert.deepEqual(shapes(run.stdout), shapes(output!));
  });

  test('tcp-lmdb-cluster.ts: four engines over TCP with LMDB stores agree, exit 0 and remove their directory', async () => {
    const run = await runExample('tcp-lmdb-cluster.ts');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const dir = /stores in (\S+)$/m.exec(run.stdout)?.[1];
    assert.ok(dir !== undefined, run.stdout);
    assert.equal(fs.existsSync(dir), false, 'the temporary directory is removed');
    assert.equal(
      run.stdout.match(/^the vertex proposed at node-\d is final at sequence \d+, position \d+$/gm)?.length,
      4,
    );
    const orders = replicaOrders(run.stdout);
    assert.equal(orders.length, 4);
    assert.equal(new Set(orders).size, 1, `one order everywhere:\n${run.stdout}`);
    assert.equal(orders[0]!.split(' ').length, 4);
  });

  test('client.ts: submits to a running cluster, follows the stream to its vertices, proves one, exits 0', async (t) => {
    const cluster = await clusterDir(t, 4);
    await Promise.all([0, 1, 2, 3].map((index) => startNode(t, cluster, index)));
    const run = await runExample('client.ts', [cluster.clusterFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.equal(run.stdout.match(/^submitted [0-9a-f]{16}, accepted by http:\/\/\S+$/gm)?.length, 5);
    assert.equal(run.stdout.match(/^[0-9a-f]{16} is final at sequence \d+, position \d+$/gm)?.length, 5);
    assert.match(
      run.stdout,
      /^[0-9a-f]{16}: the certificate from http:\/\/\S+ checks out \(sequence \d+\)$/m,
    );
    const usage = await runExample('client.ts');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^usage: node examples\/client\.ts <cluster\.json>/);
  });
});
