/**
 * Exactly once: a vertex is delivered at most once, at any distance, whatever honest replicas
 * retry and whatever a Byzantine primary orders; it is delivered only while it is valid; the
 * delivered set survives a restart exactly; and what a replica accepted survives its crash.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/crypto/index.ts';
import {
  batchDigest,
  createVertex,
  type Delivery,
  type PrePrepare,
  type Vertex,
} from '../../src/protocol/index.ts';
import { signAs, TestCluster, vertices } from '../support/cluster.ts';

const HORIZON = 64;
const OPTIONS = { checkpointInterval: 8, watermarkWindow: 16, dedupHorizonSequences: HORIZON } as const;

const keysOf = (deliveries: readonly Delivery[]): string[] => deliveries.flatMap((delivery) => delivery.keys);

function vertex(label: string, validThrough: number): Vertex {
  return createVertex(new TextEncoder().encode(label), { validThrough });
}

/** Finalizes one batch of `count` fresh vertices per call, from replica 0, to move the sequence on. */
function advance(cluster: TestCluster, sequences: number): void {
  for (let i = 0; i < sequences; i++) {
    const at = cluster.replicas[0]!.lastExecuted;
    cluster.propose(0, vertices(1, 'filler', at + HORIZON - 1));
    cluster.run();
  }
}

test('a vertex proposed again at any distance within its validity is never finalized twice', () => {
  const cluster = new TestCluster(4, OPTIONS);
  const once = vertex('once', HORIZON - 1);
  cluster.propose(1, [once]);
  cluster.run();
  // Proposed again at every replica, again and again, as the sequence moves on: past the
  // watermark window (16) and up to its last valid sequence.
  for (let round = 0; cluster.replicas[0]!.lastExecuted < once.validThrough; round++) {
    advance(cluster, 1);
    cluster.propose(round % 4, [once]);
    cluster.run();
  }
  // And once more after it: still remembered as final, so neither held nor ordered.
  cluster.propose(1, [once]);
  cluster.run();
  assert.equal(cluster.replicas[1]!.pending.size, 0);
  for (let replica = 0; replica < 4; replica++) {
    const count = keysOf(cluster.delivered[replica]!).filter((key) => key === toHex(once.hash)).length;
    assert.equal(count, 1, `replica ${replica} finalized it ${count} times`);
  }
});

test('a vertex is refused once its validThrough is final, and one valid too far ahead is refused', () => {
  const cluster = new TestCluster(4, OPTIONS);
  advance(cluster, 5);
  const executed = cluster.replicas[0]!.lastExecuted;
  const expired = vertex('expired', executed);
  const tooFar = vertex('too far', executed + HORIZON + 1);
  const ready = cluster.propose(2, [expired, tooFar]);
  assert.deepEqual(ready?.refused, [
    { key: toHex(expired.hash), reason: 'expired' },
    { key: toHex(tooFar.hash), reason: 'too-far' },
  ]);
  assert.equal(cluster.replicas[2]!.pending.size, 0, 'neither is held');
});

test('what a Byzantine primary orders that the rule refuses is skipped identically at every replica', () => {
  const cluster = new TestCluster(4, OPTIONS);
  const early = vertex('delivered early', HORIZON - 1);
  cluster.propose(0, [early]);
  cluster.run();
  advance(cluster, 3);
  const sequence = cluster.replicas[1]!.lastExecuted + 1;
  const fresh = vertex('fresh', sequence + 5);
  const expired = vertex('expired', sequence - 1);
  const tooFar = vertex('too far', sequence + HORIZON);
  const batch = [early, expired, fresh, tooFar, fresh];
  // Replica 0 (the primary of view 0) orders a batch no honest primary would, and sends it to
  // the backups alone.
  const prePrepare = signAs<PrePrepare>(
    { kind: 'pre-prepare', epoch: 0, view: 0, sequence, digest: batchDigest(batch), batch, replica: 0 },
    0,
  );
  for (const backup of [1, 2, 3]) cluster.input(backup, { kind: 'message', from: 0, message: prePrepare });
  cluster.run();
  for (const backup of [1, 2, 3]) {
    const delivery = cluster.delivered[backup]!.find((each) => each.sequence === sequence);
    assert.ok(delivery !== undefined, `replica ${backup} finalized sequence ${sequence}`);
    // Only the fresh vertex, once, at its first position in the batch.
    assert.deepEqual(delivery.keys, [toHex(fresh.hash)]);
    assert.deepEqual(delivery.positions, [2]);
    const record = cluster.images[backup]!.finalizedAt(sequence);
    assert.deepEqual(record?.delivered, [2]);
  }
  // The vertex valid too far ahead then was not remembered as delivered: honest ordering
  // within its validity still finalizes it, once.
  advance(cluster, 2);
  cluster.propose(1, [tooFar]);
  cluster.run();
  for (let replica = 1; replica < 4; replica++) {
    const keys = keysOf(cluster.delivered[replica]!);
    assert.equal(keys.filter((key) => key === toHex(tooFar.hash)).length, 1, `replica ${replica}`);
    assert.equal(keys.filter((key) => key === toHex(early.hash)).length, 1, `replica ${replica}`);
  }
});

test('a restarted replica remembers exactly what it delivered within the horizon', () => {
  const cluster = new TestCluster(4, OPTIONS);
  const early = vertex('before the crash', HORIZON - 1);
  cluster.propose(0, [early]);
  cluster.run();
  advance(cluster, 10);
  const before = cluster.replicas[3]!.delivered;
  cluster.crash(3);
  cluster.restart(3);
  const after = cluster.replicas[3]!.delivered;
  assert.equal(after.size, before.size);
  assert.equal(after.sequenceOf(toHex(early.hash)), before.sequenceOf(toHex(early.hash)));
  // Proposed again after the restart, at the restarted replica: not finalized again anywhere.
  cluster.propose(3, [early]);
  cluster.run();
  advance(cluster, 2);
  for (let replica = 0; replica < 4; replica++) {
    const count = keysOf(cluster.delivered[replica]!).filter((key) => key === toHex(early.hash)).length;
    assert.equal(count, 1, `replica ${replica}`);
  }
});

test('a vertex a replica accepted survives its crash: the restarted replica proposes it again', () => {
  // Acknowledged on its own write (acknowledgeCopies 0): the crash alone must not lose it.
  const cluster = new TestCluster(4, { ...OPTIONS, acknowledgeCopies: 0 });
  const accepted = vertex('accepted, then the replica crashed', HORIZON - 1);
  // Replica 2 accepts it, but its REQUEST to the primary is lost with the crash.
  cluster.filter = (envelope) => envelope.from !== 2;
  const ready = cluster.propose(2, [accepted]);
  assert.ok(ready !== null);
  assert.ok(
    ready.writes.some((write) => write.kind === 'accepted'),
    'the acceptance is written',
  );
  assert.deepEqual(ready.released.open({ through: Number.MAX_SAFE_INTEGER } as never).acknowledged, [
    toHex(accepted.hash),
  ]);
  cluster.run();
  cluster.crash(2);
  cluster.filter = () => true;
  advance(cluster, 2);
  assert.equal(
    keysOf(cluster.delivered[0]!).includes(toHex(accepted.hash)),
    false,
    'nobody else ever had it',
  );
  cluster.restart(2);
  cluster.run();
  // Replica 2 catches up on what it missed by state transfer, on its status timer.
  cluster.tickAll(120);
  for (let replica = 0; replica < 4; replica++) {
    const count = keysOf(cluster.delivered[replica]!).filter((key) => key === toHex(accepted.hash)).length;
    assert.equal(count, 1, `replica ${replica} finalized it once`);
  }
});

test('a checkpoint truncates accepted vertices that can no longer be final', () => {
  const cluster = new TestCluster(4, OPTIONS);
  const shortLived = vertex('short-lived', 3);
  cluster.propose(1, [shortLived]);
  cluster.run();
  assert.ok(cluster.images[1]!.accepted.has(toHex(shortLived.hash)));
  advance(cluster, 2 * OPTIONS.checkpointInterval);
  assert.ok(cluster.replicas[1]!.stable.sequence >= OPTIONS.checkpointInterval);
  assert.ok(!cluster.images[1]!.accepted.has(toHex(shortLived.hash)));
  // What replica 1 holds for the primary, as its holder, lives until it cannot be final either.
  for (const held of cluster.images[1]!.accepted.values()) {
    assert.ok(held.validThrough > cluster.replicas[1]!.stable.sequence);
  }
});

test('a restart drops an accepted vertex that expired while the longer-lived list it came in was kept', () => {
  const cluster = new TestCluster(4, { ...OPTIONS, acknowledgeCopies: 0 });
  const shortLived = vertex('accepted with a longer-lived one, expires first', 5);
  const longLived = vertex('accepted with a short-lived one', HORIZON - 1);
  // Replica 2 accepts both in one write; its REQUEST to the primary is lost.
  cluster.filter = (envelope) => envelope.from !== 2;
  cluster.propose(2, [shortLived, longLived]);
  cluster.run();
  cluster.filter = () => true;
  advance(cluster, 2 * OPTIONS.checkpointInterval);
  const replica = cluster.replicas[2]!;
  assert.ok(
    replica.stable.sequence > shortLived.validThrough,
    'a checkpoint truncated past the short-lived one',
  );
  // The store keeps a list until all of it expired: the short-lived vertex is still on disk.
  assert.ok(cluster.images[2]!.accepted.has(toHex(shortLived.hash)));
  cluster.crash(2);
  cluster.restart(2);
  assert.equal(cluster.replicas[2]!.pending.has(toHex(shortLived.hash)), false, 'expired: not held again');
  cluster.tickAll(120);
  advance(cluster, 2);
  for (let at = 0; at < 4; at++) {
    const keys = keysOf(cluster.delivered[at]!);
    assert.equal(
      keys.includes(toHex(shortLived.hash)),
      false,
      `replica ${at} never finalized the expired one`,
    );
    assert.ok(keys.filter((key) => key === toHex(longLived.hash)).length <= 1, `replica ${at}`);
  }
  const everywhere = [0, 1, 3].map(
    (at) => keysOf(cluster.delivered[at]!).filter((key) => key === toHex(longLived.hash)).length,
  );
  assert.deepEqual(
    everywhere,
    [1, 1, 1],
    'the long-lived one is final once at the replicas that never crashed',
  );
});
