import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../../src/sim/prng.ts';
import { SETTLE_TURNS } from '../../src/sim/run-loop.ts';
import { NO_FAULTS } from '../../src/sim/scenario.ts';
import { runSimulation } from '../../src/sim/simulation.ts';

test('a seed replays exactly: the same result, message count, event count and virtual time', async () => {
  for (const seed of [3, 17, 4242]) {
    const first = await runSimulation({ seed, replicas: 4 });
    const second = await runSimulation({ seed, replicas: 4 });
    assert.deepEqual(second, first);
  }
});

test('a run does not depend on how long microtasks are let run after each event: every promise chain an event starts ends within the default settle', async () => {
  for (const seed of [5, 9]) {
    const settled = await runSimulation({ seed, replicas: 4 });
    const deeper = await runSimulation({ seed, replicas: 4, settleTurns: 8 * SETTLE_TURNS });
    assert.deepEqual(deeper, settled);
  }
});

test('different seeds draw different scenarios', async () => {
  const scenarios = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8])
    scenarios.add((await runSimulation({ seed, replicas: 4 })).scenario);
  assert.ok(scenarios.size >= 6, `only ${scenarios.size} distinct scenarios in 8 seeds`);
});

test('without faults every vertex is final everywhere within a second of virtual time after the client phase', async () => {
  for (const seed of [1, 2, 3]) {
    const result = await runSimulation({ seed, replicas: 4, faults: NO_FAULTS });
    assert.deepEqual(result.violations, []);
    assert.equal(result.stalled, false);
    assert.ok(
      result.recoveryMs !== null && result.recoveryMs <= 1000,
      `recovered in ${result.recoveryMs} ms`,
    );
    assert.equal(result.counters.viewChanges, 0, 'no view change without faults');
  }
});

test('the PRNG is a pure function of its seed, and forks are independent streams', () => {
  const draw = (prng: Prng): number[] => Array.from({ length: 8 }, () => prng.uint32());
  assert.deepEqual(draw(new Prng(7)), draw(new Prng(7)));
  assert.notDeepEqual(draw(new Prng(7)), draw(new Prng(8)));
  const parent = new Prng(7);
  const a = parent.fork();
  const b = parent.fork();
  assert.notDeepEqual(draw(a), draw(b));
  const prng = new Prng(1);
  for (let i = 0; i < 1000; i++) {
    const value = prng.between(3, 5);
    assert.ok(value >= 3 && value <= 5 && Number.isInteger(value));
  }
});
