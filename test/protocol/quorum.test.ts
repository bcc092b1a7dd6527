import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ConfigError,
  faultTolerance,
  quorumSizes,
  resolveReplicaConfig,
  safeQuorum,
} from '../../src/protocol/index.ts';

const seed = Number(process.env.FC_SEED ?? 20261124);

test('quorum sizes for n = 4, 5, 7, 10, 100 (4.1): 4 -> 3, 5 -> 4, 7 -> 5, 10 -> 7, 100 -> 67', () => {
  const expected: Array<[number, number, number]> = [
    [4, 1, 3],
    [5, 1, 4],
    [7, 2, 5],
    [10, 3, 7],
    [100, 33, 67],
  ];
  for (const [n, f, q] of expected) {
    assert.equal(faultTolerance(n), f, `f for n = ${n}`);
    assert.equal(safeQuorum(n), q, `q for n = ${n}`);
    assert.deepEqual(quorumSizes(n, 0.67), {
      replicaCount: n,
      faultTolerance: f,
      quorum: q,
      weakQuorum: f + 1,
    });
  }
});

test(`the safe quorum is the smallest q with 2q - n >= f + 1, for every n up to 1024 (seed ${seed})`, () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1024 }), (n) => {
      const f = faultTolerance(n);
      const q = safeQuorum(n);
      assert.ok(2 * q - n >= f + 1, 'two quorums share a correct replica');
      assert.ok(2 * (q - 1) - n < f + 1, 'no smaller quorum does');
      assert.ok(q <= n - f, 'f silent replicas cannot block a quorum');
    }),
    { seed, numRuns: 500 },
  );
});

test('an unsafe quorum threshold is refused with an error that names quorumThreshold', () => {
  for (const [n, threshold] of [
    [4, 0.5],
    [7, 0.5],
    [10, 0.6],
    [100, 0.6],
  ] as const) {
    assert.throws(
      () => resolveReplicaConfig({ clusterId: 'c', replicaCount: n, self: 0, quorumThreshold: threshold }),
      (error: unknown) => error instanceof ConfigError && error.field === 'quorumThreshold',
    );
  }
});

test('a threshold whose quorum f faulty replicas could block is refused', () => {
  assert.throws(
    () => resolveReplicaConfig({ clusterId: 'c', replicaCount: 4, self: 0, quorumThreshold: 1 }),
    (error: unknown) => error instanceof ConfigError && error.field === 'quorumThreshold',
  );
});

test('configuration errors name the field that is wrong', () => {
  const base = { clusterId: 'c', replicaCount: 4, self: 0 };
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ clusterId: '' }, 'clusterId'],
    [{ replicaCount: 0 }, 'replicaCount'],
    [{ self: 4 }, 'self'],
    [{ checkpointInterval: 0 }, 'checkpointInterval'],
    [{ checkpointInterval: 16, watermarkWindow: 24 }, 'watermarkWindow'],
    [{ pipelineDepth: 100 }, 'pipelineDepth'],
    [{ batchCountMax: 8, pipelineFillCount: 9 }, 'pipelineFillCount'],
    [{ viewChangeTimeoutTicks: 1.5 }, 'viewChangeTimeoutTicks'],
    [{ dedupHorizonSequences: 8 }, 'dedupHorizonSequences'],
  ];
  for (const [override, field] of cases) {
    assert.throws(
      () => resolveReplicaConfig({ ...base, ...override } as never),
      (error: unknown) => error instanceof ConfigError && error.field === field,
      `expected an error naming ${field}`,
    );
  }
});
