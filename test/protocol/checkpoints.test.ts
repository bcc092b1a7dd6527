import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Checkpoint } from '../../src/protocol/index.ts';
import { DurableImage } from '../../src/protocol/index.ts';
import { signAs, TestCluster, vertices } from '../support/cluster.ts';

test('checkpoints garbage-collect the log, so memory stays bounded over 100,000 sequences (4.3)', () => {
  const sequences = 100_000;
  const cluster = new TestCluster(4, { checkpointInterval: 16, watermarkWindow: 32, batchCountMax: 1 });
  // The disk images keep a bounded tail of finalized batches, as a store with log retention would.
  for (let replica = 0; replica < 4; replica++) cluster.images[replica] = new DurableImage(256);
  let maxLog = 0;
  let maxVotes = 0;
  let maxDelivered = 0;
  let maxImage = 0;
  for (let sequence = 0; sequence < sequences; sequence += 8) {
    cluster.propose(0, vertices(8, 'gc', cluster.replicas[0]!.lastExecuted + 1000));
    cluster.run();
    for (const state of cluster.replicas) {
      maxLog = Math.max(maxLog, state.log.size);
      maxVotes = Math.max(maxVotes, state.checkpointVotes.size);
      maxDelivered = Math.max(maxDelivered, state.delivered.size);
    }
    for (const image of cluster.images)
      maxImage = Math.max(maxImage, image.prePrepares.size + image.prepared.size);
    for (const delivered of cluster.delivered) delivered.length = 0;
  }
  const state = cluster.replicas[0]!;
  assert.equal(state.lastExecuted, sequences, 'every sequence was finalized');
  assert.ok(state.stable.sequence >= sequences - 32, 'the stable checkpoint kept up');
  assert.ok(maxLog <= 32 + 16, `log entries stay within the window (max ${maxLog})`);
  assert.ok(maxVotes <= 32 / 16 + 2, `checkpoint votes stay bounded (max ${maxVotes})`);
  assert.ok(
    maxDelivered <= state.config.dedupHorizonSequences,
    `the delivered set stays within the horizon (max ${maxDelivered})`,
  );
  assert.ok(maxImage <= 2 * (32 + 16), `durable log records are truncated (max ${maxImage})`);
});

test('a lagging replica catches up by state transfer, with every batch checked against its commit certificate (4.3)', () => {
  const cluster = new TestCluster(4, { checkpointInterval: 8, watermarkWindow: 16, statusIntervalTicks: 5 });
  cluster.crash(3);
  for (let round = 0; round < 40; round++) {
    cluster.propose(round % 3, vertices(2, 'lag'));
    cluster.run();
  }
  const history = cluster.history(0);
  assert.ok(
    cluster.replicas[0]!.stable.sequence >= 16,
    'the others moved past replica 3 and collected garbage',
  );
  cluster.restart(3);
  let transferred = false;
  for (let tick = 0; tick < 500 && cluster.history(3).length < history.length; tick++) {
    cluster.tickAll();
    transferred ||= cluster.readies[3]!.some((ready) =>
      ready.events.some((event) => event.kind === 'state-transfer-requested'),
    );
  }
  assert.ok(transferred, 'replica 3 used state transfer');
  assert.deepEqual(cluster.history(3), history, 'replica 3 finalized the same history');
  const vertexCount = (replica: number) =>
    cluster.delivered[replica]!.flatMap((delivery) => delivery.vertices).length;
  assert.equal(vertexCount(3), vertexCount(0));
});

test('a state request that comes in the tick its peer was served waits for the next tick, not for a timeout', () => {
  const cluster = new TestCluster(4, { checkpointInterval: 8, watermarkWindow: 16 });
  for (let round = 0; round < 6; round++) {
    cluster.propose(0, vertices(2, 'served'));
    cluster.run();
  }
  const served = (ready: import('../../src/protocol/index.ts').Ready | null) =>
    ready?.serveState.map((request) => [request.fromSequence, request.toSequence]);
  const ask = (fromSequence: number) =>
    cluster.input(1, {
      kind: 'message',
      from: 3,
      message: signAs(
        { kind: 'state-request', epoch: 0, fromSequence, toSequence: fromSequence + 1, replica: 3 },
        3,
      ),
    });
  assert.ok(cluster.replicas[1]!.lastExecuted >= 4);
  assert.deepEqual(served(ask(1)), [[1, 2]]);
  // Served this tick: the next two wait, the later replacing the earlier, and nothing is refused.
  const second = ask(3);
  assert.deepEqual(served(second), []);
  assert.equal(second?.verdict?.outcome, 'accepted');
  assert.deepEqual(served(ask(4)), []);
  // The next tick answers the one that waited.
  const tick = cluster.input(1, { kind: 'tick' });
  assert.deepEqual(served(tick), [[4, 5]]);
  assert.deepEqual(served(cluster.input(1, { kind: 'tick' })), []);
});

test('f + 1 peers voting above the window start a state transfer at once; f peers alone do not', () => {
  const cluster = new TestCluster(4, { checkpointInterval: 8, watermarkWindow: 16 });
  const digest = new Uint8Array(32).fill(7);
  const commit = (replica: number, sequence: number) =>
    cluster.input(3, {
      kind: 'message',
      from: replica,
      message: signAs({ kind: 'commit', epoch: 0, view: 0, sequence, digest, replica }, replica),
    });
  const requested = (ready: import('../../src/protocol/index.ts').Ready | null) =>
    ready?.events.filter((event) => event.kind === 'state-transfer-requested') ?? [];

  // One peer, however far it claims to be, is not enough: it may be the Byzantine one.
  assert.deepEqual(commit(0, 40)?.verdict, { outcome: 'ignored', reason: 'above-watermark' });
  assert.deepEqual(requested(commit(0, 90)), []);
  const transfer = () => cluster.replicas[3]!.stateTransfer;
  assert.equal(transfer(), null);
  // A second peer past the window: one of the two is correct, and its window holds the lower
  // of their votes, so a quorum executed at least up to one window below it.
  const ready = commit(1, 30);
  assert.equal(requested(ready).length, 1, 'a state request went out with this step');
  assert.equal(transfer()?.target, 30 - 16, 'up to a window below the lower vote of the two');
  // Inside the window a vote is no such evidence.
  assert.equal(commit(2, 10)?.verdict?.outcome, 'accepted');
});

/** A cluster of four whose replicas executed sequence 8 but exchanged no CHECKPOINT. */
function executedWithoutCheckpoints(): TestCluster {
  const cluster = new TestCluster(4, { checkpointInterval: 8, watermarkWindow: 16, batchCountMax: 1 });
  // Each replica hears its own CHECKPOINT only.
  cluster.filter = (envelope) => envelope.message.kind !== 'checkpoint' || envelope.from === envelope.to;
  for (let round = 0; round < 8; round++) {
    cluster.propose(0, vertices(1, `ckpt-${round}`));
    cluster.run();
  }
  for (const state of cluster.replicas) {
    assert.equal(state.lastExecuted, 8);
    assert.equal(state.stable.sequence, 0);
  }
  return cluster;
}

/** `checkpoint` with `changes`, signed again by its signer. */
function altered(checkpoint: Checkpoint, changes: Partial<Checkpoint>): Checkpoint {
  const { signature: _signature, ...draft } = { ...checkpoint, ...changes };
  return signAs(draft, checkpoint.replica);
}

function checkpointOf(cluster: TestCluster, replica: number, sequence: number): Checkpoint {
  const found = cluster.signed[replica]!.find(
    (message): message is Checkpoint => message.kind === 'checkpoint' && message.sequence === sequence,
  );
  assert.ok(found !== undefined, `replica ${replica} signed its CHECKPOINT at ${sequence}`);
  return found;
}

test("a liar's CHECKPOINT does not keep its true one, relayed in a certificate, from counting", () => {
  const cluster = executedWithoutCheckpoints();
  const truth = checkpointOf(cluster, 1, 8);
  // Replica 1 lies to replica 3 first: a different digest, signed.
  const lie = altered(truth, { stateDigest: new Uint8Array(32).fill(7) });
  assert.equal(cluster.input(3, { kind: 'message', from: 1, message: lie })?.verdict?.outcome, 'accepted');
  cluster.input(3, { kind: 'message', from: 2, message: checkpointOf(cluster, 2, 8) });
  assert.equal(cluster.replicas[3]!.stable.sequence, 0, 'two true votes and a lie are no quorum');
  // Replica 0 relays the certificate it holds, replica 1's true CHECKPOINT in it: the two
  // signatures prove the equivocation, and the true one counts with the others.
  const ready = cluster.input(3, { kind: 'message', from: 0, message: truth });
  assert.deepEqual(ready?.verdict, { outcome: 'rejected', reason: 'equivocation', offender: 1 });
  assert.equal(ready?.evidence.length, 1);
  assert.equal(cluster.replicas[3]!.stable.sequence, 8);
  assert.ok(cluster.replicas[3]!.stable.proof.some((vote) => vote.replica === 1 && vote === truth));
});

test('a CHECKPOINT past the end of a closing epoch is not kept, so it cannot push out one before the end', () => {
  const cluster = executedWithoutCheckpoints();
  const state = cluster.replicas[3]!;
  // As a finalized reconfiguration request sets it: the epoch ends at 16.
  state.epochEnd = 16;
  const truth = checkpointOf(cluster, 1, 8);
  cluster.input(3, { kind: 'message', from: 1, message: truth });
  // Invented sequences past the end, more than a sender may hold votes for.
  for (const sequence of [24, 32, 40, 48, 56]) {
    const ready = cluster.input(3, { kind: 'message', from: 1, message: altered(truth, { sequence }) });
    assert.deepEqual(ready?.verdict, { outcome: 'ignored', reason: 'above-watermark' });
  }
  assert.deepEqual([...state.checkpointVotes.keys()], [8]);
  cluster.input(3, { kind: 'message', from: 2, message: checkpointOf(cluster, 2, 8) });
  assert.equal(state.stable.sequence, 8, "replica 1's vote at 8 still counts");
});
