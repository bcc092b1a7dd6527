/**
 * Runs the simulator over a range of seeds for a test, and fails with every failing seed and
 * the command that replays it. The first seed can be moved with SIM_FROM, to explore new
 * seeds in CI without changing the test.
 */
import assert from 'node:assert/strict';
import { runSimulation, type SimOptions, type SimResult } from '../../src/sim/simulation.ts';

export const SEED_FROM = Number(process.env.SIM_FROM ?? 1);

/** A seed's result with the command that replays it (flags for what the CLI can express). */
export type SeedRun = SimResult & { readonly replay: string };

export async function runSeeds(count: number, options: Omit<SimOptions, 'seed'>): Promise<SeedRun[]> {
  const results: SeedRun[] = [];
  for (let seed = SEED_FROM; seed < SEED_FROM + count; seed++) {
    const result = await runSimulation({ ...options, seed });
    results.push({ ...result, replay: replayCommand(seed, options) });
  }
  return results;
}

/**
 * The `npm run sim` command that replays `seed` under `options`. Options the CLI has no flag for
 * (faults toggled one by one, engine settings, test seams) are named so that nobody trusts a
 * replay that leaves them out.
 */
function replayCommand(seed: number, options: Omit<SimOptions, 'seed'>): string {
  const { replicas, vertices, faultPhaseMs, byzantine, reconfigure } = options;
  const flags = [`--seed ${seed}`, `--replicas ${replicas}`];
  if (vertices !== undefined) flags.push(`--vertices ${vertices}`);
  if (faultPhaseMs !== undefined) flags.push(`--fault-seconds ${faultPhaseMs / 1000}`);
  if (byzantine !== undefined && byzantine.replicas === undefined)
    flags.push(`--byzantine ${byzantine.count} --strategy ${byzantine.strategy}`);
  if (reconfigure === true) flags.push('--reconfigure');
  const unexpressed: string[] = (['faults', 'engine', 'testSeams', 'livenessBoundMs'] as const).filter(
    (name) => options[name] !== undefined,
  );
  if (byzantine?.replicas !== undefined) unexpressed.push('byzantine');
  const caveat = unexpressed.length === 0 ? '' : ` (without the test's ${unexpressed.join(', ')})`;
  return `npm run sim -- ${flags.join(' ')}${caveat}`;
}

export function assertAllClean(results: readonly (SimResult & { readonly replay?: string })[]): void {
  const failures = results.filter((result) => result.violations.length > 0 || result.stalled);
  const described = failures.map(
    (result) =>
      `seed ${result.seed}: ${result.stalled ? 'stalled' : result.violations.join('; ')}\n  ${result.scenario}\n` +
      `  ${result.diagnosis.join('\n  ')}\n  replay: ` +
      (result.replay ??
        `npm run sim -- --seed ${result.seed} --replicas ${result.replicas}` +
          (result.reconfiguration === undefined ? '' : ' --reconfigure')),
  );
  assert.equal(failures.length, 0, described.join('\n'));
}
