/**
 * What `npm run bench:compare` prints: the figures of each system and scenario, the ratios of
 * cretoai to etcd, and the "what differs" text with the run's own facts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClosedLoopSummary } from '../../bench/closed-loop.ts';
import {
  formatComparison,
  formatRatio,
  ratiosOf,
  type ScenarioResult,
  whatDiffers,
  wrap,
} from '../../bench/compare-report.ts';

function summary(clients: number, opsPerSecond: number, p50Ms: number, p99Ms: number, maxMs: number) {
  const result: ClosedLoopSummary = {
    clients,
    measuredSeconds: 10,
    completed: opsPerSecond * 10,
    failed: 0,
    opsPerSecond,
    latency: { count: opsPerSecond * 10, p50Ms, p90Ms: p99Ms, p99Ms, p999Ms: maxMs, maxMs, meanMs: p50Ms },
  };
  return result;
}

const results: ScenarioResult[] = [
  { system: 'etcd', clients: 1, summary: summary(1, 400, 2.5, 5, 10) },
  { system: 'etcd', clients: 256, summary: summary(256, 20_000, 12, 40, 80) },
  { system: 'cretoai', clients: 1, summary: summary(1, 100, 10, 20, 0) },
  { system: 'cretoai', clients: 256, summary: summary(256, 5_000, 48, 100, 200) },
];

test('the ratios are cretoai over etcd, per scenario both ran', () => {
  assert.deepEqual(ratiosOf(results), [
    { clients: 1, opsPerSecond: 0.25, p50Ms: 4, p99Ms: 4, maxMs: 0 },
    { clients: 256, opsPerSecond: 0.25, p50Ms: 4, p99Ms: 2.5, maxMs: 2.5 },
  ]);
  assert.deepEqual(ratiosOf(results.filter((result) => result.system === 'etcd')), []);
});

test('a ratio over an etcd figure of 0 is none, not infinity', () => {
  const zero = results.map((result) =>
    result.system === 'etcd' && result.clients === 1
      ? { ...result, summary: summary(1, 0, 0, 0, 0) }
      : result,
  );
  const [first] = ratiosOf(zero);
  assert.deepEqual(first, { clients: 1, opsPerSecond: null, p50Ms: null, p99Ms: null, maxMs: null });
  assert.equal(formatRatio(null), '-');
});

test('ratios keep three significant figures at most', () => {
  assert.deepEqual([0.03846, 0.25, 1, 2.5, 17.63, 123.4].map(formatRatio), [
    '0.038x',
    '0.250x',
    '1.00x',
    '2.50x',
    '17.6x',
    '123x',
  ]);
});

test('the table has a row per system and scenario, then a row of ratios per scenario', () => {
  const lines = formatComparison(results);
  assert.match(lines[0]!, /^system +scenario +ops\/s +p50 ms +p99 ms +max ms +failed$/);
  assert.match(lines[1]!, /^etcd +1 client +400 +2\.50 +5\.00 +10\.00 +0$/);
  assert.match(lines[2]!, /^etcd +256 clients +20000 +12\.00 +40\.00 +80\.00 +0$/);
  assert.match(lines[4]!, /^cretoai +256 clients +5000 +48\.00 +100\.00 +200\.00 +0$/);
  assert.equal(lines[5], '');
  assert.match(lines[6]!, /^cretoai \/ etcd/);
  assert.match(lines[8]!, /^1 client +0\.250x +4\.00x +4\.00x +0\.000x$/);
  assert.match(lines[9]!, /^256 clients +0\.250x +4\.00x +2\.50x +2\.50x$/);
  // Columns line up: every row of a table is as wide as its header.
  assert.equal(new Set(lines.slice(0, 5).map((line) => line.length)).size, 1);
  assert.equal(new Set(lines.slice(7, 10).map((line) => line.length)).size, 1);
});

test('with one system only, the table has no ratios', () => {
  const lines = formatComparison(results.filter((result) => result.system === 'cretoai'));
  assert.equal(lines.length, 3);
});

test('what differs names the fault models, quorums, durability and the run facts', () => {
  const text = whatDiffers({
    etcdVersion: '3.4.23',
    etcdMembers: 3,
    cretoaiNodes: 4,
    valueBytes: 256,
    cpus: 2,
  }).join('\n');
  for (const claim of [
    'etcd 3.4.23 (Raft) tolerates crashes: 3 members survive 1 crashing',
    '4 nodes survive 1 that behaves arbitrarily or maliciously',
    'ML-DSA-87',
    'commit certificate',
    '2 of 3 members',
    '3 of 4 nodes',
    'Both sync to disk before answering',
    '--unsafe-no-fsync',
    '256-byte value',
    '2 CPUs',
  ])
    assert.ok(text.includes(claim), `missing: ${claim}`);
});

test('wrap breaks between words within the width', () => {
  assert.deepEqual(wrap('aa bb cc dd', 5), ['aa bb', 'cc dd']);
  assert.deepEqual(wrap('  a   longword  ', 3), ['a', 'longword']);
  assert.deepEqual(wrap(''), []);
});
