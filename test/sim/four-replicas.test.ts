import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertAllClean, runSeeds, SEED_FROM } from './runs.ts';

const SEEDS = 200;

test(`four replicas keep agreement, integrity and validity, and finalize everything once faults stop, over ${SEEDS} seeds from ${SEED_FROM} with loss, duplication, reordering, partitions, crashes and clock drift`, () => {
  const results = runSeeds(SEEDS, { replicas: 4 });
  assertAllClean(results);
  // The faults really happened: a run that never changed views or restarted anyone shows little.
  const total = (pick: (counters: (typeof results)[number]['counters']) => number): number =>
    results.reduce((sum, result) => sum + pick(result.counters), 0);
  assert.ok(total((c) => c.crashes) > SEEDS, 'crashes were simulated');
  assert.ok(total((c) => c.partitions) > SEEDS / 2, 'partitions were simulated');
  assert.ok(total((c) => c.viewChanges) > SEEDS, 'view changes happened');
  assert.ok(total((c) => c.stateTransfers) > 0, 'state transfers happened');
  assert.ok(total((c) => c.checkpoints) > SEEDS, 'checkpoints became stable');
});
