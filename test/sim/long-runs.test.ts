/**
 * Long runs under heavy load. The everyday seeds reach a few dozen sequences, far fewer than the
 * dedup horizon, so a fault that needs hundreds of sequences (a vertex retried long after it was
 * final, a payload submitted again after its vertex expired) cannot show in them. These runs
 * reach several horizons, with faults drawn throughout a minute of virtual time, and the
 * run-wide exactly-once check (every vertex and every client payload at one place in the order,
 * whichever replica delivers it, before or after a restart or a wipe) holds over all of it.
 *
 * Before vertices carried validThrough, seeds 6 and 19 of the first test's settings each
 * finalized a vertex twice (with the old 64-sequence dedup window); the view-agreement check
 * (every honest replica active in one view soon after the faults) failed on 66 of 400 short
 * seeds before replicas left views only with a timeout certificate. Longer and more seeds:
 * `npm run sim:long -- --seeds N` (the `long` profile, `src/sim/profiles.ts`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SIM_PROFILES } from '../../src/sim/profiles.ts';
import { runSimulation, type SimResult } from '../../src/sim/simulation.ts';
import { assertAllClean, SEED_FROM } from './runs.ts';

const HORIZON = 128;

function total(results: readonly SimResult[], pick: (counters: SimResult['counters']) => number): number {
  return results.reduce((sum, result) => sum + pick(result.counters), 0);
}

const SEEDS = [6, 19, 1].map((seed) => seed + SEED_FROM - 1);

test(`long runs keep every vertex final once, every payload final once, and every replica in one view (seeds ${SEEDS.join(', ')}: 60 s of faults, 4,000 vertices, a ${HORIZON}-sequence horizon)`, async () => {
  const results: SimResult[] = [];
  for (const seed of SEEDS)
    results.push(
      await runSimulation({
        seed,
        replicas: 4,
        faultPhaseMs: 60_000,
        vertices: 4000,
        engine: { dedupHorizonSequences: HORIZON },
      }),
    );
  assertAllClean(results);
  for (const result of results) {
    // finalizedBatches is the highest sequence an honest replica finalized.
    assert.ok(
      result.finalizedBatches > 4 * HORIZON,
      `seed ${result.seed}: ${result.finalizedBatches} sequences`,
    );
    assert.ok(result.counters.verticesPlaced >= 4000, `seed ${result.seed}: every vertex held to one place`);
  }
  assert.ok(
    total(results, (c) => c.expired) > 0,
    'some vertices expired unfinalized and were submitted again',
  );
});

const LONG = SIM_PROFILES.long;
/**
 * Half the long profile's fault phase and load, so that the suite stays short: 500 to 1,500
 * sequences a seed (fewer where faults keep the pipeline full and batches fuller).
 */
const HEAVY = { vertices: LONG.vertices / 2, faultSeconds: LONG.faultSeconds / 2 };
const HEAVY_SEEDS = [SEED_FROM, SEED_FROM + 1];

test(`heavy load with the long profile's settings (${HEAVY.vertices} payloads, ${HEAVY.faultSeconds} s of faults throughout, ${LONG.engine.batchMaxVertices}-vertex batches): hundreds of sequences past the horizon, exactly once across crashes, failed syncs and retries (seeds ${HEAVY_SEEDS.join(', ')})`, async () => {
  const results: SimResult[] = [];
  for (const seed of HEAVY_SEEDS)
    results.push(
      await runSimulation({
        seed,
        replicas: 4,
        faultPhaseMs: HEAVY.faultSeconds * 1000,
        vertices: HEAVY.vertices,
        engine: LONG.engine,
      }),
    );
  assertAllClean(results);
  const horizon = LONG.engine.dedupHorizonSequences;
  for (const result of results) {
    assert.ok(
      result.finalizedBatches > 3 * horizon,
      `seed ${result.seed}: ${result.finalizedBatches} sequences, not three horizons`,
    );
    // Heavy load: batches fill up instead of carrying a vertex or two.
    assert.ok(
      HEAVY.vertices / result.finalizedBatches > 8,
      `seed ${result.seed}: ${(HEAVY.vertices / result.finalizedBatches).toFixed(1)} vertices per batch`,
    );
    assert.ok(
      result.counters.verticesPlaced >= HEAVY.vertices,
      `seed ${result.seed}: every vertex held to one place`,
    );
  }
  // Faults throughout, not only in the first seconds.
  assert.ok(total(results, (c) => c.crashes) > 10, 'processes crashed all along');
  assert.ok(total(results, (c) => c.partitions) > 10, 'partitions formed all along');
  assert.ok(total(results, (c) => c.syncFailures) > 4, 'syncs failed and engines were restarted');
  assert.ok(total(results, (c) => c.viewChanges) > 10, 'views changed');
  assert.ok(
    total(results, (c) => c.resolutionsChecked) >= 2 * HEAVY.vertices,
    "clients' answers were checked",
  );
});
