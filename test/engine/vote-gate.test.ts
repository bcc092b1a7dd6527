/**
 * The vote gate (`src/engine/vote-gate.ts`): PREPAREs and COMMITs a certificate does not need are
 * not verified; a parked vote is verified after all when a counted one fails; and in a cluster,
 * a vote with a bad signature that was counted does not stall the round it was counted for, nor
 * does one queued behind its sender's frames that wait for their checks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insecureSimulationScheme, type PublicKey, type SignatureScheme } from '../../src/crypto/index.ts';
import { createVertex } from '../../src/engine/index.ts';
import { type GatedVote, VoteGate } from '../../src/engine/vote-gate.ts';
import type { Draft, Status } from '../../src/protocol/index.ts';
import { signDraft } from '../../src/shell/signing.ts';
import { encodeMessage } from '../../src/wire/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { Cluster, finalizedEverywhere, metricValue, payload, recordFinalized } from './cluster.ts';

function vote(
  kind: 'prepare' | 'commit',
  replica: number,
  sequence = 1,
  view = 0,
  digestByte = 7,
): GatedVote {
  return {
    kind,
    epoch: 0,
    view,
    sequence,
    digest: new Uint8Array(32).fill(digestByte),
    replica,
    signature: new Uint8Array(8),
  };
}

/** `gate.admit`, the vote coming on its signer's link. */
function admit(gate: VoteGate, v: GatedVote, release: () => void): boolean {
  return gate.admit(v, `node-${v.replica}`, release);
}

/** A gate whose certificates need `needed` votes, of which the test says how many the core holds. */
function gateWithCore(needed: number) {
  const held = new Map<string, number>();
  const keyOf = (v: GatedVote) => `${v.kind}/${v.view}/${v.sequence}/${v.digest[0]}`;
  const gate = new VoteGate({ missing: (v) => needed - (held.get(keyOf(v)) ?? 0) });
  return {
    gate,
    /** The core recorded `v` (it was stepped and accepted). */
    hold: (v: GatedVote) => held.set(keyOf(v), (held.get(keyOf(v)) ?? 0) + 1),
  };
}

test('votes beyond what the certificate lacks are parked, and dropped once it is complete', () => {
  const { gate, hold } = gateWithCore(2);
  const released: number[] = [];
  const votes = [1, 2, 3].map((replica) => vote('commit', replica));
  assert.equal(
    admit(gate, votes[0]!, () => released.push(1)),
    true,
  );
  assert.equal(
    admit(gate, votes[1]!, () => released.push(2)),
    true,
  );
  assert.equal(
    admit(gate, votes[2]!, () => released.push(3)),
    false,
    'two in flight are enough',
  );
  assert.equal(gate.parked, 1);
  // Both counted votes are recorded: the parked one is never needed.
  hold(votes[0]!);
  gate.settled(votes[0]!);
  hold(votes[1]!);
  gate.settled(votes[1]!);
  assert.equal(released.length, 0);
  // A fourth vote for a complete certificate is not even parked.
  assert.equal(
    admit(gate, vote('commit', 0), () => released.push(0)),
    false,
  );
  assert.equal(gate.parked, 1);
  assert.equal(gate.prune(0, 0, 1), 1, 'executing the sequence drops the parked vote');
  assert.equal(gate.parked, 0);
});

test('a counted vote that is not recorded lets a parked one through, in arrival order', () => {
  const { gate, hold } = gateWithCore(2);
  const released: number[] = [];
  const votes = [1, 2, 3, 0].map((replica) => vote('prepare', replica));
  for (const [i, v] of votes.entries()) admit(gate, v, () => released.push(i));
  assert.equal(gate.parked, 2);
  // The first counted vote fails its check: the first parked one takes its place.
  gate.settled(votes[0]!);
  assert.deepEqual(released, [2]);
  hold(votes[1]!);
  gate.settled(votes[1]!);
  assert.deepEqual(released, [2], 'one recorded and one in flight: still enough');
  // The released vote is counted: if it fails too, the last one goes.
  gate.settled(votes[2]!);
  assert.deepEqual(released, [2, 3]);
  assert.equal(gate.parked, 0);
});

test('a sender that sends its vote again has one vote parked, however often it sends it', () => {
  const { gate } = gateWithCore(1);
  const released: string[] = [];
  const first = vote('commit', 1);
  assert.equal(
    admit(gate, first, () => released.push('first')),
    true,
  );
  for (let i = 0; i < 1000; i++) {
    assert.equal(
      admit(gate, vote('commit', 2), () => released.push(`again ${i}`)),
      false,
    );
  }
  assert.equal(gate.parked, 1);
  // The counted vote is not recorded: the one parked vote takes its place, and no other.
  gate.settled(first);
  assert.deepEqual(released, ['again 0']);
  assert.equal(gate.parked, 0);
});

test('votes for other digests, views and sequences are tallied apart; stale tallies are pruned', () => {
  const { gate } = gateWithCore(1);
  const nothing = () => assert.fail('not released');
  assert.equal(admit(gate, vote('commit', 1, 5, 0, 7), nothing), true);
  assert.equal(admit(gate, vote('commit', 2, 5, 0, 7), nothing), false);
  assert.equal(admit(gate, vote('commit', 2, 5, 0, 8), nothing), true, 'another digest');
  assert.equal(admit(gate, vote('commit', 2, 5, 1, 7), nothing), true, 'another view');
  assert.equal(admit(gate, vote('prepare', 2, 5, 0, 7), nothing), true, 'another kind');
  assert.equal(admit(gate, vote('commit', 2, 6, 0, 7), nothing), true, 'another sequence');
  assert.equal(admit(gate, vote('commit', 3, 5, 1, 7), nothing), false);
  assert.equal(gate.parked, 2);
  // View 1 begins: view 0's parked vote goes; view 1's stays until sequence 5 is executed.
  assert.equal(gate.prune(0, 1, 4), 1);
  assert.equal(gate.parked, 1);
  assert.equal(gate.prune(0, 1, 5), 1);
  // A vote the gate does not apply to (missing null) is always checked and never counted.
  const open = new VoteGate({ missing: () => null });
  assert.equal(admit(open, vote('commit', 1), nothing), true);
  assert.equal(admit(open, vote('commit', 2), nothing), true);
  open.settled(vote('commit', 1));
  assert.equal(open.parked, 0);
});

/**
 * The insecure scheme, but `bad`'s signatures fail their check: the first ones only when the
 * test says so (until then they are in flight), every later one at once.
 */
function schemeFailingFor(bad: PublicKey): { scheme: SignatureScheme; failPending: () => number } {
  const base = insecureSimulationScheme;
  let pending: (() => void)[] | null = [];
  const badRaw = Buffer.from(bad.raw);
  const scheme: SignatureScheme = {
    ...base,
    verifyAsync(key, message, signature, context) {
      if (!badRaw.equals(key.raw)) return base.verifyAsync(key, message, signature, context);
      const waiting = pending;
      if (waiting === null) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => waiting.push(() => resolve(false)));
    },
  };
  return {
    scheme,
    failPending: () => {
      const waiting = pending ?? [];
      pending = null;
      for (const fail of waiting) fail();
      return waiting.length;
    },
  };
}

/** Runs event-loop turns until `done` holds, failing after `turns` of them. */
async function turnsUntil(done: () => boolean | Promise<boolean>, what: string, turns = 2000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (await done()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail(`${what}: not within ${turns} turns`);
}

test('in a cluster, surplus votes go unchecked, and a counted vote that fails lets a parked one through', async () => {
  // Built twice: the keys come from the cluster, and node-0's scheme from node-3's key.
  const probe = new Cluster();
  const failing = schemeFailingFor(probe.keys[3]!.publicKey);
  const cluster = new Cluster({ dependencies: (i) => (i === 0 ? { scheme: failing.scheme } : {}) });
  // node-1's frames to node-0 wait while `holdNode1` is set, so node-3's PREPARE is counted first.
  let holdNode1 = true;
  const heldFrames: Uint8Array[] = [];
  cluster.network.setFilter((from, to, frame) => {
    if (!(holdNode1 && from === 'node-1' && to === 'node-0')) return true;
    heldFrames.push(frame);
    return false;
  });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const leader = cluster.engines[0]!;
    const accepted = leader.propose(createVertex(payload('gate', 0), { validThrough: TEST_VALID_THROUGH }));
    await turnsUntil(
      async () => (await metricValue(leader, 'consensus_messages_received_total', { type: 'prepare' })) >= 1,
      "node-2's PREPARE stepped at node-0",
    );
    assert.ok(heldFrames.length > 0, "node-1's frames are held back");
    // node-3's PREPARE is in flight at node-0 and node-2's stepped: node-1's is not needed now.
    holdNode1 = false;
    for (const frame of heldFrames.splice(0)) cluster.network.inject('node-1', 'node-0', frame);
    await turnsUntil(
      async () =>
        (await metricValue(leader, 'consensus_messages_received_total', {
          type: 'prepare',
          outcome: 'surplus',
        })) === 1,
      "node-1's PREPARE parked at node-0",
    );
    assert.equal(orders[0]!.length, 0, 'node-0 has not prepared yet');
    // node-3's signature fails: node-1's PREPARE is checked after all, and node-0 goes on
    // without any timer (the manual clock never moves).
    assert.ok(failing.failPending() >= 1);
    await turnsUntil(() => orders[0]!.length === 1, 'node-0 finalizes the vertex');
    await accepted;
    await finalizedEverywhere(cluster.engines, orders, 1);
    assert.equal(
      await metricValue(leader, 'consensus_messages_received_total', {
        type: 'prepare',
        outcome: 'invalid-signature',
      }),
      1,
    );
    // Later rounds: at each backup the third COMMIT is never checked (node-3's votes fail at
    // node-0 at once from now on).
    for (let i = 1; i <= 5; i++) {
      await leader.propose(createVertex(payload('gate', i), { validThrough: TEST_VALID_THROUGH }));
    }
    await finalizedEverywhere(cluster.engines, orders, 6);
    let surplus = 0;
    for (const engine of cluster.engines.slice(1)) {
      surplus += await metricValue(engine, 'consensus_messages_received_total', { outcome: 'surplus' });
    }
    assert.ok(surplus >= 5, `backups left ${surplus} surplus votes unchecked over six rounds`);
  } finally {
    await cluster.stop();
  }
});

/** The insecure scheme, but `slow`'s signatures stay in their check until the test lets them go. */
function schemeHolding(slow: PublicKey): {
  scheme: SignatureScheme;
  hold: (on: boolean) => void;
  held: () => number;
} {
  const base = insecureSimulationScheme;
  let holding = false;
  const waiting: (() => void)[] = [];
  const slowRaw = Buffer.from(slow.raw);
  const scheme: SignatureScheme = {
    ...base,
    verifyAsync(key, message, signature, context) {
      const check = base.verifyAsync(key, message, signature, context);
      if (!holding || !slowRaw.equals(key.raw)) return check;
      return new Promise<boolean>((resolve) => waiting.push(() => resolve(check)));
    },
  };
  return {
    scheme,
    hold: (on) => {
      holding = on;
      if (!on) for (const go of waiting.splice(0)) go();
    },
    held: () => waiting.length,
  };
}

test("in a cluster, a vote queued behind its sender's unchecked frames is checked but not counted", async () => {
  const probe = new Cluster();
  const slow = schemeHolding(probe.keys[3]!.publicKey);
  const cluster = new Cluster({ dependencies: (i) => (i === 0 ? { scheme: slow.scheme } : {}) });
  // While `node3First` is set, node-1's and node-2's frames to node-0 wait until one of node-3's
  // has gone by: node-3's votes reach node-0 first, where the gate would count them.
  let node3First = false;
  const held: [string, Uint8Array][] = [];
  cluster.network.setFilter((from, to, frame) => {
    if (!node3First || to !== 'node-0') return true;
    if (from === 'node-3') {
      setImmediate(() => {
        for (const [sender, waiting] of held.splice(0)) cluster.network.inject(sender, 'node-0', waiting);
      });
      return true;
    }
    if (from !== 'node-1' && from !== 'node-2') return true;
    held.push([from, frame]);
    return false;
  });
  const orders = cluster.engines.map(recordFinalized);
  await cluster.start();
  try {
    const leader = cluster.engines[0]!;
    await leader.propose(createVertex(payload('queued', 0), { validThrough: TEST_VALID_THROUGH }));
    await finalizedEverywhere(cluster.engines, orders, 1);
    // node-3 keeps a frame in node-0's queue: a STATUS whose check does not end.
    slow.hold(true);
    const status: Draft<Status> = {
      kind: 'status',
      epoch: 0,
      view: 0,
      viewActive: true,
      lastExecuted: 1,
      stableSequence: 0,
      replica: 3,
    };
    const identity = {
      scheme: cluster.scheme,
      privateKey: cluster.keys[3]!.privateKey,
      clusterId: 'engine-test',
    };
    cluster.network.inject('node-3', 'node-0', encodeMessage(signDraft(identity, status)));
    await turnsUntil(() => slow.held() === 1, "node-3's STATUS in its check at node-0");
    node3First = true;
    const accepted = leader.propose(createVertex(payload('queued', 1), { validThrough: TEST_VALID_THROUGH }));
    // node-3's PREPARE and COMMIT come first but wait behind the STATUS: counted, they would hold
    // node-0's certificates until that check ends, which here is never.
    await turnsUntil(() => orders[0]!.length === 2, 'node-0 finalizes the second vertex');
    assert.ok(slow.held() >= 2, "node-3's votes were still waiting for their checks");
    slow.hold(false);
    node3First = false;
    await accepted;
    await finalizedEverywhere(cluster.engines, orders, 2);
  } finally {
    slow.hold(false);
    await cluster.stop();
  }
});
