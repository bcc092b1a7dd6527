/**
 * Every signed message names its epoch, and a replica counts only votes of the epoch it is in
 * (docs/reconfiguration.md). Today's clusters stay in epoch 0; these tests make sure a message of
 * another epoch moves nothing, blames nobody, and that no certificate mixes epochs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvariantError } from '../../src/protocol/errors.ts';
import { isSignedKind, type PrePrepare, type Prepare, type ViewChange } from '../../src/protocol/messages.ts';
import { signAs, TestCluster, vertices } from '../support/cluster.ts';

/** A cluster that finalized a few batches, with every message each replica received kept. */
function busyCluster(): TestCluster {
  const cluster = new TestCluster(4, { checkpointInterval: 4, watermarkWindow: 8 });
  for (let round = 0; round < 3; round++) {
    cluster.propose(0, vertices(2, 'epoch'));
    cluster.run();
  }
  return cluster;
}

/** The primary of view 0 crashes with a vertex pending at the others: they change views. */
function leaderFails(cluster: TestCluster): void {
  cluster.crash(0);
  cluster.propose(1, vertices(1, 'after-crash'));
  cluster.tickAll(400);
  assert.ok(cluster.replicas[1]!.view >= 1 && cluster.replicas[1]!.viewActive, 'the others changed views');
}

test('everything a replica of epoch 0 signs names epoch 0', () => {
  const cluster = busyCluster();
  leaderFails(cluster);
  const kinds = new Set<string>();
  for (const signed of cluster.signed) {
    for (const message of signed) {
      if (!isSignedKind(message)) continue;
      kinds.add(message.kind);
      assert.equal(message.epoch, 0, `${message.kind} names epoch 0`);
    }
  }
  for (const kind of ['pre-prepare', 'prepare', 'commit', 'checkpoint', 'view-change', 'new-view'])
    assert.ok(kinds.has(kind), `the run signed a ${kind}`);
});

test('votes of another epoch count toward no quorum and blame nobody', () => {
  const cluster = new TestCluster(4);
  // Every vote of replicas 1 and 2 claims epoch 1: replica 3 must not finalize with them.
  cluster.filter = (envelope) => envelope.to !== 3 || envelope.from === 0 || envelope.from === 3;
  const ready = cluster.propose(0, vertices(1, 'other-epoch'));
  assert.ok(ready);
  cluster.run();
  const prePrepare = cluster.signed[0]!.find((message) => message.kind === 'pre-prepare') as PrePrepare;
  for (const replica of [1, 2]) {
    const prepare = cluster.signed[replica]!.find((message) => message.kind === 'prepare') as Prepare;
    const moved = signAs<Prepare>({ ...prepare, epoch: 1 }, replica);
    const verdict = cluster.input(3, { kind: 'message', from: replica, message: moved })!.verdict;
    assert.deepEqual(verdict, { outcome: 'ignored', reason: 'other-epoch' });
  }
  const entry = cluster.replicas[3]!.log.get(prePrepare.sequence);
  assert.ok(entry === undefined || entry.prepared === null, 'replica 3 did not prepare on epoch-1 PREPAREs');
  assert.equal(cluster.replicas[3]!.lastExecuted, 0);
  assert.equal(cluster.replicas[0]!.lastExecuted, 1, 'the others finalized in epoch 0');
});

test('a VIEW-CHANGE whose prepared certificate holds a vote of another epoch is rejected', () => {
  const cluster = busyCluster();
  // Hold back the last sequence's COMMITs so that it stays prepared, not executed.
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  cluster.propose(0, vertices(1, 'prepared-only'));
  cluster.run();
  const certificate = cluster.replicas[1]!.log.get(4)?.prepared;
  assert.ok(certificate, 'replica 1 prepared sequence 4');
  const [first, ...rest] = certificate.prepares;
  const mixed = {
    prePrepare: certificate.prePrepare,
    prepares: [signAs<Prepare>({ ...first!, epoch: 1 }, first!.replica), ...rest],
  };
  const honest: ViewChange = signAs<ViewChange>(
    {
      kind: 'view-change',
      epoch: 0,
      view: 1,
      checkpoint: cluster.replicas[1]!.stable,
      prepared: [certificate],
      replica: 1,
    },
    1,
  );
  const forged = signAs<ViewChange>({ ...honest, prepared: [mixed] }, 1);
  const accepted = cluster.input(2, { kind: 'message', from: 1, message: honest })!.verdict;
  assert.deepEqual(accepted, { outcome: 'accepted' });
  const rejected = cluster.input(3, { kind: 'message', from: 1, message: forged })!.verdict;
  assert.deepEqual(rejected, { outcome: 'rejected', reason: 'invalid-prepared-certificate', offender: 1 });
});

test('a view record naming an epoch the history does not hold stops the replica before it votes', () => {
  const cluster = busyCluster();
  leaderFails(cluster);
  const image = cluster.images[1]!;
  assert.ok(
    image.view !== null && image.view.epoch === 0 && image.view.view >= 1,
    'a view change was written',
  );
  // Only a switch writes a later epoch, with the history beside it (see epoch-closing.test.ts);
  // a store that names epoch 3 without it cannot say who the validators are.
  image.view = { ...image.view, epoch: 3 };
  cluster.crash(1);
  assert.throws(() => cluster.restart(1), InvariantError);
});
