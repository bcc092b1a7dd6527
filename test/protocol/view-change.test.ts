import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type NewView, NULL_BATCH_DIGEST } from '../../src/protocol/index.ts';
import { TestCluster, vertices } from '../support/cluster.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const options = { viewChangeTimeoutTicks: 20, statusIntervalTicks: 10 };

/** Ticks every replica except the ones in `except` until `done` holds (or `limit` ticks pass). */
function tickUntil(cluster: TestCluster, done: () => boolean, limit = 2000, except: number[] = []): void {
  for (let i = 0; i < limit && !done(); i++) {
    for (let replica = 0; replica < cluster.n; replica++)
      if (!except.includes(replica)) cluster.tick(replica);
    cluster.run();
  }
  assert.ok(done(), 'condition reached in time');
}

test('prepared certificates survive a view change (4.4)', () => {
  const cluster = new TestCluster(4, options);
  // Everyone prepares sequence 1, but no COMMIT is delivered: the batch is prepared, not committed.
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  cluster.propose(0, vertices(2, 'prepared'));
  cluster.run();
  const digest = cluster.replicas[1]!.log.get(1)!.prepared!.prePrepare.digest;
  // The primary goes silent; the others time out and change view.
  cluster.crash(0);
  cluster.filter = () => true;
  tickUntil(cluster, () => [1, 2, 3].every((replica) => cluster.delivered[replica]!.length >= 1), 2000, [0]);
  for (const replica of [1, 2, 3]) {
    assert.equal(cluster.replicas[replica]!.view, 1, 'in view 1');
    assert.equal(
      hex(cluster.delivered[replica]![0]!.digest),
      hex(digest),
      'the prepared batch is the one finalized',
    );
  }
});

test('a committed batch is never lost across view changes, even when every replica that finalized it is down (4.4)', () => {
  const cluster = new TestCluster(7, options);
  // Only replica 1 ever receives view-0 COMMITs: it alone finalizes sequence 1.
  cluster.filter = ({ message, to }) => !(message.kind === 'commit' && message.view === 0 && to !== 1);
  cluster.propose(0, vertices(3, 'committed'));
  cluster.run();
  assert.equal(cluster.delivered[1]!.length, 1, 'replica 1 finalized sequence 1');
  assert.ok(
    [2, 3, 4, 5, 6].every((replica) => cluster.delivered[replica]!.length === 0),
    'nobody else did',
  );
  const finalized = hex(cluster.delivered[1]![0]!.digest);
  // The primary of view 0 and the only replica that finalized both go down; the primary of
  // view 1 is replica 1, so the others must change view twice, to view 2.
  cluster.crash(0);
  cluster.crash(1);
  const rest = [2, 3, 4, 5, 6];
  tickUntil(cluster, () => rest.every((replica) => cluster.delivered[replica]!.length >= 1), 4000, [0, 1]);
  for (const replica of rest) {
    assert.equal(cluster.replicas[replica]!.view, 2);
    assert.equal(
      hex(cluster.delivered[replica]![0]!.digest),
      finalized,
      `replica ${replica} finalized the same batch`,
    );
  }
  cluster.restart(0);
  cluster.restart(1);
  tickUntil(cluster, () => cluster.delivered[0]!.length >= 1);
  assert.equal(hex(cluster.delivered[0]![0]!.digest), finalized);
});

test('the new primary re-proposes prepared batches and fills gaps with null batches (4.4)', () => {
  const cluster = new TestCluster(4, { ...options, batchCountMax: 1 });
  // Sequences 1, 2, 3 are ordered; PREPAREs for 2 are lost, so only 1 and 3 are prepared. No COMMIT arrives.
  const lost = ({ message }: { message: { kind: string; view?: number; sequence?: number } }): boolean =>
    message.view === 0 &&
    (message.kind === 'commit' || (message.kind === 'prepare' && message.sequence === 2));
  cluster.filter = (envelope) => !lost(envelope as never);
  const proposed = vertices(3, 'gap');
  for (const vertex of proposed) cluster.propose(1, [vertex]);
  cluster.run();
  const digests = [1, 3].map((sequence) =>
    hex(cluster.replicas[1]!.log.get(sequence)!.prepared!.prePrepare.digest),
  );
  assert.equal(cluster.replicas[1]!.log.get(2)!.prepared, null, 'sequence 2 is not prepared');
  cluster.crash(0);
  tickUntil(cluster, () => cluster.replicas[2]!.view === 1 && cluster.replicas[2]!.viewActive, 2000, [0]);
  const newView = cluster.replicas[2]!.newView as NewView;
  assert.deepEqual(
    newView.prePrepares.map((prePrepare) => [prePrepare.sequence, hex(prePrepare.digest)]),
    [
      [1, digests[0]],
      [2, hex(NULL_BATCH_DIGEST)],
      [3, digests[1]],
    ],
  );
  tickUntil(cluster, () => [1, 2, 3].every((replica) => cluster.delivered[replica]!.length >= 3), 2000, [0]);
  const history = cluster.delivered[2]!.slice(0, 3).map((delivery) => delivery.vertices.length);
  assert.deepEqual(history, [1, 0, 1], 'sequence 2 is a null batch');
  // The vertex whose batch became null is not lost: its replica hands it to the new primary.
  tickUntil(cluster, () => cluster.delivered[2]!.flatMap((d) => d.vertices).length === 3, 2000, [0]);
});

test('a NEW-VIEW whose pre-prepares differ from its view changes is rejected (4.4)', () => {
  const cluster = new TestCluster(4, options);
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  cluster.propose(0, vertices(1, 'forged'));
  cluster.run();
  cluster.crash(0);
  cluster.filter = (envelope) => envelope.message.kind !== 'new-view';
  tickUntil(cluster, () => cluster.replicas[1]!.newView !== null, 2000, [0]);
  const honest = cluster.replicas[1]!.newView as NewView;
  // The new primary's NEW-VIEW with the prepared batch replaced by a null batch.
  const forged: NewView = {
    ...honest,
    prePrepares: honest.prePrepares.map((prePrepare) => ({ ...prePrepare, digest: NULL_BATCH_DIGEST })),
    signature: Uint8Array.of(1),
  };
  const ready = cluster.input(2, { kind: 'message', from: 1, message: forged });
  assert.deepEqual(ready?.verdict, { outcome: 'rejected', reason: 'invalid-new-view', offender: 1 });
  assert.equal(cluster.replicas[2]!.viewActive, false, 'the forged NEW-VIEW installs nothing');
});

test('a banned primary makes a replica start a view change at once, without waiting for its timeout', () => {
  const cluster = new TestCluster(4, options);
  cluster.propose(0, vertices(1, 'before'));
  cluster.run();
  for (const replica of [1, 2, 3]) {
    const ready = cluster.input(replica, { kind: 'banned', replica: 0 })!;
    assert.deepEqual(
      ready.events.filter((event) => event.kind === 'view-change-started'),
      [{ kind: 'view-change-started', view: 1, reason: 'primary-banned' }],
    );
    assert.deepEqual(ready.suspicions, [], 'the ban already blamed the primary');
  }
  cluster.run();
  for (const replica of [1, 2, 3])
    assert.equal(cluster.replicas[replica]!.viewActive, true, 'view 1 installed');
  // Banning a backup changes nothing, and quorum sizes never change.
  const ready = cluster.input(2, { kind: 'banned', replica: 3 })!;
  assert.deepEqual(ready.events, []);
  assert.equal(cluster.replicas[2]!.config.quorum, 3);
});
