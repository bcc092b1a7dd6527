import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { VIOLATION_KINDS } from '../../src/byzantine/index.ts';
import { createConsensusMetrics, FINALITY_BUCKETS_SECONDS } from '../../src/metrics/index.ts';
import { promtool, skipWithoutPromtool } from '../support/promtool.ts';

function exercised() {
  const registry = new Registry();
  registry.setDefaultLabels({ node: '0' });
  const metrics = createConsensusMetrics(registry);
  metrics.proposalsSent.inc();
  metrics.verticesFinalized.inc(256);
  metrics.preparesSent.inc(3);
  metrics.commitsSent.inc(3);
  metrics.finalityTime.observe(0.042);
  metrics.byzantineViolations.inc({ kind: 'equivocation' });
  metrics.bannedNodes.set(1);
  metrics.viewChanges.inc();
  metrics.currentView.set(2);
  metrics.currentSequence.set(17);
  metrics.stableCheckpoint.set(16);
  metrics.pendingProposals.set(5);
  metrics.peersConnected.set(3);
  metrics.messagesReceived.inc({ type: 'prepare', outcome: 'accepted' });
  metrics.messagesReceived.inc({ type: 'commit', outcome: 'invalid-signature' });
  metrics.messagesSent.inc({ type: 'commit' });
  metrics.signatureVerifySeconds.observe(0.0003);
  metrics.batchSize.observe(64);
  metrics.reputation.set({ node: '3' }, 0.7);
  return { registry, metrics };
}

test('the first design metric set exists, with Prometheus base units and its finality buckets', async () => {
  const { registry } = exercised();
  const names = (await registry.getMetricsAsJSON()).map((metric) => metric.name).sort();
  for (const name of [
    'consensus_proposals_sent_total',
    'consensus_vertices_finalized_total',
    'consensus_prepares_sent_total',
    'consensus_commits_sent_total',
    'consensus_finality_time_seconds',
    'consensus_byzantine_violations_total',
    'consensus_banned_nodes',
    'consensus_view_changes_total',
    'consensus_current_view',
    'consensus_current_sequence',
  ]) {
    assert.ok(names.includes(name), `${name} is registered`);
  }
  const text = await registry.metrics();
  const buckets = [...text.matchAll(/^consensus_finality_time_seconds_bucket\{le="([^"]+)"/gm)].map(
    (m) => m[1],
  );
  assert.deepEqual(buckets, [...FINALITY_BUCKETS_SECONDS.map(String), '+Inf']);
  assert.match(text, /^consensus_finality_time_seconds_count\{node="0"\} 1$/m);
});

test('every violation kind has a series from the start, so rates and alerts work before the first violation', async () => {
  const registry = new Registry();
  createConsensusMetrics(registry);
  const text = await registry.metrics();
  for (const kind of VIOLATION_KINDS) {
    assert.match(text, new RegExp(`^consensus_byzantine_violations_total\\{kind="${kind}"\\} 0$`, 'm'));
  }
});

test('a second factory call on one registry is refused rather than silently sharing metrics', () => {
  const registry = new Registry();
  createConsensusMetrics(registry);
  assert.throws(() => createConsensusMetrics(registry), /already been registered/);
});

test('promtool check metrics is clean on the exposition', { skip: skipWithoutPromtool() }, async () => {
  const { registry } = exercised();
  const result = promtool(['check', 'metrics'], await registry.metrics());
  assert.equal(result.status, 0, result.output);
  assert.equal(result.output.trim(), '', `promtool found problems:\n${result.output}`);
});
