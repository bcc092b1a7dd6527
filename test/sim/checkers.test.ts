import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/crypto/digest.ts';
import { batchDigest, createVertex, type Delivery, type Vertex } from '../../src/protocol/index.ts';
import { SafetyChecker } from '../../src/sim/checkers.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

const vertex = (text: string): Vertex =>
  createVertex(new TextEncoder().encode(text), { validThrough: TEST_VALID_THROUGH });

function delivery(sequence: number, vertices: Vertex[]): Delivery {
  const digest = batchDigest(vertices);
  const keys = vertices.map((v) => toHex(v.hash));
  return {
    sequence,
    view: 0,
    digest,
    vertices,
    keys,
    positions: vertices.map((_, i) => i),
    expired: [],
    chainDigest: digest,
    commits: [],
  };
}

function checker(proposed: Vertex[], honest: (replica: number) => boolean = () => true): SafetyChecker {
  return new SafetyChecker(4, new Set(proposed.map((v) => toHex(v.hash))), honest);
}

test('the agreement checker flags two honest replicas that finalize different batches at one sequence', () => {
  const [a, b] = [vertex('a'), vertex('b')];
  const check = checker([a, b]);
  check.delivered(0, delivery(1, [a]));
  check.delivered(1, delivery(1, [a]));
  assert.deepEqual(check.violations, []);
  check.delivered(2, delivery(1, [b]));
  assert.match(check.violations[0] ?? '', /^agreement: sequence 1/);
});

test('the integrity checker flags a vertex delivered twice by one replica', () => {
  const a = vertex('a');
  const check = checker([a]);
  check.delivered(0, delivery(1, [a]));
  check.delivered(0, delivery(2, [a]));
  assert.match(check.violations[0] ?? '', /^integrity: replica 0/);
});

test('the validity checker flags a vertex no client proposed', () => {
  const check = checker([]);
  check.delivered(0, delivery(1, [vertex('forged')]));
  assert.match(check.violations[0] ?? '', /^validity: replica 0/);
});

test('a vertex a Byzantine replica forwarded of its own is valid, and does not count as a client vertex delivered', () => {
  const [client, made] = [vertex('client'), vertex('made up')];
  const check = new SafetyChecker(4, new Set([toHex(client.hash)]), () => true, new Set([toHex(made.hash)]));
  check.delivered(0, delivery(1, [made, client]));
  assert.deepEqual(check.violations, []);
  assert.equal(check.deliveredCount(0), 1);
});

test('the order checker flags a gap in the delivered sequences', () => {
  const [a, b] = [vertex('a'), vertex('b')];
  const check = checker([a, b]);
  check.delivered(0, delivery(1, [a]));
  check.delivered(0, delivery(3, [b]));
  assert.match(check.violations[0] ?? '', /^order: replica 0 delivered sequence 3 after 1/);
});

test('what a Byzantine replica finalizes is not held against the cluster', () => {
  const [a, b] = [vertex('a'), vertex('b')];
  const check = checker([a, b], (replica) => replica !== 3);
  check.delivered(0, delivery(1, [a]));
  check.delivered(3, delivery(1, [b]));
  assert.deepEqual(check.violations, []);
});

test('the exactly-once checker flags a vertex finalized again after its replica was wiped, at another place', () => {
  const [a, b] = [vertex('a'), vertex('b')];
  const check = checker([a, b]);
  check.delivered(0, delivery(1, [a]));
  check.delivered(1, delivery(1, [a]));
  check.delivered(1, delivery(2, [b]));
  // Replica 1 is wiped and replays the history: the same places are no double.
  check.wiped(1);
  check.delivered(1, delivery(1, [a]));
  check.delivered(1, delivery(2, [b]));
  assert.deepEqual(check.violations, []);
  // Finalizing `a` again at sequence 3 is (integrity sees it too: this replica delivered it since its wipe).
  check.delivered(1, delivery(3, [a]));
  assert.ok(
    check.violations.some((text) =>
      /^exactly once: vertex [0-9a-f]+ finalized at 1\/0 \(replica 0\) and at 3\/0/.test(text),
    ),
    check.violations.join('; '),
  );
});

test('the exactly-once checker flags two vertices of one client payload finalized anywhere in the run', () => {
  const payload = new TextEncoder().encode('one intent');
  const first = createVertex(payload, { validThrough: TEST_VALID_THROUGH });
  const again = createVertex(payload, { validThrough: TEST_VALID_THROUGH + 1 });
  const check = checker([first, again]);
  check.delivered(0, delivery(1, [first]));
  check.delivered(1, delivery(1, [first]));
  check.wiped(0);
  check.delivered(0, delivery(1, [first]));
  assert.deepEqual(check.violations, []);
  check.delivered(1, delivery(2, [again]));
  assert.match(check.violations[0] ?? '', /^exactly once: one client payload finalized as vertex/);
});
