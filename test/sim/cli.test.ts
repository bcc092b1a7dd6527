import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const cli = new URL('../../src/sim/cli.ts', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('npm run sim ends with the line "seeds: N, violations: V, stalled: S" and a speed line', () => {
  const result = run('--seeds', '4', '--from', '11', '--jobs', '2');
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.at(-1), 'seeds: 4, violations: 0, stalled: 0');
  assert.match(lines.at(-2)!, /^speed: [\d.]+ seeds\/s, \d+ finalized batches\/s/);
});

test('npm run sim -- --seed S replays one seed and describes its scenario', () => {
  const result = run('--seed', '5', '--replicas', '4');
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^seed 5: loss /m);
  assert.match(result.stdout, /seeds: 1, violations: 0, stalled: 0\n$/);
});

test('bad command-line input gets a clear error and a non-zero exit', () => {
  const badCount = run('--seeds', 'many');
  assert.equal(badCount.status, 2);
  assert.match(badCount.stderr, /--seeds must be a non-negative integer, got 'many'/);
  const badFault = run('--faults', 'meteor');
  assert.equal(badFault.status, 2);
  assert.match(badFault.stderr, /unknown fault 'meteor'/);
  const badProfile = run('--profile', 'endless');
  assert.equal(badProfile.status, 2);
  assert.match(badProfile.stderr, /unknown profile 'endless': use default or long/);
  const unknown = run('--frobnicate');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /frobnicate/);
});

test('a profile sets the load, and options override it: --profile long cut down to a short seed', () => {
  const result = run('--seed', '3', '--profile', 'long', '--vertices', '60', '--fault-seconds', '6');
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^seed 3: loss /m);
  assert.match(result.stdout, /^load: \d+ sequences per seed/m);
  assert.match(result.stdout, /seeds: 1, violations: 0, stalled: 0\n$/);
});
