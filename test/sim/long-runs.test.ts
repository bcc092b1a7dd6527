/**
 * Long runs under heavy load: a minute of faults and 4,000 client vertices reach several
 * thousand sequences, far past the watermark window and, with a horizon of 128 sequences,
 * several times past the dedup horizon, so that vertices expire, are submitted again as new
 * ones, and old ones are retried long after they were final. Before vertices carried
 * validThrough, seeds 6 and 19 of these settings each finalized a vertex twice (with the old
 * 64-sequence dedup window); the view-agreement check (every honest replica active in one view
 * soon after the faults) failed on 66 of 400 short seeds before replicas left views only with a
 * timeout certificate. The runs drive the engine that ships, with its store, network and clock
 * simulated (disk faults included).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation } from '../../src/sim/simulation.ts';
import { assertAllClean, SEED_FROM } from './runs.ts';

const SEEDS = [6, 19, 1].map((seed) => seed + SEED_FROM - 1);
const HORIZON = 128;

test(`long runs under heavy load keep every vertex final once, every payload final once, and every replica in one view (seeds ${SEEDS.join(', ')}: 60 s of faults, 4,000 vertices, a ${HORIZON}-sequence horizon)`, async () => {
  const results = [];
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
  }
  assert.ok(
    results.reduce((sum, result) => sum + result.counters.expired, 0) > 0,
    'some vertices expired unfinalized and were submitted again',
  );
});
