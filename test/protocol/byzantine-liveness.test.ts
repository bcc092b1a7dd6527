/**
 * Liveness bugs the simulator's Byzantine replicas found in the protocol core, each reproduced
 * here on its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ViewChange, ViewTimeout } from '../../src/protocol/index.ts';
import { signAs, TestCluster, vertices } from '../support/cluster.ts';

const options = { viewChangeTimeoutTicks: 20, statusIntervalTicks: 10 };

test('a replica whose peers moved one view further on does not wait forever for a silent primary (4.5.2)', () => {
  // n = 4, replica 3 is silent for good. Replica 0 joins view 3 (led by replica 3) on
  // VIEW-CHANGEs from replica 2 for view 3 and from replica 1, which already gave up on view 3,
  // for view 4. It holds a quorum of replicas at view 3 or beyond, but only two VIEW-CHANGEs
  // for view 3 itself; it must still give up on view 3 and, with the others, move on to view 4.
  const cluster = new TestCluster(4, options);
  const replica = cluster.replicas[0]!;
  const viewChange = (view: number, from: number): ViewChange =>
    signAs<ViewChange>(
      {
        kind: 'view-change',
        epoch: 0,
        view,
        checkpoint: { sequence: 0, stateDigest: replica.genesis, proof: [] },
        prepared: [],
        replica: from,
      },
      from,
    );
  const viewTimeout = (view: number, from: number): ViewTimeout =>
    signAs<ViewTimeout>({ kind: 'view-timeout', epoch: 0, view, replica: from }, from);
  // Only replica 0 takes part; what it sends to the others is lost.
  cluster.filter = ({ to }) => to === 0;
  cluster.input(0, { kind: 'message', from: 2, message: viewChange(3, 2) });
  cluster.input(0, { kind: 'message', from: 1, message: viewChange(4, 1) });
  cluster.run();
  assert.equal(replica.view, 3, 'joined the smallest view that f + 1 others want');
  assert.equal(replica.viewActive, false);
  const tickUntilGivenUp = (): void => {
    for (let tick = 0; tick < 20 * options.viewChangeTimeoutTicks && !replica.timeouts.has(0); tick++) {
      cluster.tick(0);
      cluster.run();
    }
  };
  tickUntilGivenUp();
  assert.equal(replica.timeouts.get(0)?.view, 3, 'gave up on the silent primary of view 3');
  // Alone, and with one other, it stays: nobody leaves a view alone.
  cluster.input(0, { kind: 'message', from: 1, message: viewTimeout(3, 1) });
  cluster.run();
  assert.equal(replica.view, 3);
  // Replica 2 gave up on view 3 too: with a quorum it moves on (replica 1's, relayed, counts).
  cluster.input(0, { kind: 'message', from: 1, message: viewTimeout(3, 2) });
  cluster.run();
  assert.equal(replica.view, 4, 'moved on with a timeout certificate');
  assert.deepEqual(
    replica.timeoutCertificate.map((timeout) => timeout.replica).sort(),
    [0, 1, 2],
    'and keeps the certificate to show others',
  );
});

test('a replica keeps the batch of every PRE-PREPARE it accepted at a sequence, so that a later NEW-VIEW can re-propose an older prepared one (4.4)', () => {
  // n = 4. View 0 (primary 0) orders batch A at sequence 1, but only replica 3 gathers a
  // prepared certificate for it. View 1 (primary 1) is planned from replicas 0, 1 and 2, which
  // prepared nothing, so its primary orders a fresh batch B at sequence 1, which every replica
  // accepts and nobody prepares. View 2 (primary 2) is planned from replicas 1, 2 and 3, and
  // re-proposes A from replica 3's certificate. Every replica had A's batch, but accepting B
  // used to replace it: A was then committed and could never be executed anywhere.
  const cluster = new TestCluster(4, options);
  const digestOf = (replica: number): string =>
    Buffer.from(cluster.replicas[replica]!.log.get(1)!.prePrepare!.digest).toString('hex');
  const everyone = [0, 1, 2, 3];
  const tickUntil = (done: () => boolean): void => {
    for (let tick = 0; tick < 4000 && !done(); tick++) cluster.tickAll();
    assert.ok(done(), 'reached in time');
  };
  // Client vertices reach only the replica they are proposed to.
  const noRequests = (kind: string): boolean => kind !== 'request';

  cluster.filter = ({ message, to }) =>
    noRequests(message.kind) && message.kind !== 'commit' && (message.kind !== 'prepare' || to === 3);
  cluster.propose(0, vertices(2, 'A'));
  cluster.run();
  const a = digestOf(3);
  assert.notEqual(cluster.replicas[3]!.log.get(1)!.prepared, null, 'replica 3 prepared A');

  cluster.filter = ({ message }) =>
    noRequests(message.kind) && message.kind !== 'commit' && message.kind !== 'prepare';
  tickUntil(() =>
    everyone.every(
      (replica) => cluster.replicas[replica]!.view === 1 && cluster.replicas[replica]!.viewActive,
    ),
  );
  cluster.propose(1, vertices(2, 'B'));
  cluster.run();
  for (const replica of everyone) assert.notEqual(digestOf(replica), a, `replica ${replica} accepted B`);

  // From view 2 on votes flow; replica 0's VIEW-CHANGEs never reach replica 2, so view 2 is
  // planned without it.
  cluster.filter = ({ message, from, to }) =>
    noRequests(message.kind) &&
    !((message.kind === 'prepare' || message.kind === 'commit') && message.view < 2) &&
    !(message.kind === 'view-change' && from === 0 && to === 2);
  tickUntil(() => [1, 2, 3].every((replica) => cluster.delivered[replica]!.length >= 1));
  for (const replica of [1, 2, 3]) {
    assert.equal(Buffer.from(cluster.delivered[replica]![0]!.digest).toString('hex'), a, 'A is finalized');
  }
});

test("a replica holding a Byzantine peer's conflicting CHECKPOINT still gets a stable checkpoint: a peer that became stable before executing answers its STATUS with its own vote (4.3, seed 1977)", () => {
  // n = 4, replica 3 Byzantine. Replica 2 is down while the others finalize past sequence 8;
  // replica 1 got a CHECKPOINT for 8 from replica 3 with another digest than the one replica 3
  // sent the others, so it holds two matching votes (its own and replica 0's) and can never
  // count replica 3's true one (it keeps one vote per sender). Replica 2 comes back, becomes
  // stable at 8 on the others' proof (replicas 0, 1 and 3), then executes 8: its own vote is
  // the third that replica 1 needs, and only a STATUS answer can carry it there. The simulator
  // found this with a checkpoint liar: replica 1, the primary, stopped ordering at its high
  // watermark for good.
  const cluster = new TestCluster(4, { checkpointInterval: 8, watermarkWindow: 16, statusIntervalTicks: 5 });
  const lie = new Uint8Array(32).fill(7);
  cluster.crash(2);
  cluster.filter = ({ from, to, message }) => {
    if (from === 3 && to === 1 && message.kind === 'checkpoint') {
      cluster.input(1, {
        kind: 'message',
        from: 3,
        message: signAs({ ...message, stateDigest: lie }, 3),
      });
      return false;
    }
    return true;
  };
  for (let round = 0; round < 10; round++) {
    cluster.propose(0, vertices(2, `stable ${round}`));
    cluster.run();
  }
  assert.ok(cluster.replicas[0]!.lastExecuted >= 8);
  assert.equal(cluster.replicas[0]!.stable.sequence, 8);
  assert.equal(cluster.replicas[1]!.stable.sequence, 0, 'replica 1 holds a conflicting vote from replica 3');
  cluster.restart(2);
  for (let tick = 0; tick < 200 && cluster.replicas[1]!.stable.sequence < 8; tick++) cluster.tickAll();
  assert.ok(cluster.replicas[2]!.lastExecuted >= 8, 'replica 2 caught up');
  assert.ok(
    cluster.replicas[2]!.stable.proof.every((checkpoint) => checkpoint.replica !== 2),
    "replica 2 became stable on the others' votes",
  );
  assert.equal(cluster.replicas[1]!.stable.sequence, 8, "replica 1 became stable with replica 2's vote");
});

test('a STATUS claiming sequences nobody can serve does not hold back the view timer: a backup still complains about a silent primary (4.4)', () => {
  // Catching up by state transfer holds the view timer back, since a replica behind is not stuck.
  // A Byzantine peer that claims a lastExecuted far ahead starts a transfer no one can ever
  // complete: the timer must run again once the transfer makes no progress for a timeout, or a
  // Byzantine primary that stops ordering and lies in its STATUS is never deposed.
  const cluster = new TestCluster(4, options);
  cluster.crash(0);
  const backup = cluster.replicas[1]!;
  cluster.propose(1, vertices(1, 'waiting'));
  cluster.input(1, {
    kind: 'message',
    from: 3,
    message: signAs(
      {
        kind: 'status',
        epoch: 0,
        view: 0,
        viewActive: true,
        lastExecuted: 1000,
        stableSequence: 0,
        replica: 3,
      },
      3,
    ),
  });
  assert.notEqual(backup.stateTransfer, null, 'the claim started a state transfer');
  cluster.filter = () => false;
  for (let tick = 0; tick < 4 * options.viewChangeTimeoutTicks && backup.lastComplaintTick === null; tick++)
    cluster.tick(1);
  assert.notEqual(backup.stateTransfer, null, 'the transfer is still under way');
  assert.notEqual(backup.lastComplaintTick, null, 'the backup complained about the primary');
});
