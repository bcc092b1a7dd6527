import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchDigest, type Message, type PrePrepare } from '../../src/protocol/index.ts';
import { signAs, TestCluster, vertices } from '../support/cluster.ts';

/** Every (kind, epoch, view, sequence) slot a replica voted in, with the digests it signed there. */
function votes(messages: readonly Message[]): Map<string, Set<string>> {
  const slots = new Map<string, Set<string>>();
  for (const message of messages) {
    if (message.kind !== 'pre-prepare' && message.kind !== 'prepare' && message.kind !== 'commit') continue;
    const slot = `${message.kind}/${message.epoch}/${message.view}/${message.sequence}`;
    const digests = slots.get(slot) ?? new Set<string>();
    digests.add(Buffer.from(message.digest).toString('hex'));
    slots.set(slot, digests);
  }
  return slots;
}

test('a replica that sent a vote before a crash never sends a conflicting one after restart', () => {
  const cluster = new TestCluster(4);
  // The primary orders a batch; backup 1 prepares it; then backup 1 crashes and restarts.
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  cluster.propose(0, vertices(2, 'before'));
  cluster.run();
  assert.equal(votes(cluster.signed[1]!).get('prepare/0/0/1')?.size, 1, 'replica 1 prepared sequence 1');
  cluster.crash(1);
  cluster.restart(1);
  cluster.run();
  // A Byzantine primary now offers a different batch for the same view and sequence.
  const other = vertices(2, 'after');
  const conflicting = signAs<PrePrepare>(
    {
      kind: 'pre-prepare',
      epoch: 0,
      view: 0,
      sequence: 1,
      digest: batchDigest(other),
      batch: other,
      replica: 0,
    },
    0,
  );
  const ready = cluster.input(1, { kind: 'message', from: 0, message: conflicting });
  assert.equal(ready?.verdict?.outcome, 'rejected');
  assert.equal(ready?.evidence.length, 1, 'the restarted replica holds evidence of the equivocation');
  cluster.run();
  for (const [slot, digests] of votes(cluster.signed[1]!)) {
    assert.equal(digests.size, 1, `replica 1 signed one digest only in ${slot}`);
  }
});

test('a restarted replica sends again the votes it had made durable, and the batch is finalized', () => {
  const cluster = new TestCluster(4);
  // Everybody's COMMITs are lost; then every replica crashes and restarts from its disk.
  cluster.filter = (envelope) => envelope.message.kind !== 'commit';
  cluster.propose(2, vertices(3, 'restart'));
  cluster.run();
  for (let replica = 0; replica < 4; replica++) cluster.crash(replica);
  cluster.filter = () => true;
  for (let replica = 0; replica < 4; replica++) cluster.restart(replica);
  cluster.run();
  for (let replica = 0; replica < 4; replica++) {
    assert.equal(
      cluster.delivered[replica]!.length,
      1,
      `replica ${replica} finalized sequence 1 after restart`,
    );
  }
});
