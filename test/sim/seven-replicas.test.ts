import { test } from 'node:test';
import { assertAllClean, runSeeds, SEED_FROM } from './runs.ts';

const SEEDS = 40;

test(`seven replicas keep every property over ${SEEDS} seeds from ${SEED_FROM} with every fault on`, async () => {
  assertAllClean(await runSeeds(SEEDS, { replicas: 7 }));
});

test('clusters of 1, 2, 3, 5 and 10 replicas keep every property with every fault on', async () => {
  for (const replicas of [1, 2, 3, 5]) assertAllClean(await runSeeds(10, { replicas }));
  assertAllClean(await runSeeds(3, { replicas: 10 }));
});
