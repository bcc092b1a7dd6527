/**
 * A replica that adopts a stable checkpoint it has not executed votes no higher than the window
 * of the highest checkpoint it has executed, until state transfer brings it up (`voteCeiling`).
 * This is the bound the reconfiguration safety argument rests on (docs/reconfiguration.md, "Where
 * an epoch ends"): a replica never votes past an epoch's end it has not executed yet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { voteCeiling } from '../../src/protocol/state.ts';
import { TestCluster, vertices } from '../support/cluster.ts';

const K = 4;
const L = 8;

test('a replica that adopted a checkpoint it has not executed votes only within its executed window', () => {
  const cluster = new TestCluster(4, { checkpointInterval: K, watermarkWindow: L, statusIntervalTicks: 5 });
  // Replica 3 hears nothing but its peers' CHECKPOINTs: it adopts their stable checkpoints
  // without executing anything.
  cluster.filter = (envelope) => envelope.to !== 3 || envelope.message.kind === 'checkpoint';
  for (let round = 0; round < 3 * K; round++) {
    cluster.propose(0, vertices(1, 'ceiling'));
    cluster.run();
  }
  const lagging = cluster.replicas[3]!;
  assert.equal(cluster.replicas[0]!.lastExecuted, 3 * K);
  assert.equal(lagging.lastExecuted, 0);
  assert.equal(lagging.stable.sequence, 3 * K, 'replica 3 adopted the certified checkpoint');
  assert.equal(voteCeiling(lagging), L, 'its votes stay within the window of sequence 0');

  // The next sequence lies inside (h, h + L] but above its ceiling: it takes part in nothing.
  const before = cluster.signed[3]!.length;
  cluster.propose(0, vertices(1, 'above'));
  const prePrepare = cluster.inbox.findLast(
    (envelope) => envelope.to === 3 && envelope.message.kind === 'pre-prepare',
  )!.message;
  assert.equal('sequence' in prePrepare && prePrepare.sequence, 3 * K + 1);
  const verdict = cluster.input(3, { kind: 'message', from: 0, message: prePrepare })!.verdict;
  assert.deepEqual(verdict, { outcome: 'ignored', reason: 'above-watermark' });
  cluster.run();
  assert.equal(cluster.signed[3]!.length, before, 'replica 3 signed no vote');
  assert.equal(cluster.replicas[0]!.lastExecuted, 3 * K + 1, 'the others went on without it');

  // Once state transfer brings it to its checkpoint, it votes again.
  cluster.filter = () => true;
  for (let tick = 0; tick < 200 && lagging.lastExecuted < 3 * K + 1; tick++) cluster.tickAll();
  assert.ok(cluster.replicas[3]!.lastExecuted >= 3 * K, 'replica 3 caught up by state transfer');
  assert.equal(voteCeiling(cluster.replicas[3]!), 3 * K + L);
  cluster.propose(0, vertices(1, 'after'));
  cluster.run();
  const votes = cluster.signed[3]!.slice(before).filter((message) => message.kind === 'prepare');
  assert.ok(
    votes.some((message) => 'sequence' in message && message.sequence > 3 * K + 1),
    'replica 3 prepares the next sequence',
  );
});

test('the ceiling is the ordinary high watermark for a replica that executed its stable checkpoint', () => {
  const cluster = new TestCluster(4, { checkpointInterval: K, watermarkWindow: L });
  for (let round = 0; round < 2 * K + 1; round++) {
    cluster.propose(0, vertices(1, 'ordinary'));
    cluster.run();
  }
  for (const state of cluster.replicas) {
    assert.equal(state.stable.sequence, 2 * K);
    assert.equal(voteCeiling(state), state.stable.sequence + L);
  }
});
