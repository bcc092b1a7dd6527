import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVertex, type Vertex } from '../../src/protocol/index.ts';
import { TestCluster, vertices } from '../support/cluster.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

let largeCounter = 0;

test('four honest replicas finalize the same batches in the same order (4.2)', () => {
  const cluster = new TestCluster(4);
  for (let round = 0; round < 20; round++) {
    cluster.propose(round % 4, vertices(3, `round-${round}`));
    cluster.run();
  }
  const reference = cluster.history(0);
  assert.ok(reference.length > 0, 'something was finalized');
  for (let replica = 1; replica < 4; replica++) assert.deepEqual(cluster.history(replica), reference);
  const finalized = cluster.delivered[0]!.flatMap((delivery) => delivery.vertices);
  assert.equal(finalized.length, 60, 'every proposed vertex is finalized once');
  for (let replica = 1; replica < 4; replica++) {
    const other = cluster.delivered[replica]!.flatMap((delivery) =>
      delivery.vertices.map((v) => Buffer.from(v.hash).toString('hex')),
    );
    assert.deepEqual(
      other,
      finalized.map((v) => Buffer.from(v.hash).toString('hex')),
    );
  }
});

test('a vertex proposed at several replicas is finalized once (4.2, deduplication)', () => {
  const cluster = new TestCluster(4);
  const [vertex] = vertices(1);
  for (let replica = 0; replica < 4; replica++) cluster.propose(replica, [vertex!]);
  cluster.run();
  for (let replica = 0; replica < 4; replica++) {
    const count = cluster.delivered[replica]!.flatMap((delivery) => delivery.vertices).length;
    assert.equal(count, 1, `replica ${replica} finalized the vertex exactly once`);
  }
});

test('watermarks stop a leader from running ahead (4.2): no PRE-PREPARE above h + L', () => {
  const window = 16;
  const cluster = new TestCluster(4, {
    checkpointInterval: 8,
    watermarkWindow: window,
    pipelineDepth: window,
    batchCountMax: 1,
  });
  // No COMMIT reaches anyone: nothing executes, no checkpoint becomes stable, h stays at 0.
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  for (let i = 0; i < 5 * window; i++) cluster.propose(0, vertices(1));
  cluster.run();
  const sequences = cluster.signed[0]!.filter((message) => message.kind === 'pre-prepare').map((message) =>
    message.kind === 'pre-prepare' ? message.sequence : 0,
  );
  assert.equal(Math.max(...sequences), window, 'the primary stops at the high watermark');
  const primary = cluster.replicas[0]!;
  assert.equal(primary.queue.size, 5 * window - window, 'the rest waits in the queue');
  const queuedBytes = [...primary.queue.values()].reduce((sum, { vertex }) => sum + vertex.payload.length, 0);
  assert.equal(primary.queuedBytes, queuedBytes, 'the queue counts its payload bytes');
  // Once COMMITs flow again, the window moves and the primary goes on.
  cluster.filter = () => true;
  cluster.tickAll(60);
  assert.equal(cluster.delivered[0]!.length, 5 * window, 'everything is finalized after the window moves');
  assert.equal(primary.queuedBytes, 0, 'and none are counted once the queue is empty');
});

test('while a sequence is in flight, fewer than pipelineFillCount vertices wait for it to be executed', () => {
  const cluster = new TestCluster(4, { pipelineDepth: 4, pipelineFillCount: 3 });
  const prePrepares = (): number[] =>
    cluster.signed[0]!.flatMap((message) =>
      message.kind === 'pre-prepare' ? [message.batch?.length ?? 0] : [],
    );
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  // An idle pipeline takes a batch of any size at once.
  cluster.propose(0, vertices(1, 'first'));
  cluster.run();
  assert.deepEqual(prePrepares(), [1]);
  // Sequence 1 is in flight: two vertices wait, whether proposed here or forwarded by a backup.
  cluster.propose(0, vertices(1, 'second'));
  cluster.propose(2, vertices(1, 'third'));
  cluster.run();
  assert.deepEqual(prePrepares(), [1]);
  assert.equal(cluster.replicas[0]!.queue.size, 2);
  // A third makes the batch worth a sequence of its own beside the first.
  cluster.propose(0, vertices(1, 'fourth'));
  cluster.run();
  assert.deepEqual(prePrepares(), [1, 3]);
  // Once every sequence in flight is executed, what waited goes however little it is.
  cluster.propose(0, vertices(1, 'fifth'));
  cluster.run();
  assert.deepEqual(prePrepares(), [1, 3]);
  cluster.filter = () => true;
  cluster.tickAll(60);
  assert.deepEqual(prePrepares(), [1, 3, 1]);
  assert.equal(cluster.delivered[0]!.flatMap((delivery) => delivery.vertices).length, 5);
});

test('while a sequence is in flight, a batch worth of bytes waiting starts another before pipelineFillCount vertices do', () => {
  const cluster = new TestCluster(4, { pipelineDepth: 4, pipelineFillCount: 8, batchBytesMax: 300 });
  const prePrepares = (): number[] =>
    cluster.signed[0]!.flatMap((message) =>
      message.kind === 'pre-prepare' ? [message.batch?.length ?? 0] : [],
    );
  // Vertices of 100 payload bytes each: three fill a batch by bytes, far short of 8 by count.
  const large = (): Vertex[] => [
    createVertex(new Uint8Array(100).fill(++largeCounter % 256), { validThrough: TEST_VALID_THROUGH }),
  ];
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  cluster.propose(0, large());
  cluster.run();
  assert.deepEqual(prePrepares(), [1]);
  cluster.propose(0, large());
  cluster.propose(2, large());
  cluster.run();
  assert.deepEqual(prePrepares(), [1], 'two of them (200 bytes) wait for the sequence in flight');
  assert.equal(cluster.replicas[0]!.queuedBytes, 200);
  cluster.propose(0, large());
  cluster.run();
  assert.deepEqual(prePrepares(), [1, 3], 'a third fills a batch by bytes: a second sequence starts');
  assert.equal(cluster.replicas[0]!.queuedBytes, 0);
  cluster.filter = () => true;
  cluster.tickAll(60);
  assert.equal(cluster.delivered[0]!.flatMap((delivery) => delivery.vertices).length, 4);
});

test('the pipeline keeps at most pipelineDepth sequences in flight', () => {
  const cluster = new TestCluster(4, { pipelineDepth: 3, batchCountMax: 1 });
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  for (let i = 0; i < 10; i++) cluster.propose(0, vertices(1));
  cluster.run();
  const proposed = cluster.signed[0]!.filter((message) => message.kind === 'pre-prepare').length;
  assert.equal(proposed, 3);
});
