/**
 * A reconfiguration request ordered like a vertex closes its epoch at
 * end(e) = floor((s_r - 1) / K) * K + L, the same at every replica; the primary fills the
 * sequences up to it; nobody votes past it; the history is durable and read back on restart
 * (docs/reconfiguration.md, "Where an epoch ends"). The switch to the next epoch is not built
 * yet: these tests stop at end(e).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createVertex,
  type EpochRecord,
  epochEnd,
  isSignedKind,
  type NextEpoch,
  type RequestReader,
  type Vertex,
} from '../../src/protocol/index.ts';
import { TestCluster, vertices } from '../support/cluster.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

const K = 4;
const L = 8;
const NODES = ['a', 'b', 'c', 'd'];
const PREFIX = 'reconfigure:';

/**
 * The test's requests: `reconfigure:<from>:<nodes>`. A real reader checks operator signatures
 * (src/reconfig); the core only needs a deterministic answer.
 */
const reader: RequestReader = (payload, current) => {
  const text = new TextDecoder().decode(payload);
  if (!text.startsWith(PREFIX)) return null;
  const [from, nodes] = text.slice(PREFIX.length).split(':');
  if (Number(from) !== current.number || nodes === undefined) return null;
  return { nodes: nodes.split(','), options: { checkpointInterval: K, watermarkWindow: L } };
};

function request(from: number, nodes: readonly string[], label = ''): Vertex {
  const payload = new TextEncoder().encode(`${PREFIX}${from}:${nodes.join(',')}${label}`);
  return createVertex(payload, { validThrough: TEST_VALID_THROUGH });
}

function cluster(): TestCluster {
  return new TestCluster(4, {
    checkpointInterval: K,
    watermarkWindow: L,
    pipelineDepth: 2,
    reconfiguration: { reader, nodes: NODES },
  });
}

/** Runs client rounds until the replicas executed `sequence`. */
function runTo(c: TestCluster, sequence: number): void {
  for (let round = 0; round < 100 && c.replicas[0]!.lastExecuted < sequence; round++) {
    c.propose(0, vertices(1, 'load'));
    c.run();
  }
}

function highestVote(c: TestCluster, replica: number): number {
  let highest = 0;
  for (const message of c.signed[replica]!) {
    if (!isSignedKind(message)) continue;
    if (message.kind === 'pre-prepare' || message.kind === 'prepare' || message.kind === 'commit')
      highest = Math.max(highest, message.sequence);
  }
  return highest;
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

test('a request closes the epoch at end(e) everywhere; the primary fills to it; nobody votes past it', () => {
  const c = cluster();
  runTo(c, 5);
  const next: NextEpoch = {
    nodes: ['a', 'b', 'c', 'e'],
    options: { checkpointInterval: K, watermarkWindow: L },
  };
  c.propose(0, [request(0, next.nodes)]);
  c.run();
  const sR = c.replicas[0]!.epochs[0]!.closedAt!;
  assert.ok(sR >= 6, `the request executed at ${sR}`);
  const end = epochEnd(sR, K, L);
  // Without client load the primary fills the sequences up to end(e) with empty batches.
  c.tickAll(5);
  for (const [replica, state] of c.replicas.entries()) {
    assert.equal(state.epochEnd, end, `replica ${replica} knows end(e)`);
    assert.deepEqual(state.nextEpoch, next);
    assert.equal(state.lastExecuted, end, `replica ${replica} executed up to end(e)`);
    assert.deepEqual(
      state.epochs.map((epoch: EpochRecord) => [epoch.number, epoch.start, epoch.end, epoch.closedAt]),
      [
        [0, 1, end, sR],
        [1, end + 1, null, null],
      ],
    );
  }
  // Client load after end(e) is not ordered in this epoch: no replica votes past it.
  for (let round = 0; round < 5; round++) {
    c.propose(round % 4, vertices(2, 'late'));
    c.run();
    c.tickAll(20);
  }
  for (let replica = 0; replica < 4; replica++) {
    assert.equal(highestVote(c, replica), end, `replica ${replica} voted up to end(e) and no further`);
    assert.equal(c.replicas[replica]!.lastExecuted, end);
  }
  // The history was written in the step that finalized the request.
  const ready = c.readies[1]!.find((r) => r.writes.some((w) => w.kind === 'epoch'))!;
  assert.deepEqual(
    ready.writes.filter((w) => w.kind === 'finalized' || w.kind === 'epoch').map((w) => w.kind),
    ['finalized', 'epoch', 'epoch'],
  );
});

test('a second request in the same epoch, and one for another epoch, are skipped everywhere', () => {
  const c = cluster();
  runTo(c, 2);
  c.propose(0, [request(1, ['a', 'b', 'c']), request(0, ['a', 'b', 'c', 'e'], ':first')]);
  c.run();
  c.propose(0, [request(0, ['a', 'b', 'c', 'f'], ':second')]);
  c.run();
  for (const state of c.replicas) {
    assert.deepEqual(state.nextEpoch?.nodes, ['a', 'b', 'c', 'e']);
    assert.equal(state.epochs.length, 2);
    assert.match(new TextDecoder().decode(state.epochs[1]!.opening), /:first$/);
  }
});

test('a replica that restarts after the request knows end(e) and still votes no further', () => {
  const c = cluster();
  runTo(c, 3);
  c.propose(0, [request(0, ['a', 'b', 'c', 'e'])]);
  c.run();
  const end = c.replicas[2]!.epochEnd!;
  assert.equal(c.replicas[2]!.lastExecuted, end, 'the epoch was filled');
  c.crash(2);
  c.restart(2);
  const restored = c.replicas[2]!;
  assert.equal(restored.epochEnd, end);
  assert.deepEqual(restored.nextEpoch?.nodes, ['a', 'b', 'c', 'e']);
  assert.deepEqual(restored.epochs, c.replicas[0]!.epochs);
  c.tickAll(10);
  for (let round = 0; round < 3; round++) {
    c.propose(0, vertices(2, 'after-restart'));
    c.run();
    c.tickAll(20);
  }
  assert.equal(highestVote(c, 2), end);
  assert.equal(c.replicas[2]!.lastExecuted, end);
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
