/**
 * Acknowledged means held on f + 1 disks (`requests.ts`): the accepting replica acknowledges a
 * client vertex only once `acknowledgeCopies` peers answered HELD, and a holder proposes the
 * vertex itself when the accepting replica is gone for good, disk and all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/crypto/digest.ts';
import { type Envelope, TestCluster, vertices } from '../support/cluster.ts';

const options = { viewChangeTimeoutTicks: 20, statusIntervalTicks: 10, requestRetryTicks: 5 };

/** The client vertices `replica` finalized, in order. */
function finalized(cluster: TestCluster, replica: number): string[] {
  return cluster.delivered[replica]!.flatMap((delivery) => delivery.keys);
}

test('a backup acknowledges its client vertex only once the primary holds it too (n = 4, f = 1)', () => {
  const cluster = new TestCluster(4, options);
  const held: Envelope[] = [];
  // HELDs are held back, and the primary orders nothing yet.
  cluster.filter = (envelope) => {
    if (envelope.message.kind === 'held') held.push(envelope);
    return envelope.message.kind !== 'held' && envelope.message.kind !== 'pre-prepare';
  };
  const [vertex] = vertices(1, 'client');
  const key = toHex(vertex!.hash);
  cluster.propose(1, [vertex!]);
  cluster.run();
  assert.deepEqual(cluster.acknowledged[1], [], 'not acknowledged on its own disk alone');
  // The primary was asked to hold it (and to order it), and wrote it to its store.
  assert.equal(cluster.replicas[0]!.pending.get(key)?.source, 1);
  assert.ok(cluster.images[0]!.accepted.has(key), 'the primary wrote it to its store');
  assert.equal(held.length, 1);
  assert.deepEqual(
    held.map(({ from, to }) => [from, to]),
    [[0, 1]],
  );
  // The HELD arrives: now it is acknowledged, once.
  cluster.filter = () => true;
  cluster.inbox.push(...held);
  cluster.run();
  assert.deepEqual(cluster.acknowledged[1], [key]);
});

test("a backup's REQUEST leaves before its write is durable; the acknowledgment waits for it", () => {
  for (const acknowledgeCopies of [1, 0]) {
    const cluster = new TestCluster(4, { ...options, acknowledgeCopies });
    cluster.filter = () => false;
    const [vertex] = vertices(1, `early-${acknowledgeCopies}`);
    const ready = cluster.propose(1, [vertex!])!;
    assert.equal(ready.writes.length, 1, 'the step writes the accepted vertex');
    // The copy for the primary depends on no write: a crash that lost the write lost nothing
    // by its having left. It does not wait for the sync, as a vote would.
    assert.deepEqual(
      ready.immediate.map((outbound) => ['draft' in outbound && outbound.draft.kind, outbound.to]),
      [['request', 0]],
    );
    assert.throws(
      () => ready.released.open({ through: ready.released.requires - 1 } as never),
      'the rest waits for the write',
    );
    const sealed = ready.released.open({ through: ready.released.requires } as never);
    assert.deepEqual(sealed.messages, []);
    // Telling the submitter stays sealed with the write: at once with no copies asked for,
    // else only once the HELD comes too.
    assert.deepEqual(sealed.acknowledged, acknowledgeCopies === 0 ? [toHex(vertex!.hash)] : []);
  }
});

test("the primary's copies for its holders wait for its write, as its votes do", () => {
  const cluster = new TestCluster(4, options);
  cluster.filter = () => false;
  const [vertex] = vertices(1, 'at-primary');
  const ready = cluster.propose(0, [vertex!])!;
  // Its copy only serves the acknowledgment, which waits for the write anyway: sent at once it
  // would take cores from the round the primary starts in the same step.
  assert.deepEqual(ready.immediate, []);
  const sealed = ready.released.open({ through: ready.released.requires } as never);
  assert.deepEqual(
    sealed.messages.flatMap((outbound) =>
      'draft' in outbound && outbound.draft.kind === 'request' ? [[outbound.to, outbound.draft.hold]] : [],
    ),
    [[1, true]],
  );
});

test('with acknowledgeCopies 0 a replica acknowledges on its own write, as before', () => {
  const cluster = new TestCluster(4, { ...options, acknowledgeCopies: 0 });
  cluster.filter = () => false;
  const [vertex] = vertices(1, 'local');
  cluster.propose(1, [vertex!]);
  cluster.run();
  assert.deepEqual(cluster.acknowledged[1], [toHex(vertex!.hash)]);
});

test('a primary asks the next replica to hold its own client vertices', () => {
  const cluster = new TestCluster(4, options);
  const requests: Envelope[] = [];
  cluster.filter = (envelope) => {
    if (envelope.message.kind === 'request') requests.push(envelope);
    return true;
  };
  const [vertex] = vertices(1, 'at-primary');
  cluster.propose(0, [vertex!]);
  cluster.run();
  assert.deepEqual(
    requests.map(({ from, to, message }) => [from, to, message.kind === 'request' && message.hold]),
    [[0, 1, true]],
  );
  assert.deepEqual(cluster.acknowledged[0], [toHex(vertex!.hash)]);
});

test('holders finalize an acknowledged vertex whose accepting replica is lost, disk and all (n = 7, f = 2)', () => {
  const cluster = new TestCluster(7, options);
  // The primary of view 0 is down: of the holders asked first (0 and 2) only 2 answers, so the
  // vertex is acknowledged only once the retry asked every peer.
  cluster.crash(0);
  const [vertex] = vertices(1, 'survivor');
  const key = toHex(vertex!.hash);
  cluster.propose(1, [vertex!]);
  cluster.run();
  assert.deepEqual(cluster.acknowledged[1], [], 'one copy of the two needed');
  for (let tick = 0; tick < 50 && cluster.acknowledged[1]!.length === 0; tick++) {
    cluster.tick(1);
    cluster.run();
  }
  assert.deepEqual(cluster.acknowledged[1], [key]);
  // The second fault: replica 1 is gone for good. The holders depose the dead primary and the
  // next one (1, gone too), and the primary of view 2, a holder, orders the vertex.
  cluster.crash(1);
  const live = [2, 3, 4, 5, 6];
  for (
    let tick = 0;
    tick < 2000 && !live.every((replica) => finalized(cluster, replica).length > 0);
    tick++
  ) {
    for (const replica of live) cluster.tick(replica);
    cluster.run();
  }
  for (const replica of live) {
    assert.deepEqual(finalized(cluster, replica), [key], `replica ${replica} finalized it, once`);
  }
});

test('HELD is taken only from the link of the replica it names', () => {
  const cluster = new TestCluster(4, options);
  cluster.filter = () => false;
  const [vertex] = vertices(1, 'forged-held');
  cluster.propose(1, [vertex!]);
  cluster.run();
  const ready = cluster.input(1, {
    kind: 'message',
    from: 2,
    message: { kind: 'held', replica: 0, hashes: [vertex!.hash] },
  });
  assert.deepEqual(ready?.verdict, { outcome: 'rejected', reason: 'invalid-request', offender: 2 });
  assert.deepEqual(cluster.acknowledged[1], []);
});

test('a backup that cannot reach the primary asks the other peers to hold its vertex at once', () => {
  const cluster = new TestCluster(4, options);
  cluster.crash(0);
  const [vertex] = vertices(1, 'primary-gone');
  cluster.propose(1, [vertex!]);
  cluster.run();
  assert.deepEqual(cluster.acknowledged[1], [], 'the primary, asked first, is down');
  // No tick passes: the shell's report that the primary is unreachable is enough.
  cluster.input(1, { kind: 'unreachable', replica: 0 });
  cluster.run();
  assert.deepEqual(cluster.acknowledged[1], [toHex(vertex!.hash)]);
  assert.ok(
    cluster.images[2]!.accepted.has(toHex(vertex!.hash)) ||
      cluster.images[3]!.accepted.has(toHex(vertex!.hash)),
  );
});
