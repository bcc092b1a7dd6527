/**
 * Deliberately broken engines, each built through a test-only seam (`engine/seams.ts`), never by
 * editing shipped logic: the simulator must find each within a bounded number of seeds, the
 * failing seed must replay, and the same seed with the shipped engine must be clean.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineTestSeams } from '../../src/engine/index.ts';
import { runSimulation, type SimOptions } from '../../src/sim/simulation.ts';
import { CACHE_MISSES_SIGNATURE, VOTES_BEFORE_DURABLE, VOTES_OUT_OF_ORDER } from './broken-engines.ts';

/** Runs seeds from 1 until one shows a violation matching `pattern`; returns it and how long it took. */
async function firstViolation(
  options: Omit<SimOptions, 'seed' | 'testSeams'>,
  testSeams: EngineTestSeams,
  pattern: RegExp,
  bound: number,
): Promise<{ seed: number; violation: string; seconds: number }> {
  const started = performance.now();
  for (let seed = 1; seed <= bound; seed++) {
    const result = await runSimulation({ ...options, seed, testSeams });
    const violation = result.violations.find((text) => pattern.test(text));
    if (violation === undefined) continue;
    const seconds = (performance.now() - started) / 1000;
    console.log(`found at seed ${seed} after ${seconds.toFixed(1)} s: ${violation}`);
    // Replaying the seed shows the same violation: the failure is reproducible.
    const replay = await runSimulation({ ...options, seed, testSeams });
    assert.ok(replay.violations.includes(violation), `seed ${seed} replays`);
    // And the same seed with the shipped engine is clean.
    const shipped = await runSimulation({ ...options, seed });
    assert.deepEqual(shipped.violations, [], `seed ${seed} with the shipped engine`);
    assert.equal(shipped.stalled, false, `seed ${seed} with the shipped engine`);
    return { seed, violation, seconds };
  }
  assert.fail(`no violation matching ${pattern} in ${bound} seeds`);
}

test('the simulator catches a quorum one too small: an agreement violation within 100 seeds', async () => {
  await firstViolation(
    { replicas: 4 },
    { alterReplicaConfig: (config) => ({ ...config, quorum: config.quorum - 1 }) },
    /^agreement/,
    100,
  );
});

test('the simulator catches an engine that sends a vote before the write that records it is durable: a restarted replica contradicts itself within 60 seeds', async () => {
  // Its votes reach peers before its store has them; a crash then loses them, and the restarted
  // replica (a primary, typically) orders differently what it ordered before: honest replicas
  // hold its two signed PRE-PREPAREs for one slot, as proof against a replica that is honest.
  await firstViolation({ replicas: 4 }, VOTES_BEFORE_DURABLE, /^(evidence|blame|agreement):/, 60);
});

test('the simulator catches an engine whose votes leave out of order within 20 seeds', async () => {
  // Signatures finish in a seeded order (the scheme's completions are events); a send queue that
  // sends each message when its signature is done lets a COMMIT overtake its PREPARE.
  await firstViolation(
    { replicas: 4 },
    VOTES_OUT_OF_ORDER,
    /^send order: replica \d+ sent (pre-prepare|prepare|commit|checkpoint|view-change|new-view)\//,
    20,
  );
});

test('the simulator catches a verify cache that answers for a message it never verified within 20 seeds', async () => {
  // A forger sends copies of messages it sent before with a corrupted signature; a cache keyed
  // without the signature takes them for verified, and the core steps forged messages.
  await firstViolation(
    { replicas: 4, byzantine: { count: 1, strategy: 'forger' } },
    CACHE_MISSES_SIGNATURE,
    /^(authenticity|drop|blame|evidence):/,
    20,
  );
});
