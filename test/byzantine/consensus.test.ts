/**
 * The first design's Byzantine tests: a four-replica cluster of protocol cores with one
 * scripted Byzantine replica, each honest core behind a detector (see `support.ts`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyEvidence } from '../../src/byzantine/index.ts';
import {
  batchDigest,
  type Checkpoint,
  type PrePrepare,
  type Prepare,
  type ViewChange,
} from '../../src/protocol/index.ts';
import { vertices } from '../support/cluster.ts';
import { DetectingCluster, signReally } from './support.ts';

const options = { viewChangeTimeoutTicks: 40, statusIntervalTicks: 10 };
const HONEST = [1, 2, 3];

function prePrepare(batch: ReturnType<typeof vertices>, sequence = 1, view = 0): PrePrepare {
  return signReally<PrePrepare>(
    { kind: 'pre-prepare', epoch: 0, view, sequence, digest: batchDigest(batch), batch, replica: 0 },
    0,
  );
}

/** Ticks every replica, `count` times, running the network after each. */
function tickAll(cluster: DetectingCluster, count: number): void {
  for (let tick = 0; tick < count; tick++) cluster.tickAll();
}

test('consensus with 1 byzantine: equivocation detected', () => {
  // Replica 0, the primary of view 0, orders batch A at sequence 1 for replica 1 and batch B at
  // the same sequence for replicas 2 and 3. Replica 1 learns of B when the others relay it in
  // answer to its STATUS; the others learn of A the same way.
  const cluster = new DetectingCluster(4, [0], options);
  const first = prePrepare(vertices(1, 'a'));
  const second = prePrepare(vertices(1, 'b'));
  cluster.inject(0, first, 1);
  cluster.inject(0, second, 2);
  cluster.inject(0, second, 3);
  cluster.run();
  tickAll(cluster, 200);

  for (const replica of HONEST) {
    const detector = cluster.detector(replica);
    const stats = detector.stats();
    assert.equal(stats.violations.equivocation, 1, `replica ${replica} counts the equivocation once`);
    const evidence = detector.evidence().filter((piece) => piece.kind === 'equivocation');
    assert.equal(evidence.length, 1);
    const [piece] = evidence;
    assert.equal(piece!.replica, 0);
    assert.ok(verifyEvidence(piece!, cluster.context), `replica ${replica}'s evidence verifies`);
    assert.equal(detector.getReputationTenths(1), 10, 'honest replicas are not blamed');
    assert.equal(detector.getReputationTenths(2), 10);
    assert.equal(detector.getReputationTenths(3), 10);
  }
  // Equivocation and the timeout it caused cost 0.2: not yet a ban.
  assert.equal(cluster.detector(1).getReputation(0), 0.8);
  assert.deepEqual(cluster.bans, []);
  // The cluster recovered in view 1, all honest replicas agreeing.
  assert.equal(cluster.history(1).length, 1);
  assert.deepEqual(cluster.history(2), cluster.history(1));
  assert.deepEqual(cluster.history(3), cluster.history(1));
});

test('consensus with 1 byzantine: invalid signature detected', () => {
  // Replica 3, a backup, sends a PREPARE with a broken signature (unprovable: only the channel
  // says it came from 3), then a validly signed VIEW-CHANGE whose prepared certificate carries
  // a forged PRE-PREPARE and forged PREPAREs (provable: 3 vouched for forgeries).
  const cluster = new DetectingCluster(4, [3], options);
  const digest = batchDigest(vertices(1, 'x'));
  const prepare = signReally<Prepare>(
    { kind: 'prepare', epoch: 0, view: 0, sequence: 1, digest, replica: 3 },
    3,
  );
  const broken = { ...prepare, signature: prepare.signature.map((byte, i) => (i === 0 ? byte ^ 1 : byte)) };
  const forged = (replica: number) => new Uint8Array(16).fill(replica);
  const viewChange = signReally<ViewChange>(
    {
      kind: 'view-change',
      epoch: 0,
      view: 1,
      checkpoint: { sequence: 0, stateDigest: cluster.replicas[1]!.genesis, proof: [] },
      prepared: [
        {
          prePrepare: {
            kind: 'pre-prepare',
            epoch: 0,
            view: 0,
            sequence: 1,
            digest,
            batch: null,
            replica: 0,
            signature: forged(0),
          },
          prepares: [1, 2].map((replica) => ({
            kind: 'prepare' as const,
            epoch: 0,
            view: 0,
            sequence: 1,
            digest,
            replica,
            signature: forged(replica),
          })),
        },
      ],
      replica: 3,
    },
    3,
  );
  cluster.inject(3, broken);
  cluster.inject(3, viewChange);
  cluster.run();

  for (const replica of [0, 1, 2]) {
    const detector = cluster.detector(replica);
    assert.equal(detector.stats().violations['invalid-signature'], 2);
    assert.equal(detector.getReputation(3), 0.8);
    const evidence = detector.evidence();
    assert.equal(evidence.length, 1, 'only the vouched-for forgery is provable');
    assert.equal(evidence[0]!.kind, 'invalid-signature');
    assert.equal(evidence[0]!.replica, 3);
    assert.ok(verifyEvidence(evidence[0]!, cluster.context));
    // The core never saw either message.
    assert.equal(cluster.replicas[replica]!.viewChanges.has(3), false);
  }
});

test('consensus with 1 byzantine: timeout detected', () => {
  // Replica 0, the primary, is silent. Work arrives at every honest replica (clients send to
  // all); they time out, suspect replica 0, and move to view 1, where the work is done.
  // Suspicion never bans.
  const cluster = new DetectingCluster(4, [0], options, {
    suspicionRecoveryTicks: 100,
    nonParticipationWindowTicks: 0,
  });
  const work = vertices(2, 'work');
  for (const replica of HONEST) cluster.propose(replica, work);
  cluster.run();
  let ticks = 0;
  while (cluster.history(1).length === 0 && ticks < 1000) {
    cluster.tickAll();
    ticks++;
  }
  assert.equal(cluster.history(1).length, 1, 'the work was finalized in view 1');
  for (const replica of HONEST) {
    const detector = cluster.detector(replica);
    assert.equal(cluster.replicas[replica]!.view, 1);
    assert.equal(detector.stats().violations.timeout, 1);
    assert.deepEqual(detector.stats().suspected, [0]);
    assert.equal(detector.getReputation(0), 0.9);
    assert.equal(detector.isBanned(0), false);
    assert.deepEqual(detector.evidence(), [], 'a timeout proves nothing');
  }
  // Quiet from then on: the suspicion recovers in full.
  tickAll(cluster, 100);
  for (const replica of HONEST) {
    assert.equal(cluster.detector(replica).getReputation(0), 1);
    assert.deepEqual(cluster.detector(replica).stats().suspected, []);
  }
  assert.deepEqual(cluster.bans, []);
});

test('consensus with 1 byzantine: a silent replica is suspected of non-participation but never banned', () => {
  // Replica 3 (a backup) is silent while the others keep finalizing work for a long time.
  const cluster = new DetectingCluster(4, [3], options, {
    suspicionRecoveryTicks: 50,
    nonParticipationWindowTicks: 20,
  });
  for (let round = 0; round < 60; round++) {
    cluster.propose(1, vertices(1, `round-${round}`));
    tickAll(cluster, 10);
  }
  assert.equal(cluster.history(1).length, 60);
  for (const replica of [0, 1, 2]) {
    const detector = cluster.detector(replica);
    assert.ok(detector.stats().violations['non-participation'] >= 7);
    assert.equal(detector.getReputation(3), 0.3, 'suspicion alone stops exactly at the threshold');
    assert.equal(detector.isBanned(3), false);
    for (const honest of [0, 1, 2]) assert.equal(detector.getReputationTenths(honest), 10);
  }
  assert.deepEqual(cluster.bans, []);
});

test('byzantine stats', () => {
  // Replica 3 sends eight PREPAREs with broken signatures: seven leave it at exactly 0.3, the
  // eighth bans it; from then on every honest shell drops its messages unread.
  const cluster = new DetectingCluster(4, [3], options);
  const broken = (sequence: number): Prepare => ({
    kind: 'prepare',
    epoch: 0,
    view: 0,
    sequence,
    digest: batchDigest([]),
    replica: 3,
    signature: new Uint8Array(16),
  });
  for (let sequence = 1; sequence <= 7; sequence++) cluster.inject(3, broken(sequence));
  cluster.run();
  for (const replica of [0, 1, 2]) {
    assert.equal(cluster.detector(replica).getReputation(3), 0.3);
    assert.equal(cluster.detector(replica).isBanned(3), false);
  }
  cluster.inject(3, broken(8));
  cluster.inject(3, broken(9));
  cluster.run();

  for (const replica of [0, 1, 2]) {
    const stats = cluster.detector(replica).stats();
    assert.deepEqual(stats.violations, {
      equivocation: 0,
      'invalid-signature': 8,
      timeout: 0,
      'malformed-message': 0,
      'non-participation': 0,
    });
    assert.deepEqual(stats.banned, [3]);
    assert.deepEqual(stats.suspected, []);
    assert.equal(stats.evidence, 0, 'a broken outer signature proves nothing to third parties');
    assert.deepEqual(stats.reputationTenths, [10, 10, 10, 2]);
    assert.equal(cluster.droppedFromBanned[replica], 1, 'the ninth message was dropped unread');
  }
  // Each honest replica banned replica 3 exactly once, and quorums did not change: the three
  // honest replicas still finalize work.
  assert.deepEqual(cluster.bans.map((ban) => ban.by).sort(), [0, 1, 2]);
  cluster.propose(1, vertices(1, 'after-ban'));
  cluster.run();
  tickAll(cluster, 5);
  assert.equal(cluster.history(0).length, 1);
  assert.deepEqual(cluster.history(1), cluster.history(0));
  assert.deepEqual(cluster.history(2), cluster.history(0));
});

test('a banned primary makes every honest replica give up on its view at once, and together they leave it', () => {
  // Replica 0, the primary, is banned for broken signatures; the honest replicas leave view 0
  // without waiting for a timeout, and finalize work in view 1.
  const cluster = new DetectingCluster(4, [0], options);
  for (let sequence = 1; sequence <= 8; sequence++) {
    cluster.inject(0, {
      kind: 'commit',
      epoch: 0,
      view: 0,
      sequence,
      digest: batchDigest([]),
      replica: 0,
      signature: new Uint8Array(16),
    });
  }
  cluster.run();
  for (const replica of HONEST) {
    assert.equal(cluster.detector(replica).isBanned(0), true);
    assert.ok(cluster.replicas[replica]!.view >= 1, 'moved off the banned primary without a tick');
  }
  cluster.propose(1, vertices(1, 'after'));
  tickAll(cluster, 5);
  assert.equal(cluster.history(1).length, 1);
  // Bans are not suspicion: the view change they caused blames nobody else.
  for (const replica of HONEST) assert.equal(cluster.detector(replica).stats().violations.timeout, 0);
});

test("a banned replica's messages are dropped: banned once, reported once, never seen by the core again", () => {
  // Replica 3 signs CHECKPOINTs at sequences that are not checkpoints: each is validly signed
  // and rejected by the core ('invalid-checkpoint', a malformed message). The eighth bans it.
  const cluster = new DetectingCluster(4, [3], options);
  const checkpoint = (sequence: number) =>
    signReally<Checkpoint>(
      { kind: 'checkpoint', epoch: 0, sequence, stateDigest: batchDigest([]), replica: 3 },
      3,
    );
  for (let sequence = 1; sequence <= 8; sequence++) cluster.inject(3, checkpoint(sequence));
  cluster.run();
  for (const replica of [0, 1, 2]) {
    const detector = cluster.detector(replica);
    assert.equal(detector.isBanned(3), true);
    assert.equal(detector.stats().violations['malformed-message'], 8);
  }
  assert.deepEqual(
    cluster.bans.filter((ban) => ban.replica === 3).map((ban) => ban.by),
    [0, 1, 2],
    'each honest replica reported the ban once',
  );
  // A valid vote from replica 3 now never reaches a core.
  const interval = cluster.replicas[0]!.config.checkpointInterval;
  cluster.inject(3, checkpoint(interval));
  cluster.run();
  for (const replica of [0, 1, 2]) {
    assert.equal(cluster.droppedFromBanned[replica], 1);
    assert.equal(cluster.replicas[replica]!.checkpointVotes.get(interval)?.has(3) ?? false, false);
    assert.equal(cluster.detector(replica).stats().violations['malformed-message'], 8);
  }
});
