/**
 * The metrics an engine keeps while it runs: the first design's counters move with the work
 * done, the gauges say where the replica stands, and the exposition passes `promtool check
 * metrics`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVertex } from '../../src/engine/index.ts';
import { promtool, skipWithoutPromtool } from '../support/promtool.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, finalizedEverywhere, metricValue, payload, recordFinalized } from './cluster.ts';

test('a running engine updates its metrics, and promtool check metrics is clean', {
  skip: skipWithoutPromtool(),
}, async () => {
  const cluster = new Cluster({ config: { checkpointInterval: 2, watermarkWindow: 4 } });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    for (let round = 0; round < 6; round++) {
      await Promise.all(
        [0, 1, 2, 3].map((i) =>
          cluster.engines[i]!.propose(
            createVertex(payload(`m-${round}`, i), { validThrough: TEST_VALID_THROUGH }),
          ),
        ),
      );
    }
    await finalizedEverywhere(cluster.engines, orders, 24);
    cluster.network.inject('node-2', 'node-1', Uint8Array.of(0));
    await new Promise<void>((resolve) => cluster.engines[1]!.once('dropped', () => resolve()));
    await cluster.advance(10);
    const [leader, backup] = cluster.engines as [(typeof cluster.engines)[0], (typeof cluster.engines)[0]];
    assert.equal(await metricValue(leader, 'consensus_vertices_finalized_total'), 24);
    assert.ok((await metricValue(leader, 'consensus_proposals_sent_total')) >= 6);
    assert.equal(await metricValue(backup, 'consensus_proposals_sent_total'), 0);
    assert.ok((await metricValue(backup, 'consensus_prepares_sent_total')) >= 6);
    assert.ok((await metricValue(backup, 'consensus_commits_sent_total')) >= 6);
    assert.equal(await metricValue(backup, 'consensus_current_sequence'), backup.status().sequence);
    assert.equal(await metricValue(backup, 'consensus_stable_checkpoint'), backup.status().stableCheckpoint);
    assert.ok(backup.status().stableCheckpoint >= 2);
    assert.equal(await metricValue(backup, 'consensus_current_view'), 0);
    assert.equal(await metricValue(backup, 'consensus_pending_proposals'), 0);
    assert.equal(await metricValue(backup, 'consensus_peers_connected'), 3);
    assert.equal(
      await metricValue(backup, 'consensus_messages_received_total', {
        type: 'unknown',
        outcome: 'malformed',
      }),
      1,
    );
    assert.ok(
      (await metricValue(backup, 'consensus_messages_received_total', {
        type: 'pre-prepare',
        outcome: 'accepted',
      })) >= 6,
    );
    assert.ok((await metricValue(backup, 'consensus_messages_sent_total', { type: 'commit' })) >= 6);
    assert.equal(
      await metricValue(backup, 'consensus_byzantine_violations_total', { kind: 'malformed-message' }),
      1,
    );
    assert.equal(await metricValue(backup, 'consensus_node_reputation', { node: 'node-2' }), 0.9);
    assert.ok((await metricValue(backup, 'consensus_signature_verify_seconds')) > 0);
    assert.ok((await metricValue(backup, 'consensus_batch_size_vertices')) > 0);
    const exposition = await backup.metrics().metrics();
    const checked = promtool(['check', 'metrics'], exposition);
    assert.equal(checked.status, 0, checked.output);
  } finally {
    await cluster.stop();
  }
});
