/**
 * The simulator with an operator that changes the validator set during the faults
 * (`--reconfigure`): key rotations, reorders that renumber every validator, removals of the
 * leader and others, validators added back and replaced on new machines that join by fetching
 * the history, replayed requests. Every checker holds, every vote names an epoch its
 * signer is a validator of, and the newest epoch's validators finish everything.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertAllClean, runSeeds, SEED_FROM } from './runs.ts';

const SEEDS = 40;

test(`four replicas under reconfiguration keep every property over ${SEEDS} seeds from ${SEED_FROM}`, async () => {
  const results = await runSeeds(SEEDS, { replicas: 4, reconfigure: true });
  assertAllClean(results);
  const changes = results.reduce((sum, result) => sum + (result.reconfiguration?.epochs ?? 0), 0);
  const rotations = results.reduce((sum, result) => sum + (result.reconfiguration?.rotations ?? 0), 0);
  // The runs must change epochs, or they test nothing of it.
  assert.ok(changes >= SEEDS, `only ${changes} epoch changes in ${SEEDS} seeds`);
  assert.ok(rotations > 0, 'no key was rotated');
});

test(`seven replicas, two Byzantine, under reconfiguration: removals too, nobody honest banned`, async () => {
  const results = await runSeeds(12, {
    replicas: 7,
    reconfigure: true,
    byzantine: { count: 2, strategy: 'all' },
  });
  assertAllClean(results);
  assert.equal(
    results.reduce((sum, result) => sum + result.honestBanned, 0),
    0,
  );
  const removals = results.reduce((sum, result) => sum + (result.reconfiguration?.removals ?? 0), 0);
  assert.ok(removals > 0, 'no validator was removed');
});

test('a stale member (old keys after rotation, votes after its removal) is banned; nobody honest is', async () => {
  const results = await runSeeds(12, {
    replicas: 7,
    reconfigure: true,
    byzantine: { count: 2, strategy: 'stale-member' },
  });
  assertAllClean(results);
  const outcomes = results.flatMap((result) => result.byzantine);
  assert.ok(
    outcomes.every((outcome) => outcome.detected),
    'a stale member went undetected',
  );
  assert.equal(
    results.reduce((sum, result) => sum + result.honestBanned, 0),
    0,
  );
  const removed = results.reduce((sum, result) => sum + (result.reconfiguration?.faultyRemovals ?? 0), 0);
  assert.ok(removed > 0, 'no stale member was removed, so none kept sending after it');
});

test('seven replicas shrinking and growing: new machines join by fetching the history', async () => {
  // Three fault windows, three to nine changes: removals first make room for additions.
  const results = await runSeeds(10, { replicas: 7, reconfigure: true, faultPhaseMs: 18_000, vertices: 120 });
  assertAllClean(results);
  const sum = (pick: (counts: NonNullable<(typeof results)[number]['reconfiguration']>) => number): number =>
    results.reduce(
      (total, result) => total + (result.reconfiguration === undefined ? 0 : pick(result.reconfiguration)),
      0,
    );
  // Joins are what this test is for: some validators were added back, some replaced, and their
  // new machines joined (every one then finished everything, or the run would have stalled).
  assert.ok(sum((counts) => counts.additions) > 0, 'no validator was added');
  assert.ok(sum((counts) => counts.replacements) > 0, 'no validator was replaced');
  assert.ok(sum((counts) => counts.joined) > 0, 'no new machine joined');
});
