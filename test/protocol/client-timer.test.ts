/**
 * The backups' timer on client vertices (4.4, 4.5.2): it gives up on a primary that makes no
 * progress on them (VIEW-TIMEOUT), not on one that is busy, and still on one that withholds a
 * vertex for good. Giving up alone does not leave the view (see `view-timeouts.ts`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLIENT_WAIT_BOUND_TIMEOUTS } from '../../src/protocol/requests.ts';
import { TestCluster, vertices } from '../support/cluster.ts';

const TIMEOUT = 20;
const options = { viewChangeTimeoutTicks: TIMEOUT, statusIntervalTicks: 10, requestRetryTicks: 5 };

/** Replica 1 holds one client vertex the primary has not ordered; nothing reaches the others. */
function backupWithWaitingVertex(): TestCluster {
  const cluster = new TestCluster(4, options);
  cluster.filter = () => false;
  cluster.propose(1, vertices(1, 'waiting'));
  cluster.run();
  assert.equal(cluster.replicas[1]!.pending.size, 1);
  return cluster;
}

/** Ticks replica 1 until it gives up on view 0 (signs a VIEW-TIMEOUT); returns the ticks taken (or `limit`). */
function ticksUntilViewTimeout(cluster: TestCluster, limit: number, onTick: () => void = () => {}): number {
  for (let tick = 1; tick <= limit; tick++) {
    onTick();
    cluster.tick(1);
    cluster.run();
    if (cluster.signed[1]!.some((message) => message.kind === 'view-timeout')) return tick;
  }
  return limit;
}

test('a backup whose client vertex sees no progress for a timeout gives up on the view, but alone does not leave it', () => {
  const cluster = backupWithWaitingVertex();
  assert.equal(ticksUntilViewTimeout(cluster, 10 * TIMEOUT), TIMEOUT);
  for (let tick = 0; tick < 5 * TIMEOUT; tick++) {
    cluster.tick(1);
    cluster.run();
  }
  const replica = cluster.replicas[1]!;
  assert.deepEqual([replica.view, replica.viewActive], [0, true], 'still taking part in view 0');
  // It says so again once per timeout, in case the first was lost.
  const sent = cluster.signed[1]!.filter((message) => message.kind === 'view-timeout').length;
  assert.equal(sent, 6);
});

test('a backup does not depose a primary that keeps finalizing its other client vertices, until the wait bound', () => {
  const cluster = backupWithWaitingVertex();
  const replica = cluster.replicas[1]!;
  // Each tick another of this backup's vertices is finalized (the primary is busy, not stuck).
  const taken = ticksUntilViewTimeout(cluster, 20 * TIMEOUT, () => {
    replica.lastClientProgressTick = replica.now;
  });
  assert.ok(taken > TIMEOUT, `no view change after one timeout of waiting (changed after ${taken} ticks)`);
  assert.equal(taken, CLIENT_WAIT_BOUND_TIMEOUTS * TIMEOUT, 'a vertex withheld for the bound deposes it');
});

test('a primary of an active view queues its own aged client vertices again instead of sending them to everyone', () => {
  // Acknowledged ones (here on its own write): one still short of its copies is asked of every
  // peer to hold (acknowledge-copies.test.ts).
  const cluster = new TestCluster(4, { ...options, acknowledgeCopies: 0 });
  const sent: string[] = [];
  cluster.filter = ({ message, from }) => {
    if (from === 0) sent.push(message.kind);
    return false;
  };
  cluster.propose(0, vertices(3, 'own'));
  cluster.run();
  sent.length = 0;
  // The batch it proposed goes nowhere; the vertices age past the retry interval.
  for (let tick = 0; tick < 3 * options.requestRetryTicks; tick++) {
    cluster.tick(0);
    cluster.run();
  }
  assert.ok(!sent.includes('request'), `sent ${[...new Set(sent)].join(', ')}`);
});

test("a REQUEST is taken from the replica whose link it came on; one naming another replica is rejected as that link's forgery", () => {
  const cluster = new TestCluster(4, options);
  const primary = cluster.replicas[0]!;
  const [own, forged] = [vertices(1, 'own')[0]!, vertices(1, 'forged')[0]!];
  const accepted = cluster.input(0, {
    kind: 'message',
    from: 2,
    message: { kind: 'request', replica: 2, vertices: [own], hold: false },
  });
  assert.deepEqual(accepted?.verdict, { outcome: 'accepted' });
  assert.equal(primary.nextSequence, 2, 'the primary ordered the vertex at sequence 1');
  // Replica 2 claims to forward for replica 1: REQUESTs are not signed, so only the link says
  // who sent one, and the link says 2.
  const rejected = cluster.input(0, {
    kind: 'message',
    from: 2,
    message: { kind: 'request', replica: 1, vertices: [forged], hold: false },
  });
  assert.deepEqual(rejected?.verdict, { outcome: 'rejected', reason: 'invalid-request', offender: 2 });
  assert.equal(primary.nextSequence, 2, 'nothing of the forged REQUEST was ordered');
  assert.equal(primary.queue.size, 0);
});
