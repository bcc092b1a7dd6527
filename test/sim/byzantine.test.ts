/**
 * Byzantine replicas in the simulator: up to f replicas play a strategy for the whole run (each
 * the shipped engine with what goes in and out of it altered), on top of the network, disk and
 * clock faults, and the honest replicas must keep agreement, integrity and validity, finalize
 * every client vertex once the faults stop, and never blame or ban one another.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { verifyEvidence } from '../../src/byzantine/index.ts';
import { insecureSimulationScheme } from '../../src/crypto/index.ts';
import { ArgumentError } from '../../src/errors.ts';
import { STRATEGY_NAMES } from '../../src/sim/byzantine/index.ts';
import { drawByzantine, simulationClusterId, simulationKeys } from '../../src/sim/run-plan.ts';
import { NO_FAULTS } from '../../src/sim/scenario.ts';
import { runSimulation, type SimResult } from '../../src/sim/simulation.ts';
import { assertAllClean, runSeeds, SEED_FROM } from './runs.ts';

const SEEDS_PER_STRATEGY = 5;
const SEVEN_REPLICA_SEEDS = 12;

for (const strategy of STRATEGY_NAMES) {
  test(`four replicas with one ${strategy} keep safety and finalize everything once faults stop (${SEEDS_PER_STRATEGY} seeds from ${SEED_FROM})`, async () => {
    const results = await runSeeds(SEEDS_PER_STRATEGY, { replicas: 4, byzantine: { count: 1, strategy } });
    assertAllClean(results);
    for (const result of results)
      assert.deepEqual(
        result.byzantine.map((outcome) => outcome.strategy),
        [strategy],
      );
  });
}

test(`seven replicas with two Byzantine ones, strategies in turn, keep safety and finalize everything (${SEVEN_REPLICA_SEEDS} seeds)`, async () => {
  const results = await runSeeds(SEVEN_REPLICA_SEEDS, {
    replicas: 7,
    byzantine: { count: 2, strategy: 'all' },
  });
  assertAllClean(results);
  const strategies = new Set(
    results.flatMap((result) => result.byzantine.map((outcome) => outcome.strategy)),
  );
  assert.equal(strategies.size, STRATEGY_NAMES.length, 'every strategy played');
});

test('an honest replica is never banned for a provable violation by any honest replica in any simulated run', async () => {
  const runs: SimResult[] = [
    ...(await runSeeds(40, { replicas: 4, byzantine: { count: 1, strategy: 'all' } })),
    ...(await runSeeds(8, { replicas: 7, byzantine: { count: 2, strategy: 'all' } })),
    // Without Byzantine replicas, partitions, crashes, disk faults and slow clocks alone must not do it either.
    ...(await runSeeds(20, { replicas: 4 })),
  ];
  for (const result of runs) {
    const blame = result.violations.filter((violation) =>
      /^(honest banned|blame|evidence|drop|authenticity):/.test(violation),
    );
    assert.deepEqual(blame, [], `seed ${result.seed} (${result.replicas} replicas)`);
    assert.equal(result.honestBanned, 0, `seed ${result.seed} (${result.replicas} replicas)`);
  }
  // The detectors were at work: Byzantine replicas were banned in the same runs.
  assert.ok(runs.some((result) => result.byzantine.some((outcome) => outcome.banned)));
});

for (const strategy of ['equivocator', 'forger', 'malformer', 'double-voter'] as const) {
  test(`the honest replicas' detectors detect the ${strategy}`, async () => {
    const results = await runSeeds(8, { replicas: 4, byzantine: { count: 1, strategy } });
    assertAllClean(results);
    const outcomes = results.flatMap((result) => result.byzantine);
    const detected = outcomes.filter((outcome) => outcome.detected).length;
    const banned = outcomes.filter((outcome) => outcome.banned).length;
    assert.ok(detected > 0, `${strategy} detected in ${detected} of ${outcomes.length} runs`);
    // These act in every view, not only as primary: they get banned too.
    if (strategy !== 'equivocator') assert.ok(banned > 0, `${strategy} banned in ${banned} runs`);
  });
}

test('the evidence honest replicas hold against Byzantine ones verifies with the public keys alone', async () => {
  let held = 0;
  let equivocations = 0;
  const publicKeys = simulationKeys(4).map((pair) => pair.publicKey);
  for (const strategy of ['double-voter', 'forger', 'checkpoint-liar'] as const) {
    for (let seed = SEED_FROM; seed < SEED_FROM + 4; seed++) {
      const result = await runSimulation({
        seed,
        replicas: 4,
        byzantine: { count: 1, strategy },
        collectEvidence: true,
      });
      assertAllClean([result]);
      const check = { scheme: insecureSimulationScheme, publicKeys, clusterId: simulationClusterId(seed) };
      for (const evidence of result.evidence ?? []) {
        held++;
        if (evidence.kind === 'equivocation') equivocations++;
        assert.ok(
          verifyEvidence(evidence, check),
          `seed ${seed}: evidence of ${evidence.kind} by ${evidence.replica}`,
        );
      }
    }
  }
  assert.ok(held > 0, 'evidence was gathered');
  assert.ok(equivocations > 0, 'equivocation evidence among it');
});

test('a Byzantine run replays exactly from its seed', async () => {
  const options = { seed: SEED_FROM + 3, replicas: 4, byzantine: { count: 1, strategy: 'all' } } as const;
  const first = await runSimulation(options);
  const second = await runSimulation(options);
  assert.deepEqual(second, first);
});

test('which replicas are Byzantine is drawn from the seed, never more than f of them', async () => {
  const drawn = drawByzantine(5, 7, { count: 2, strategy: 'all' });
  assert.equal(drawn.size, 2);
  assert.deepEqual(drawByzantine(5, 7, { count: 2, strategy: 'all' }), drawn);
  assert.throws(() => drawByzantine(1, 4, { count: 2, strategy: 'silent' }), ArgumentError);
  await assert.rejects(
    runSimulation({ seed: 1, replicas: 7, byzantine: { count: 3, strategy: 'all' } }),
    ArgumentError,
  );
});

test('npm run sim -- --byzantine F --strategy all prints detected and banned per strategy and "honest banned: 0" before the last line', () => {
  const cli = new URL('../../src/sim/cli.ts', import.meta.url).pathname;
  const args = ['--seeds', '3', '--jobs', '1', '--byzantine', '1', '--strategy', 'all'];
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.at(-1), 'seeds: 3, violations: 0, stalled: 0');
  assert.match(lines.at(-2)!, /^speed: /);
  assert.ok(lines.includes('honest banned: 0'), result.stdout);
  assert.match(result.stdout, /^byzantine \(all\): 3 replicas, detected \d+, banned \d+$/m);
  assert.match(result.stdout, /^ {2}double-voter: 1 replicas, detected \d+, banned \d+$/m);
  const refused = spawnSync(process.execPath, [cli, '--byzantine', '2', '--replicas', '4'], {
    encoding: 'utf8',
  });
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /more than f = 1/);
});

test(`a primary that keeps ordering most client vertices and withholds some is deposed while the load goes on (seed ${SEED_FROM})`, async () => {
  // A steady load of 500 vertices/s for 16 s of virtual time, no faults, the censor leading
  // view 0. The backups see progress on their vertices all along, so only the bound on any one
  // vertex's wait (CLIENT_WAIT_BOUND_TIMEOUTS) can depose it before the load stops. Without the
  // bound it leads to the end, and the withheld vertices then need a view change (a 500 ms
  // timeout) after the load: longer than the 300 ms allowed here, so the run stalls (checked).
  const result = await runSimulation({
    seed: SEED_FROM,
    replicas: 4,
    faults: NO_FAULTS,
    faultPhaseMs: 16_000,
    vertices: 8_000,
    livenessBoundMs: 300,
    // Every replica takes every vertex at once: a client turned away ('full') would retry only
    // after 1.5 s, which says nothing about the censor.
    engine: { pendingProposalsMax: 100_000 },
    byzantine: { count: 1, strategy: 'censor', replicas: [0] },
  });
  assertAllClean([result]);
  assert.ok(result.counters.viewChanges > 0, 'the censor was deposed');
});
