/**
 * A reconfiguration request ordered like a vertex closes its epoch at
 * end(e) = floor((s_r - 1) / K) * K + L, the same at every replica; the primary fills the
 * sequences up to it; nobody votes past it in the old epoch; once the checkpoint at end(e) is
 * stable every replica switches to the next epoch, in view 0, and goes on in it. The history is
 * durable and read back on restart (docs/reconfiguration.md, "Where an epoch ends" and "The
 * hand-over"). Joiners are not covered here: they need state transfer from the hand-over
 * checkpoint (step 5).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type EpochRecord, epochEnd, isSignedKind, type RequestReader } from '../../src/protocol/index.ts';
import { TestCluster, vertices } from '../support/cluster.ts';
import { testReader, testRequest } from '../support/reconfiguration.ts';

const K = 4;
const L = 8;
const NODES = ['a', 'b', 'c', 'd'];
const reader = testReader({ checkpointInterval: K, watermarkWindow: L });
const request = testRequest;

function cluster(nodes: readonly string[] = NODES): TestCluster {
  return new TestCluster(nodes.length, {
    checkpointInterval: K,
    watermarkWindow: L,
    pipelineDepth: 2,
    statusIntervalTicks: 5,
    reconfiguration: { reader, nodes },
  });
}

/** Runs client rounds until the replicas executed `sequence`. */
function runTo(c: TestCluster, sequence: number): void {
  for (let round = 0; round < 100 && c.replicas[0]!.lastExecuted < sequence; round++) {
    c.propose(0, vertices(1, 'load'));
    c.run();
  }
}

/** The highest sequence `replica` voted for in `epoch`, and how many votes it signed there. */
function votesIn(c: TestCluster, replica: number, epoch: number): { highest: number; count: number } {
  let highest = 0;
  let count = 0;
  for (const message of c.signed[replica]!) {
    if (!isSignedKind(message) || message.epoch !== epoch) continue;
    if (message.kind === 'pre-prepare' || message.kind === 'prepare' || message.kind === 'commit') {
      highest = Math.max(highest, message.sequence);
      count++;
    }
  }
  return { highest, count };
}

/** Orders a request to go from epoch `from` to `nodes`; returns where it executed and end(e). */
function reconfigure(c: TestCluster, from: number, nodes: readonly string[]): { sR: number; end: number } {
  c.propose(0, [request(from, nodes)]);
  c.run();
  const closed = c.replicas[0]!.epochs.find((epoch) => epoch.number === from)!;
  assert.ok(closed.closedAt !== null && closed.end !== null, `epoch ${from} was closed`);
  return { sR: closed.closedAt, end: closed.end };
}

test('end(e) is the end of the window of the last checkpoint below the request', () => {
  assert.equal(epochEnd(1, 4, 8), 8);
  assert.equal(epochEnd(4, 4, 8), 8);
  assert.equal(epochEnd(5, 4, 8), 12);
  assert.equal(epochEnd(33, 16, 32), 64);
  for (let s = 1; s <= 100; s++) {
    const end = epochEnd(s, 16, 48);
    assert.ok(end % 16 === 0 && end >= s + 32 && end < s + 48, `s_r ${s}: end ${end}`);
  }
});

test('a request closes the epoch at end(e) everywhere, and the primary fills the rest of it', () => {
  const c = cluster();
  runTo(c, 5);
  const { sR, end } = reconfigure(c, 0, NODES);
  assert.ok(sR >= 6, `the request executed at ${sR}`);
  assert.equal(end, epochEnd(sR, K, L));
  // No client load was needed: the primary filled the sequences up to end(e).
  for (const [replica, state] of c.replicas.entries()) {
    assert.ok(state.lastExecuted >= end, `replica ${replica} executed up to end(e)`);
    assert.deepEqual(
      state.epochs.map((epoch: EpochRecord) => [epoch.number, epoch.start, epoch.end, epoch.closedAt]),
      [
        [0, 1, end, sR],
        [1, end + 1, null, null],
      ],
    );
    assert.equal(votesIn(c, replica, 0).highest, end, `replica ${replica} voted in epoch 0 up to end(e)`);
  }
  // The history was written in the step that finalized the request.
  const ready = c.readies[1]!.find((r) => r.writes.some((w) => w.kind === 'epoch'))!;
  assert.deepEqual(
    ready.writes.filter((w) => w.kind === 'finalized' || w.kind === 'epoch').map((w) => w.kind),
    ['finalized', 'epoch', 'epoch'],
  );
});

test('at the checkpoint of end(e) every replica switches to the next epoch, view 0, and goes on in it', () => {
  const c = cluster();
  runTo(c, 3);
  const { end } = reconfigure(c, 0, NODES);
  runTo(c, end + 3 * K);
  for (const [replica, state] of c.replicas.entries()) {
    assert.equal(state.epoch, 1, `replica ${replica} is in epoch 1`);
    assert.equal(state.view, 0);
    assert.ok(state.lastExecuted >= end + 3 * K);
    assert.equal(votesIn(c, replica, 0).highest, end, 'no vote of epoch 0 above end(e)');
    assert.ok(votesIn(c, replica, 1).count > 0, 'it votes in epoch 1');
    for (const message of c.signed[replica]!) {
      if (!isSignedKind(message) || !('sequence' in message)) continue;
      if (message.kind === 'checkpoint' && message.sequence === end) continue;
      assert.equal(message.epoch, message.sequence <= end ? 0 : 1, `${message.kind} ${message.sequence}`);
    }
  }
  assert.deepEqual(c.history(1), c.history(0));
});

test('a validator left out of the next epoch stops voting; the others go on with its quorum', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e'];
  const c = cluster(nodes);
  runTo(c, 2);
  const { end } = reconfigure(c, 0, nodes.slice(0, 4));
  runTo(c, end + 2 * K);
  const left = c.replicas[4]!;
  assert.equal(left.member, false);
  assert.equal(votesIn(c, 4, 1).count, 0, 'the replica that left signed nothing in epoch 1');
  assert.ok(c.readies[4]!.some((ready) => ready.events.some((event) => event.kind === 'left-validator-set')));
  for (let replica = 0; replica < 4; replica++) {
    const state = c.replicas[replica]!;
    assert.equal(state.config.replicaCount, 4);
    assert.equal(state.config.quorum, 3);
    assert.ok(state.lastExecuted >= end + 2 * K);
  }
  // It keeps quiet whatever it hears.
  const before = c.signed[4]!.length;
  c.tickAll(50);
  assert.equal(c.signed[4]!.length, before);
});

test('a second request in the same epoch, and one for another epoch, are skipped everywhere', () => {
  const c = cluster();
  runTo(c, 2);
  c.propose(0, [request(1, ['a', 'b', 'c']), request(0, ['a', 'b', 'c', 'e'], ':first')]);
  c.run();
  c.propose(0, [request(0, ['a', 'b', 'c', 'f'], ':second')]);
  c.run();
  for (const state of c.replicas) {
    assert.equal(state.epochs.length, 2);
    assert.match(new TextDecoder().decode(state.epochs[1]!.opening), /:first$/);
  }
});

test('a request that would change K, L or the deduplication horizon is skipped everywhere', () => {
  const changing: RequestReader = (payload, current) => {
    const next = reader(payload, current);
    return next === null ? null : { ...next, options: { checkpointInterval: 2 * K, watermarkWindow: 2 * L } };
  };
  const c = new TestCluster(4, {
    checkpointInterval: K,
    watermarkWindow: L,
    reconfiguration: { reader: changing, nodes: NODES },
  });
  c.propose(0, [request(0, NODES)]);
  c.run();
  runTo(c, 3 * L);
  assert.equal(c.replicas[0]!.epochs.length, 1);
  assert.equal(c.replicas[0]!.epoch, 0);
});

test('a replica that restarts between the request and the switch knows end(e) and switches after', () => {
  const c = cluster();
  runTo(c, 3);
  // CHECKPOINTs between replicas are lost, so nobody reaches the hand-over checkpoint yet.
  c.filter = (envelope) => envelope.message.kind !== 'checkpoint' || envelope.from === envelope.to;
  const { end } = reconfigure(c, 0, NODES);
  assert.equal(c.replicas[2]!.epochEnd, end);
  c.crash(2);
  c.restart(2);
  const restored = c.replicas[2]!;
  assert.equal(restored.epoch, 0);
  assert.equal(restored.epochEnd, end);
  assert.deepEqual(restored.nextEpoch?.nodes, NODES);
  assert.deepEqual(restored.epochs, c.replicas[0]!.epochs);
  c.filter = () => true;
  c.tickAll(20);
  runTo(c, end + 2 * K);
  assert.equal(c.replicas[2]!.epoch, 1);
  assert.equal(votesIn(c, 2, 0).highest, end);
  assert.ok(c.replicas[2]!.lastExecuted >= end + 2 * K);
});

test('a replica that missed the hand-over gets it from peers already in the next epoch', () => {
  const c = cluster();
  runTo(c, 3);
  // Replica 3 hears no CHECKPOINT from its peers: they switch, it stays behind at end(e).
  c.filter = (envelope) => envelope.to !== 3 || envelope.message.kind !== 'checkpoint' || envelope.from === 3;
  const { end } = reconfigure(c, 0, NODES);
  runTo(c, end + K);
  assert.equal(c.replicas[0]!.epoch, 1);
  assert.equal(c.replicas[3]!.epoch, 0);
  assert.equal(c.replicas[3]!.lastExecuted, end);
  // Its STATUS of epoch 0 is answered with the hand-over certificate by the others.
  c.filter = () => true;
  for (let tick = 0; tick < 100 && c.replicas[3]!.epoch === 0; tick++) c.tickAll();
  assert.equal(c.replicas[3]!.epoch, 1, 'replica 3 switched');
  runTo(c, end + 3 * K);
  for (let tick = 0; tick < 100 && c.replicas[3]!.lastExecuted < c.replicas[0]!.lastExecuted; tick++)
    c.tickAll();
  assert.deepEqual(c.history(3), c.history(0));
  assert.equal(votesIn(c, 3, 0).highest, end);
});

test('a replica that restarts after the switch comes back in the new epoch', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e'];
  const c = cluster(nodes);
  runTo(c, 2);
  const { end } = reconfigure(c, 0, ['a', 'b', 'c', 'd']);
  runTo(c, end + K);
  c.crash(3);
  c.restart(3);
  const restored = c.replicas[3]!;
  assert.equal(restored.epoch, 1);
  assert.equal(restored.config.replicaCount, 4);
  assert.equal(restored.config.self, 3);
  assert.equal(restored.handover?.end, end);
  c.crash(4);
  c.restart(4);
  assert.equal(c.replicas[4]!.member, false, 'the replica that left stays out after a restart');
  runTo(c, end + 3 * K);
  assert.ok(c.replicas[3]!.lastExecuted >= end + 3 * K);
  assert.deepEqual(c.history(3), c.history(0));
});

test('a view change right after the switch carries the hand-over checkpoint of the old epoch', () => {
  const c = cluster();
  runTo(c, 3);
  const { end } = reconfigure(c, 0, NODES);
  runTo(c, end + 1);
  assert.ok(c.replicas.every((state) => state.epoch === 1 && state.stable.sequence === end));
  c.crash(0);
  c.propose(1, vertices(1, 'after-crash'));
  c.tickAll(400);
  for (const replica of [1, 2, 3]) {
    const state = c.replicas[replica]!;
    assert.equal(state.epoch, 1);
    assert.ok(state.view >= 1 && state.viewActive, `replica ${replica} changed views in epoch 1`);
    assert.ok(state.lastExecuted > end + 1, 'the vertex was finalized in the new view');
  }
  const viewChange = c.signed[1]!.find((message) => message.kind === 'view-change');
  assert.ok(viewChange && viewChange.kind === 'view-change' && viewChange.epoch === 1);
  assert.equal(viewChange.checkpoint.sequence, end);
  assert.ok(viewChange.checkpoint.proof.every((checkpoint) => checkpoint.epoch === 0));
});

test('without a reader a request is an ordinary vertex', () => {
  const c = new TestCluster(4, { checkpointInterval: K, watermarkWindow: L });
  c.propose(0, [request(0, ['a', 'b', 'c', 'e'])]);
  c.run();
  runTo(c, 3 * L);
  assert.equal(c.replicas[0]!.epochEnd, null);
  assert.equal(c.replicas[0]!.epochs.length, 1);
  assert.ok(c.replicas[0]!.lastExecuted >= 3 * L);
});
