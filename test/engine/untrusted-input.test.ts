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
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, metricValue, payload } from './cluster.ts';

const prepareDraft: Draft<Prepare> = {
  kind: 'prepare',
  epoch: 0,
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

    // Reported to the detector: two malformed frames and three bad signatures, each 0.1.
    assert.equal(target.status().reputations['node-3'], 0.5);
    assert.equal(target.status().reputations['node-2'], 1, 'the forger is whoever sent the frame');
    await cluster.advance(10);
    assert.equal(
      await metricValue(target, 'consensus_byzantine_violations_total', { kind: 'invalid-signature' }),
      3,
    );
    assert.equal(
      await metricValue(target, 'consensus_byzantine_violations_total', { kind: 'malformed-message' }),
      2,
    );
    assert.equal(await metricValue(target, 'consensus_node_reputation', { node: 'node-3' }), 0.5);

    // The replica is unharmed: the cluster finalizes through it.
    const result = await target.propose(
      createVertex(payload('after-forgery', 1), { validThrough: TEST_VALID_THROUGH }),
    );
    assert.equal(result.sequence, 1);
  } finally {
    await cluster.stop();
  }
});

test('a banned replica: below 0.3 it is banned, its frames are dropped unread, and the cluster goes on', async () => {
  const cluster = new Cluster();
  await cluster.start();
  try {
    const target = cluster.engines[0]!;
    const banned = new Promise<string>((resolve) => target.once('banned', ({ nodeId }) => resolve(nodeId)));
    // Eight malformed frames: 1.0 - 8 x 0.1 = 0.2, below the threshold of 0.3.
    for (let i = 0; i < 8; i++) cluster.network.inject('node-3', 'node-0', Uint8Array.of(0xff, i));
    assert.equal(await banned, 'node-3');
    assert.deepEqual(target.status().banned, ['node-3']);
    assert.equal(await metricValue(target, 'consensus_banned_nodes'), 1);
    const droppedAsBanned = new Promise<void>((resolve) =>
      target.on('dropped', ({ outcome }) => outcome === 'banned' && resolve()),
    );
    cluster.network.inject('node-3', 'node-0', Uint8Array.of(0xff));
    await droppedAsBanned;
    // Quorums do not shrink: node-0 still finalizes with node-1 and node-2.
    await Promise.all(
      [0, 1, 2].map((i) =>
        cluster.engines[i]!.propose(
          createVertex(payload('after-ban', i), { validThrough: TEST_VALID_THROUGH }),
        ),
      ),
    );
    // node-3's own vertex reaches the leader through the others once it has waited
    // finalityTimeoutMs (a REQUEST to every replica, relayed by the ones the leader still hears).
    let finalAtThree = false;
    const fromBanned = cluster.engines[3]!.propose(
      createVertex(payload('from-banned', 3), { validThrough: TEST_VALID_THROUGH }),
    ).then(() => {
      finalAtThree = true;
    });
    for (let elapsed = 0; elapsed < 2000 && !finalAtThree; elapsed += 50) await cluster.advance(50);
    await fromBanned;
    assert.ok((await metricValue(target, 'consensus_messages_received_total', { outcome: 'banned' })) >= 1);
  } finally {
    await cluster.stop();
  }
});
