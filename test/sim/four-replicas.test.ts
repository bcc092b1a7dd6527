import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_FAULTS } from '../../src/sim/scenario.ts';
import { assertAllClean, runSeeds, SEED_FROM } from './runs.ts';

const SEEDS = 150;

test(`four engines keep agreement, integrity, validity, exactly once, bounded memory and their answers to clients, and finalize everything once faults stop, over ${SEEDS} seeds from ${SEED_FROM} with every fault on`, async () => {
  const results = await runSeeds(SEEDS, { replicas: 4 });
  assertAllClean(results);
  // The faults really happened: a run that never changed views or restarted anyone shows little.
  const total = (pick: (counters: (typeof results)[number]['counters']) => number): number =>
    results.reduce((sum, result) => sum + pick(result.counters), 0);
  assert.ok(total((c) => c.crashes) > SEEDS, 'crashes were simulated');
  assert.ok(total((c) => c.partitions) > SEEDS / 2, 'partitions were simulated');
  assert.ok(total((c) => c.oneWayCuts) > SEEDS / 4, 'one-way partitions were simulated');
  assert.ok(total((c) => c.slowLinks) > SEEDS / 8, 'slow links were simulated');
  assert.ok(total((c) => c.syncFailures) > SEEDS / 4, 'syncs failed, engines halted and were restarted');
  assert.ok(total((c) => c.wipes) > SEEDS / 20, 'damaged disks were refused, wiped and rejoined');
  assert.ok(total((c) => c.viewChanges) > SEEDS, 'view changes happened');
  assert.ok(total((c) => c.stateTransfers) > 0, 'state transfers happened');
  assert.ok(total((c) => c.checkpoints) > SEEDS, 'checkpoints became stable');
  assert.ok(total((c) => c.resolutionsChecked) > SEEDS, "clients' answers were checked against every stream");
});

const DISK_SEEDS = 30;

test(`the disk fault class alone (failed syncs halt and restart engines; damaged disks are refused, wiped and rejoin by state transfer) keeps every property over ${DISK_SEEDS} seeds`, async () => {
  const results = await runSeeds(DISK_SEEDS, { replicas: 4, faults: { ...NO_FAULTS, disk: true } });
  assertAllClean(results);
  const total = (pick: (counters: (typeof results)[number]['counters']) => number): number =>
    results.reduce((sum, result) => sum + pick(result.counters), 0);
  assert.ok(total((c) => c.syncFailures) > DISK_SEEDS / 2, 'syncs failed');
  assert.ok(total((c) => c.refusals) > 0, 'starts were refused on damaged disks');
  assert.equal(
    total((c) => c.wipes),
    total((c) => c.refusals),
    'every refused disk was wiped',
  );
  assert.ok(total((c) => c.stateTransfers) > 0, 'wiped replicas caught up by state transfer');
});
