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

test('a banned primary makes a replica give up on its view at once, without waiting for its timeout', () => {
  const cluster = new TestCluster(4, options);
  cluster.propose(0, vertices(1, 'before'));
  cluster.run();
  for (const replica of [1, 2, 3]) {
    const ready = cluster.input(replica, { kind: 'banned', replica: 0 })!;
    const sent = ready.released.open({ through: Number.MAX_SAFE_INTEGER } as never).messages;
    assert.ok(
      sent.some((outbound) => 'draft' in outbound && outbound.draft.kind === 'view-timeout'),
      `replica ${replica} gave up on view 0`,
    );
    assert.deepEqual(ready.suspicions, [], 'the ban already blamed the primary');
  }
  // Three who gave up are a quorum: each leaves view 0, and view 1 is installed.
  cluster.run();
  for (const replica of [1, 2, 3])
    assert.deepEqual(
      [cluster.replicas[replica]!.view, cluster.replicas[replica]!.viewActive],
      [1, true],
      'view 1 installed',
    );
  // Banning a backup changes nothing, and quorum sizes never change.
  const ready = cluster.input(2, { kind: 'banned', replica: 3 })!;
  assert.deepEqual(ready.events, []);
  assert.equal(cluster.replicas[2]!.config.quorum, 3);
});

test('a replica cut off while the others make progress gives up on the view but never leaves it alone, and votes again once healed', () => {
  const cluster = new TestCluster(4, options);
  cluster.filter = ({ from, to }) => from !== 3 && to !== 3;
  for (let round = 0; round < 5; round++) {
    cluster.propose(round % 3, vertices(1, `cut-${round}`));
    cluster.propose(3, vertices(1, `stranded-${round}`));
    cluster.tickAll(2 * options.viewChangeTimeoutTicks);
  }
  const lone = cluster.replicas[3]!;
  assert.ok(
    cluster.signed[3]!.some((message) => message.kind === 'view-timeout'),
    'it gave up on view 0 (its vertices saw no progress)',
  );
  assert.deepEqual([lone.view, lone.viewActive], [0, true], 'and is still in view 0');
  assert.equal(cluster.replicas[0]!.view, 0, 'the others never changed views');
  cluster.filter = () => true;
  tickUntil(
    cluster,
    () => lone.lastExecuted === cluster.replicas[0]!.lastExecuted && lone.pending.size === 0,
  );
  for (const replica of [0, 1, 2, 3])
    assert.deepEqual([cluster.replicas[replica]!.view, cluster.replicas[replica]!.viewActive], [0, true]);
  assert.deepEqual(cluster.history(3), cluster.history(0));
});

test('a replica that left with a timeout certificate shows it to one still in the old view, which follows', () => {
  const cluster = new TestCluster(4, options);
  cluster.propose(0, vertices(1, 'before'));
  cluster.run();
  // Replicas 1, 2 and 3 give up on view 0 (a quorum); replica 0 never hears of it.
  cluster.filter = ({ to }) => to !== 0;
  for (const replica of [1, 2, 3]) cluster.input(replica, { kind: 'banned', replica: 0 });
  cluster.run();
  for (const replica of [1, 2, 3]) assert.ok(cluster.replicas[replica]!.view >= 1);
  assert.equal(cluster.replicas[0]!.view, 0);
  // Healed: replica 0's next message of view 0 is answered with the way to view 1.
  cluster.filter = () => true;
  tickUntil(cluster, () =>
    cluster.replicas.every((replica) => replica.view === cluster.replicas[1]!.view && replica.viewActive),
  );
  assert.equal(cluster.replicas[0]!.view, cluster.replicas[1]!.view);
});
