/**
 * Every reason the protocol core gives for ignoring or rejecting a message is produced, under
 * a seed of the simulator driving the shipped engine where one reaches it, or by a direct input
 * to the core where no engine can: the engine checks a vertex's size and its own count of
 * pending proposals before the core sees them. Where each reason first appears is printed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createReplica,
  createVertex,
  type IgnoreReason,
  type RejectReason,
  step,
  type Verdict,
} from '../../src/protocol/index.ts';
import type { StrategyName } from '../../src/sim/byzantine/index.ts';
import { runSimulation } from '../../src/sim/simulation.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

/**
 * Where each reason is produced: by an engine under the simulator, in a run with no Byzantine
 * replica ('honest') or with one playing the named strategy; or by a direct input to the core
 * ('core', below).
 */
type Source = 'honest' | StrategyName | 'core';

const IGNORE_REASONS = {
  duplicate: 'honest',
  'other-epoch': 'core',
  'not-member': 'core',
  'stale-view': 'honest',
  'future-view': 'honest',
  'view-changing': 'honest',
  'below-watermark': 'honest',
  'above-watermark': 'honest',
  'missing-batch': 'equivocator',
  'rate-limited': 'honest',
  'not-needed': 'honest',
  full: 'core',
  oversized: 'core',
} as const satisfies Record<IgnoreReason, Source>;

const REJECT_REASONS = {
  equivocation: 'double-voter',
  'not-primary': 'double-voter',
  'primary-prepare': 'double-voter',
  'digest-mismatch': 'malformer',
  'invalid-checkpoint': 'checkpoint-liar',
  'invalid-prepared-certificate': 'lying-view-changer',
  'invalid-view-change': 'lying-view-changer',
  'invalid-new-view': 'lying-view-changer',
  'invalid-commit-certificate': 'checkpoint-liar',
  // The engine steps an unsigned REQUEST or HELD under the id its link names (a sender in
  // another epoch numbers itself otherwise), so only a direct input makes the core see a mismatch
  // (test/protocol/acknowledge-copies.test.ts, client-timer.test.ts).
  'invalid-request': 'core',
} as const satisfies Record<RejectReason, Source>;

/** Seeds tried per source before a reason counts as not produced. */
const SEEDS_MAX = 30;

test(`every ignore and reject reason an engine can meet is produced within ${SEEDS_MAX} seeds of the simulator`, async () => {
  const wanted = new Map<string, Source>([
    ...Object.entries(IGNORE_REASONS).map(([reason, source]) => [`ignored:${reason}`, source] as const),
    ...Object.entries(REJECT_REASONS).map(([reason, source]) => [`rejected:${reason}`, source] as const),
  ]);
  const sources = new Set([...wanted.values()].filter((source) => source !== 'core'));
  const missing: string[] = [];
  for (const source of sources) {
    const labels = new Set([...wanted].filter(([, from]) => from === source).map(([label]) => label));
    for (let seed = 1; seed <= SEEDS_MAX && labels.size > 0; seed++) {
      const result = await runSimulation({
        seed,
        replicas: 4,
        ...(source === 'honest' ? {} : { byzantine: { count: 1, strategy: source as StrategyName } }),
      });
      assert.deepEqual(result.violations, [], `seed ${seed}, ${source}`);
      for (const label of [...labels]) {
        if ((result.verdicts[label] ?? 0) === 0) continue;
        console.log(`${label}: seed ${seed}, ${source}`);
        labels.delete(label);
      }
    }
    missing.push(...labels);
  }
  assert.deepEqual(missing, [], 'reasons no seed produced');
});

test('the core ignores a propose input that does not fit a batch (oversized) or would exceed pendingVerticesMax (full)', () => {
  const replica = createReplica({
    clusterId: 'verdicts',
    replicaCount: 4,
    self: 1,
    batchBytesMax: 64,
    pendingVerticesMax: 2,
  });
  const vertex = (text: string) =>
    createVertex(new TextEncoder().encode(text), { validThrough: TEST_VALID_THROUGH });
  const verdict = (vertices: ReturnType<typeof vertex>[]): Verdict | null =>
    step(replica, { kind: 'propose', vertices }).verdict;
  assert.deepEqual(verdict([vertex('x'.repeat(100))]), { outcome: 'ignored', reason: 'oversized' });
  assert.deepEqual(verdict([vertex('a'), vertex('b')]), { outcome: 'accepted' });
  assert.deepEqual(verdict([vertex('c')]), { outcome: 'ignored', reason: 'full' });
  assert.equal(replica.pending.size, 2);
});

test('the core ignores a message of another epoch (other-epoch) before its kind is looked at', () => {
  const replica = createReplica({ clusterId: 'verdicts', replicaCount: 4, self: 1 });
  assert.equal(replica.epoch, 0);
  const prepare = (epoch: number) => ({
    kind: 'prepare' as const,
    epoch,
    view: 0,
    sequence: 1,
    digest: new Uint8Array(32),
    replica: 2,
    signature: new Uint8Array(16),
  });
  const verdict = (epoch: number): Verdict | null =>
    step(replica, { kind: 'message', from: 2, message: prepare(epoch) }).verdict;
  assert.deepEqual(verdict(1), { outcome: 'ignored', reason: 'other-epoch' });
  assert.deepEqual(verdict(0xffff_ffff), { outcome: 'ignored', reason: 'other-epoch' });
  assert.equal(replica.log.has(1), false, 'no vote of another epoch was counted');
  assert.deepEqual(verdict(0), { outcome: 'accepted' });
  assert.equal(replica.log.has(1), true, 'the same vote of the current epoch is');
});
