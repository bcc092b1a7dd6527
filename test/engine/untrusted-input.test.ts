/**
 * Untrusted input (Lodestar's IGNORE / REJECT, counted per kind): frames that do not decode,
 * messages whose signatures do not verify, and frames from nodes that are not validators are
 * dropped before they reach the core, counted in consensus_messages_received_total and
 * reported to the detector; the replica goes on finalizing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mlDsa87 } from '../../src/crypto/index.ts';
import { createVertex } from '../../src/engine/index.ts';
import type { Draft, Prepare } from '../../src/protocol/index.ts';
import { signDraft } from '../../src/shell/signing.ts';
import { encodeMessage } from '../../src/wire/index.ts';
import { Cluster, metricValue, payload } from './cluster.ts';

const prepareDraft: Draft<Prepare> = {
  kind: 'prepare',
  view: 0,
  sequence: 1,
  digest: new Uint8Array(32).fill(7),
  replica: 3,
};

test('forged and malformed messages are dropped and counted', async () => {
  const cluster = new Cluster({ scheme: mlDsa87 });
  await cluster.start();
  try {
    const target = cluster.engines[0]!;
    const identity = (i: number) => ({
      scheme: mlDsa87,
      privateKey: cluster.keys[i]!.privateKey,
      clusterId: 'engine-test',
    });
    const genuine = encodeMessage(signDraft(identity(3), prepareDraft));
    // Claims to be node-3's PREPARE, signed with node-2's key.
    const forged = encodeMessage(signDraft(identity(2), prepareDraft));
    // node-3's own PREPARE with one bit of its signature flipped.
    const flipped = genuine.slice();
    flipped[flipped.length - 1]! ^= 1;
    // Signed for another cluster: a replay across clusters.
    const otherCluster = encodeMessage(
      signDraft({ ...identity(3), clusterId: 'another-cluster' }, prepareDraft),
    );

    const dropped: { from: string; type: string; outcome: string }[] = [];
    const allDropped = new Promise<void>((resolve) => {
      target.on('dropped', (event) => {
        dropped.push(event);
        if (dropped.length === 6) resolve();
      });
    });
    cluster.network.inject('node-3', 'node-0', Uint8Array.of(1, 2, 3));
    cluster.network.inject('node-3', 'node-0', genuine.subarray(0, genuine.length - 10));
    cluster.network.inject('node-3', 'node-0', forged);
    cluster.network.inject('node-3', 'node-0', flipped);
    cluster.network.inject('node-3', 'node-0', otherCluster);
    cluster.network.inject('intruder', 'node-0', genuine);
    await allDropped;
    assert.deepEqual(new Set(dropped.map((d) => d.from)), new Set(['node-3', 'intruder']));

    const count = (labels: Record<string, string>) =>
      metricValue(target, 'consensus_messages_received_total', labels);
    assert.equal(await count({ type: 'unknown', outcome: 'malformed' }), 2);
    assert.equal(await count({ type: 'prepare', outcome: 'invalid-signature' }), 3);
    assert.equal(await count({ type: 'unknown', outcome: 'unknown-sender' }), 1);
    // Nothing forged reached the core: no PREPARE was accepted or even judged by it.
    assert.equal(await count({ type: 'prepare', outcome: 'accepted' }), 0);
    assert.equal(await count({ type: 'prepare', outcome: 'ignored' }), 0);

    // The replica is unharmed: the cluster finalizes through it.
    const result = await target.propose(createVertex(payload('after-forgery', 1)));
    assert.equal(result.sequence, 1);
  } finally {
    await cluster.stop();
  }
});
