/**
 * The detector's scoring rules, on their own: exact thresholds in tenths, permanent bans,
 * suspicion that recovers and never bans alone, non-participation windows, bounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ByzantineDetector,
  type DetectorOptions,
  EQUIVOCATION_SLOTS_REMEMBERED,
  VIOLATION_KINDS,
  type ViolationKind,
} from '../../src/byzantine/index.ts';
import {
  ConfigError,
  type Input,
  type Message,
  type Prepare,
  type Ready,
  type RejectReason,
  type SignedMessage,
} from '../../src/protocol/index.ts';

type Step = Pick<Ready, 'verdict' | 'evidence' | 'suspicions'>;

const QUIET: Step = { verdict: null, evidence: [], suspicions: [] };

function detector(options: Partial<DetectorOptions> = {}): ByzantineDetector {
  return new ByzantineDetector({ replicaCount: 4, self: 0, ...options });
}

function prepare(replica: number, sequence = 1, digestByte = 1, view = 0): Prepare {
  return {
    kind: 'prepare',
    epoch: 0,
    view,
    sequence,
    digest: new Uint8Array(32).fill(digestByte),
    replica,
    signature: new Uint8Array(16),
  };
}

function messageInput(message: Message, from = message.replica): Input {
  return { kind: 'message', from, message };
}

function rejectedStep(offender: number, reason: RejectReason = 'invalid-view-change'): Step {
  return { verdict: { outcome: 'rejected', reason, offender }, evidence: [], suspicions: [] };
}

const ACCEPTED_STEP: Step = { verdict: { outcome: 'accepted' }, evidence: [], suspicions: [] };

/** Records one violation of `kind` by `replica` through the detector's public API. */
function violate(d: ByzantineDetector, replica: number, kind: ViolationKind, nth: number): void {
  switch (kind) {
    case 'equivocation':
      d.detectEquivocation(prepare(replica, nth, 1), prepare(replica, nth, 2));
      return;
    case 'invalid-signature':
      d.detectInvalidSignature(replica);
      return;
    case 'malformed-message':
      d.detectMalformed(replica, 'truncated frame');
      return;
    case 'timeout':
      d.detectTimeout(replica, nth);
      return;
    case 'non-participation':
      throw new Error('non-participation is recorded by tick() only');
  }
}

const PROVEN_KINDS = ['equivocation', 'invalid-signature', 'malformed-message'] as const;

test('reputation reaches exactly the ban threshold after the configured number of violations: 7 -> 0.3, 8 -> banned', () => {
  for (const kind of PROVEN_KINDS) {
    const d = detector();
    for (let nth = 1; nth <= 7; nth++) violate(d, 2, kind, nth);
    assert.equal(d.getReputationTenths(2), 3, kind);
    assert.equal(d.getReputation(2), 0.3, `${kind}: exactly 0.3, no float drift`);
    assert.equal(d.isBanned(2), false, `${kind}: 0.3 is not below 0.3`);
    violate(d, 2, kind, 8);
    assert.equal(d.getReputation(2), 0.2);
    assert.equal(d.isBanned(2), true, `${kind}: the eighth violation bans`);
    assert.equal(d.stats().violations[kind], 8);
  }
});

test('reputation reaches exactly the ban threshold with non-default figures', () => {
  // Start at 2.0, malformed messages cost 0.3, banned below 0.5: five leave exactly 0.5.
  const d = detector({
    initialReputationTenths: 20,
    penaltyTenths: { 'malformed-message': 3 },
    banBelowTenths: 5,
  });
  for (let nth = 1; nth <= 5; nth++) d.detectMalformed(1, 'bad');
  assert.equal(d.getReputation(1), 0.5);
  assert.equal(d.isBanned(1), false);
  d.detectMalformed(1, 'bad');
  assert.equal(d.getReputation(1), 0.2);
  assert.equal(d.isBanned(1), true);
  // Other kinds keep the default penalty of one tenth.
  d.detectInvalidSignature(2);
  assert.equal(d.getReputationTenths(2), 19);
  // A penalty of 0 disables a kind.
  const lenient = detector({ penaltyTenths: { 'invalid-signature': 0 } });
  for (let nth = 0; nth < 50; nth++) lenient.detectInvalidSignature(3);
  assert.equal(lenient.getReputation(3), 1);
  assert.equal(lenient.stats().violations['invalid-signature'], 50, 'still counted');
});

test('a banned replica is reported once by recordStep and stays banned for good', () => {
  const d = detector({ suspicionRecoveryTicks: 1 });
  const reported: number[][] = [];
  for (let nth = 1; nth <= 10; nth++)
    reported.push(d.recordStep(messageInput(prepare(3, nth)), rejectedStep(3)));
  assert.deepEqual(reported, [[], [], [], [], [], [], [], [3], [], []]);
  assert.equal(d.isBanned(3), true);
  for (let tick = 0; tick < 100; tick++) assert.deepEqual(d.tick(), []);
  assert.equal(d.isBanned(3), true, 'proven violations never recover');
  assert.equal(d.getReputationTenths(3), 0);
  assert.deepEqual(d.stats().banned, [3]);
});

test('suspicion alone never bans and recovers over ticks', () => {
  const d = detector({ suspicionRecoveryTicks: 10 });
  for (let view = 1; view <= 100; view++) d.detectTimeout(1, view);
  assert.equal(d.stats().violations.timeout, 100);
  assert.equal(d.getReputation(1), 0.3, 'floored at exactly the threshold');
  assert.equal(d.isBanned(1), false);
  assert.deepEqual(d.stats().suspected, [1]);
  // One tenth per 10 quiet ticks: 70 ticks to recover fully.
  for (let tick = 1; tick <= 70; tick++) {
    assert.deepEqual(d.tick(), []);
    assert.equal(d.getReputationTenths(1), 3 + Math.floor(tick / 10), `after ${tick} ticks`);
  }
  assert.equal(d.getReputation(1), 1);
  assert.deepEqual(d.stats().suspected, []);
  // A new suspicion restarts the quiet period.
  d.detectTimeout(1, 101);
  for (let tick = 0; tick < 9; tick++) d.tick();
  d.detectTimeout(1, 102);
  for (let tick = 0; tick < 9; tick++) d.tick();
  assert.equal(d.getReputationTenths(1), 8);
});

test('proven violations plus suspicion can ban, and the ban may come from a tick', () => {
  const d = detector({ nonParticipationWindowTicks: 5, suspicionRecoveryTicks: 1000 });
  d.detectMalformed(2, 'bad');
  for (let view = 1; view <= 6; view++) d.detectTimeout(2, view);
  assert.equal(d.getReputation(2), 0.3);
  assert.equal(d.isBanned(2), false);
  // Replica 1 votes, replica 2 does not: the window's non-participation suspicion bans it.
  d.recordStep(messageInput(prepare(1)), ACCEPTED_STEP);
  const banned: number[] = [];
  for (let tick = 0; tick < 5; tick++) banned.push(...d.tick());
  assert.deepEqual(banned, [2]);
  assert.equal(d.getReputation(2), 0.2);
});

test('non-participation: one suspicion per window for a replica absent while others vote; an idle window blames nobody', () => {
  const d = detector({ nonParticipationWindowTicks: 10 });
  // An idle window.
  for (let tick = 0; tick < 10; tick++) d.tick();
  assert.equal(d.stats().violations['non-participation'], 0);
  // Replicas 1 and 2 vote (a COMMIT and a CHECKPOINT), replica 3 does not.
  d.recordStep(messageInput({ ...prepare(1), kind: 'commit' }), ACCEPTED_STEP);
  d.recordStep(
    messageInput({
      kind: 'checkpoint',
      epoch: 0,
      sequence: 16,
      stateDigest: new Uint8Array(32),
      replica: 2,
      signature: new Uint8Array(16),
    }),
    ACCEPTED_STEP,
  );
  // Relayed: the signer participated, not the relay; and an ignored vote does not count.
  d.recordStep(messageInput(prepare(1), 3), ACCEPTED_STEP);
  d.recordStep(messageInput(prepare(3)), {
    verdict: { outcome: 'ignored', reason: 'stale-view' },
    evidence: [],
    suspicions: [],
  });
  for (let tick = 0; tick < 10; tick++) d.tick();
  assert.equal(d.stats().violations['non-participation'], 1);
  assert.deepEqual(d.stats().suspected, [3]);
  assert.equal(d.getReputationTenths(3), 9);
  assert.equal(d.getReputationTenths(1), 10);
  assert.equal(d.getReputationTenths(2), 10);
});

test('recordStep maps core outcomes: equivocation with evidence counts once, other rejections are malformed messages, timeouts are suspicions', () => {
  const d = detector();
  const first = prepare(2, 5, 1);
  const second = prepare(2, 5, 2);
  d.recordStep(messageInput(second), {
    verdict: { outcome: 'rejected', reason: 'equivocation', offender: 2 },
    evidence: [{ kind: 'equivocation', replica: 2, first, second }],
    suspicions: [],
  });
  assert.equal(d.stats().violations.equivocation, 1);
  assert.equal(d.evidence().length, 1);
  // The same offence relayed again, by another replica: not counted twice.
  d.recordStep(messageInput(second, 1), {
    verdict: { outcome: 'rejected', reason: 'equivocation', offender: 2 },
    evidence: [{ kind: 'equivocation', replica: 2, first, second }],
    suspicions: [],
  });
  assert.equal(d.stats().violations.equivocation, 1);
  assert.equal(d.getReputationTenths(2), 9);
  // Every other rejection reason is a malformed message, blamed on the offender named.
  for (const reason of ['not-primary', 'digest-mismatch', 'invalid-new-view'] as const) {
    d.recordStep(messageInput(prepare(2), 1), rejectedStep(3, reason));
  }
  assert.equal(d.stats().violations['malformed-message'], 3);
  assert.equal(d.getReputationTenths(3), 7);
  // Timeouts from the core, once per (leader, view); never a rejection for non-message inputs.
  const tick: Input = { kind: 'tick' };
  d.recordStep(tick, { verdict: null, evidence: [], suspicions: [{ kind: 'timeout', replica: 1, view: 4 }] });
  d.recordStep(tick, { verdict: null, evidence: [], suspicions: [{ kind: 'timeout', replica: 1, view: 4 }] });
  d.detectTimeout(1, 4);
  assert.equal(d.stats().violations.timeout, 1);
  assert.equal(d.getReputationTenths(1), 9);
  d.recordStep({ kind: 'propose', vertices: [] }, rejectedStep(1, 'invalid-request'));
  assert.equal(d.getReputationTenths(1), 9);
  assert.deepEqual(d.recordStep({ kind: 'banned', replica: 3 }, QUIET), []);
});

test('self is never banned and never suspected', () => {
  const d = detector({ self: 1, nonParticipationWindowTicks: 1 });
  for (let nth = 1; nth <= 20; nth++) d.detectInvalidSignature(1);
  for (let view = 1; view <= 20; view++) d.detectTimeout(1, view);
  d.recordStep(messageInput(prepare(2)), ACCEPTED_STEP);
  d.tick();
  assert.equal(d.isBanned(1), false);
  assert.equal(d.stats().violations['invalid-signature'], 20, 'proven ones are counted for operators');
  assert.equal(d.stats().violations.timeout, 0);
  assert.deepEqual(d.stats().banned, []);
  assert.ok(!d.stats().suspected.includes(1));
});

test('ids outside the cluster and odd inputs are ignored, never thrown on', () => {
  const d = detector();
  for (const id of [-1, 4, 1.5, Number.NaN, 2 ** 40]) {
    d.detectInvalidSignature(id);
    d.detectMalformed(id, 'x');
    d.detectTimeout(id, 1);
    assert.equal(d.detectEquivocation(prepare(id, 1, 1), prepare(id, 1, 2)), null);
    d.recordStep(messageInput(prepare(1)), rejectedStep(id));
    assert.equal(d.isBanned(id), false);
    assert.equal(d.getReputationTenths(id), 0);
  }
  d.detectTimeout(1, -1);
  d.detectTimeout(1, Number.NaN);
  d.detectInvalidSignature(1, null as unknown as Message);
  d.detectInvalidSignature(1, { kind: 'nonsense' } as unknown as Message);
  assert.equal(d.detectEquivocation({} as SignedMessage, null as unknown as SignedMessage), null);
  for (const kind of VIOLATION_KINDS) {
    assert.equal(d.stats().violations[kind], kind === 'invalid-signature' ? 2 : 0);
  }
});

test('detectEquivocation needs one signer, one slot and different content', () => {
  const d = detector();
  assert.equal(d.detectEquivocation(prepare(1, 1, 1), prepare(1, 1, 1)), null, 'same content');
  assert.equal(d.detectEquivocation(prepare(1, 1, 1), prepare(2, 1, 2)), null, 'two signers');
  assert.equal(d.detectEquivocation(prepare(1, 1, 1), prepare(1, 2, 2)), null, 'two sequences');
  assert.equal(d.detectEquivocation(prepare(1, 1, 1, 0), prepare(1, 1, 2, 1)), null, 'two views');
  assert.equal(
    d.detectEquivocation(prepare(1, 1, 1), { ...prepare(1, 1, 2), kind: 'commit' }),
    null,
    'two kinds',
  );
  // A different signature alone is not a conflict (ML-DSA signs randomized).
  assert.equal(
    d.detectEquivocation(prepare(1), { ...prepare(1), signature: new Uint8Array(16).fill(9) }),
    null,
  );
  assert.equal(d.stats().violations.equivocation, 0);
  const evidence = d.detectEquivocation(prepare(1, 1, 1), prepare(1, 1, 2));
  assert.equal(evidence?.replica, 1);
  assert.equal(d.stats().violations.equivocation, 1);
});

test('memory is bounded: one piece of evidence per (replica, kind), a fixed number of remembered slots', () => {
  const d = detector({ banBelowTenths: 0 });
  for (let sequence = 1; sequence <= 3 * EQUIVOCATION_SLOTS_REMEMBERED; sequence++) {
    d.detectEquivocation(prepare(1, sequence, 1), prepare(1, sequence, 2));
    d.detectEquivocation(prepare(2, sequence, 1), prepare(2, sequence, 2));
  }
  assert.equal(d.stats().evidence, 2);
  assert.equal(d.evidence().length, 2);
  assert.equal(d.stats().violations.equivocation, 6 * EQUIVOCATION_SLOTS_REMEMBERED);
  assert.equal(d.getReputationTenths(1), 0, 'reputation never goes below zero');
  assert.equal(d.isBanned(1), false, 'banBelowTenths 0 bans nobody');
});

test('bad options throw ConfigError naming the field', () => {
  const cases: [Partial<DetectorOptions>, string][] = [
    [{ replicaCount: 0 }, 'replicaCount'],
    [{ replicaCount: 2.5 }, 'replicaCount'],
    [{ replicaCount: undefined as unknown as number }, 'replicaCount'],
    [{ self: 4 }, 'self'],
    [{ self: -1 }, 'self'],
    [{ initialReputationTenths: 0 }, 'initialReputationTenths'],
    [{ penaltyTenths: { timeout: -1 } }, 'penaltyTenths.timeout'],
    [{ penaltyTenths: { timeout: 0.5 } }, 'penaltyTenths.timeout'],
    [{ penaltyTenths: { bogus: 1 } as Partial<Record<ViolationKind, number>> }, 'penaltyTenths.bogus'],
    [{ banBelowTenths: 11 }, 'banBelowTenths'],
    [{ suspicionRecoveryTicks: 0 }, 'suspicionRecoveryTicks'],
    [{ nonParticipationWindowTicks: -5 }, 'nonParticipationWindowTicks'],
    [{ verification: { scheme: null, publicKeys: [], clusterId: 'c' } as never }, 'verification.scheme'],
  ];
  for (const [options, field] of cases) {
    assert.throws(
      () => detector(options),
      (error: unknown) => error instanceof ConfigError && error.field === field,
      field,
    );
  }
});
