/**
 * Runs the simulator over a range of seeds for a test, and fails with every failing seed and
 * the command that replays it. The first seed can be moved with SIM_FROM, to explore new
 * seeds in CI without changing the test.
 */
import assert from 'node:assert/strict';
import { runSimulation, type SimOptions, type SimResult } from '../../src/sim/simulation.ts';

export const SEED_FROM = Number(process.env.SIM_FROM ?? 1);

export async function runSeeds(count: number, options: Omit<SimOptions, 'seed'>): Promise<SimResult[]> {
  const results: SimResult[] = [];
  for (let seed = SEED_FROM; seed < SEED_FROM + count; seed++)
    results.push(await runSimulation({ ...options, seed }));
  return results;
}

export function assertAllClean(results: readonly SimResult[]): void {
  const failures = results.filter((result) => result.violations.length > 0 || result.stalled);
  const described = failures.map(
    (result) =>
      `seed ${result.seed}: ${result.stalled ? 'stalled' : result.violations.join('; ')}\n  ${result.scenario}\n` +
      `  ${result.diagnosis.join('\n  ')}\n  replay: npm run sim -- --seed ${result.seed} --replicas ${result.replicas}` +
      (result.reconfiguration === undefined ? '' : ' --reconfigure'),
  );
  assert.equal(failures.length, 0, described.join('\n'));
}
