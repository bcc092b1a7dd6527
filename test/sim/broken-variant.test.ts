import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation } from '../../src/sim/simulation.ts';

const BOUND = 100;

test(`the simulator catches a quorum one too small: an agreement violation within ${BOUND} seeds`, () => {
  let caught: { seed: number; violation: string } | null = null;
  for (let seed = 1; seed <= BOUND && caught === null; seed++) {
    const result = runSimulation({
      seed,
      replicas: 4,
      alterConfig: (config) => ({ ...config, quorum: config.quorum - 1 }),
    });
    const violation = result.violations.find((text) => text.startsWith('agreement'));
    if (violation !== undefined) caught = { seed, violation };
  }
  assert.ok(caught !== null, `no agreement violation in ${BOUND} seeds with quorum 2 of 4`);
  // Replaying the seed shows the same violation: the failure is reproducible.
  const replay = runSimulation({
    seed: caught.seed,
    replicas: 4,
    alterConfig: (config) => ({ ...config, quorum: config.quorum - 1 }),
  });
  assert.ok(replay.violations.includes(caught.violation));
  // And the same seed with the correct quorum is clean.
  const correct = runSimulation({ seed: caught.seed, replicas: 4 });
  assert.deepEqual(correct.violations, []);
});
