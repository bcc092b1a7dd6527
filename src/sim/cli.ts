/**
 * `npm run sim -- --seeds N [--replicas n] [--seed S] [--from S0] [--faults list] [--jobs J]
 *  [--profile default|long] [--vertices V] [--fault-seconds S] [--horizon H] [--batch-vertices B]
 *  [--byzantine f --strategy name|all] [--reconfigure]`
 *
 * Runs the deterministic simulator over many seeds (in parallel worker threads) and prints each
 * failing seed with the command that replays it. With Byzantine replicas, it also prints how
 * many were detected and banned by the honest ones (per strategy with `all`) and how many
 * honest replicas were banned. The last line is always `seeds: N, violations: V, stalled: S`;
 * the exit status is non-zero when V or S is.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { BftConfig } from '../engine/index.ts';
import { isStrategyName, STRATEGY_NAMES, type StrategyName } from './byzantine/index.ts';
import { isSimProfileName, SIM_PROFILES } from './profiles.ts';
import { ALL_FAULTS, type FaultToggles, NO_FAULTS } from './scenario.ts';
import { runSimulation, type SimOptions, type SimResult } from './simulation.ts';

interface Job {
  readonly seeds: readonly number[];
  readonly replicas: number;
  readonly faults: FaultToggles;
  readonly vertices: number;
  readonly faultSeconds: number;
  readonly engine: Partial<BftConfig>;
  readonly byzantine: SimOptions['byzantine'];
  readonly reconfigure: boolean;
}

function parseStrategy(value: string | undefined): StrategyName | 'all' {
  if (value === undefined || value === 'all') return 'all';
  if (!isStrategyName(value))
    throw new Error(`unknown strategy '${value}': use all or one of ${STRATEGY_NAMES.join(', ')}`);
  return value;
}

function parseFaults(value: string | undefined): FaultToggles {
  if (value === undefined || value === 'all') return ALL_FAULTS;
  if (value === 'none') return NO_FAULTS;
  const chosen = new Set(value.split(',').map((part) => part.trim()));
  const known = Object.keys(ALL_FAULTS);
  for (const name of chosen) {
    if (!known.includes(name))
      throw new Error(`unknown fault '${name}': use all, none, or a list of ${known.join(', ')}`);
  }
  return Object.fromEntries(known.map((name) => [name, chosen.has(name)])) as unknown as FaultToggles;
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0)
    throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return parsed;
}

function runSeed(job: Job, seed: number): Promise<SimResult> {
  return runSimulation({
    seed,
    replicas: job.replicas,
    faults: job.faults,
    vertices: job.vertices,
    faultPhaseMs: job.faultSeconds * 1000,
    engine: job.engine,
    ...(job.byzantine === undefined ? {} : { byzantine: job.byzantine }),
    reconfigure: job.reconfigure,
  });
}

function report(result: SimResult, byzantine: SimOptions['byzantine'], load: string): string {
  const replay =
    `npm run sim -- --seed ${result.seed} --replicas ${result.replicas}${load}` +
    (byzantine === undefined ? '' : ` --byzantine ${byzantine.count} --strategy ${byzantine.strategy}`);
  const playing = result.byzantine.map((outcome) => `r${outcome.replica} ${outcome.strategy}`).join(', ');
  const problem =
    result.violations.length > 0 ? result.violations.join('; ') : 'stalled: not everything finalized in time';
  return (
    `FAIL seed ${result.seed} (${result.replicas} replicas): ${problem}\n` +
    `  scenario: ${result.scenario}${playing === '' ? '' : `; byzantine: ${playing}`}\n` +
    result.diagnosis.map((line) => `  ${line}\n`).join('') +
    `  replay: ${replay}`
  );
}

/** What the operators requested over the runs, and how many epoch changes took effect. */
function reconfigurationSummary(results: readonly SimResult[]): string {
  const sum = (pick: (counts: NonNullable<SimResult['reconfiguration']>) => number): number =>
    results.reduce(
      (total, result) => total + (result.reconfiguration === undefined ? 0 : pick(result.reconfiguration)),
      0,
    );
  return (
    `reconfiguration: ${sum((counts) => counts.epochs)} epoch changes took effect of ${sum((counts) => counts.requests)} requests ` +
    `(${sum((counts) => counts.removals)} removals, ${sum((counts) => counts.rotations)} key rotations, ` +
    `${sum((counts) => counts.reorders)} reorders, ${sum((counts) => counts.additions)} additions, ` +
    `${sum((counts) => counts.replacements)} replacements), ${sum((counts) => counts.replays)} replays, ` +
    `${sum((counts) => counts.joined)} new machines joined`
  );
}

/** How many Byzantine replicas were detected and banned: in all, then per strategy with `all`. */
function byzantineSummary(results: readonly SimResult[], strategy: StrategyName | 'all'): string[] {
  const outcomes = results.flatMap((result) => result.byzantine);
  const line = (label: string, of: typeof outcomes): string =>
    `${label}: ${of.length} replicas, detected ${of.filter((outcome) => outcome.detected).length}, ` +
    `banned ${of.filter((outcome) => outcome.banned).length}`;
  const lines = [line(`byzantine (${strategy})`, outcomes)];
  if (strategy === 'all') {
    for (const name of STRATEGY_NAMES) {
      const of = outcomes.filter((outcome) => outcome.strategy === name);
      if (of.length > 0) lines.push(line(`  ${name}`, of));
    }
  }
  lines.push(`honest banned: ${results.reduce((sum, result) => sum + result.honestBanned, 0)}`);
  return lines;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      from: { type: 'string' },
      replicas: { type: 'string' },
      faults: { type: 'string' },
      vertices: { type: 'string' },
      'fault-seconds': { type: 'string' },
      profile: { type: 'string' },
      horizon: { type: 'string' },
      'batch-vertices': { type: 'string' },
      jobs: { type: 'string' },
      byzantine: { type: 'string' },
      strategy: { type: 'string' },
      reconfigure: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      `usage: npm run sim -- --seeds N [--replicas n] [--from S0] [--faults all|none|${Object.keys(ALL_FAULTS).join(',')}] [--jobs J]\n` +
        `                      [--profile ${Object.keys(SIM_PROFILES).join('|')}] [--vertices V] [--fault-seconds S] [--horizon H] [--batch-vertices B]\n` +
        '                      [--byzantine F [--strategy all|' +
        STRATEGY_NAMES.join('|') +
        ']] [--reconfigure]\n' +
        '       npm run sim -- --seed S [--replicas n] [--byzantine F --strategy name]    replay one seed and describe it\n' +
        '  --byzantine F   F replicas (at most f = floor((n - 1) / 3)), drawn from the seed, play a Byzantine\n' +
        '                  strategy for the whole run; all (the default) takes the strategies in turn by seed.\n' +
        '                  The summary counts the Byzantine replicas detected (an honest replica recorded a\n' +
        '                  proven violation by it) and banned (an honest replica banned it), per strategy with\n' +
        '                  all, and the honest replicas banned by honest ones (always 0 in a correct run).\n' +
        '  --profile long  long seeds under heavy load (npm run sim:long): 30,000 client payloads over 120 s of\n' +
        '                  faults drawn throughout, 64-vertex batches, a 128-sequence dedup horizon; each seed\n' +
        '                  reaches about two thousand sequences. --vertices, --fault-seconds, --horizon\n' +
        '                  (dedupHorizonSequences) and --batch-vertices (batchMaxVertices) override a profile.\n' +
        '  --reconfigure   an operator changes the validator set one to three times during the faults: key\n' +
        '                  rotations, reorders that renumber every validator, removals (the leader too),\n' +
        '                  a removed replica added back and a validator replaced, each on a new machine that\n' +
        '                  joins by fetching the history (not in runs that prune it), and replays of\n' +
        '                  requests that took effect. The checkers hold every vote to the epoch\n' +
        "                  it names, and liveness and view agreement to the newest epoch's validators.",
    );
    return 0;
  }
  const replicas = positive('replicas', values.replicas, 4);
  if (replicas < 1) throw new Error('--replicas must be at least 1');
  const faults = parseFaults(values.faults);
  const profileName = values.profile ?? 'default';
  if (!isSimProfileName(profileName))
    throw new Error(`unknown profile '${profileName}': use ${Object.keys(SIM_PROFILES).join(' or ')}`);
  const profile = SIM_PROFILES[profileName];
  // Long runs under heavy load reach far more sequences than the dedup horizon and the
  // watermark window: a duplicate that needs hundreds of sequences shows only there.
  const vertices = positive('vertices', values.vertices, profile.vertices);
  const faultSeconds = positive('fault-seconds', values['fault-seconds'], profile.faultSeconds);
  const engine: Partial<BftConfig> = {
    ...profile.engine,
    ...(values.horizon === undefined
      ? {}
      : { dedupHorizonSequences: positive('horizon', values.horizon, 0) }),
    ...(values['batch-vertices'] === undefined
      ? {}
      : { batchMaxVertices: positive('batch-vertices', values['batch-vertices'], 0) }),
  };
  // What the replay command needs besides the seed and the replicas.
  const load =
    (values.faults === undefined ? '' : ` --faults ${values.faults}`) +
    (values.profile === undefined ? '' : ` --profile ${profileName}`) +
    (values.vertices === undefined ? '' : ` --vertices ${vertices}`) +
    (values['fault-seconds'] === undefined ? '' : ` --fault-seconds ${faultSeconds}`) +
    (values.horizon === undefined ? '' : ` --horizon ${values.horizon}`) +
    (values['batch-vertices'] === undefined ? '' : ` --batch-vertices ${values['batch-vertices']}`) +
    (values.reconfigure === true ? ' --reconfigure' : '');
  const reconfigure = values.reconfigure === true;
  if (values.strategy !== undefined && values.byzantine === undefined)
    throw new Error('--strategy needs --byzantine F');
  const byzantineCount = positive('byzantine', values.byzantine, 0);
  const f = Math.floor((replicas - 1) / 3);
  if (byzantineCount > f)
    throw new Error(`--byzantine ${byzantineCount} is more than f = ${f} of ${replicas} replicas`);
  const strategy = parseStrategy(values.strategy);
  const byzantine = values.byzantine === undefined ? undefined : { count: byzantineCount, strategy };
  let seeds: number[];
  if (values.seed !== undefined) {
    seeds = [positive('seed', values.seed, 0)];
  } else {
    const count = positive('seeds', values.seeds, 100);
    const from = positive('from', values.from, 1);
    seeds = Array.from({ length: count }, (_, i) => from + i);
  }
  const jobs = Math.max(1, Math.min(positive('jobs', values.jobs, availableParallelism()), seeds.length));

  const started = performance.now();
  const results: SimResult[] = [];
  if (jobs === 1) {
    for (const seed of seeds) {
      const result = await runSeed(
        { seeds, replicas, faults, vertices, faultSeconds, engine, byzantine, reconfigure },
        seed,
      );
      results.push(result);
      if (result.violations.length > 0 || result.stalled) console.log(report(result, byzantine, load));
    }
  } else {
    const shares: number[][] = Array.from({ length: jobs }, () => []);
    for (const [i, seed] of seeds.entries()) shares[i % jobs]!.push(seed);
    await Promise.all(
      shares.map(
        (share) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(new URL(import.meta.url), {
              workerData: {
                seeds: share,
                replicas,
                faults,
                vertices,
                faultSeconds,
                engine,
                byzantine,
                reconfigure,
              } satisfies Job,
            });
            worker.on('message', (result: SimResult) => {
              results.push(result);
              if (result.violations.length > 0 || result.stalled)
                console.log(report(result, byzantine, load));
            });
            worker.on('error', reject);
            worker.on('exit', (code) =>
              code === 0 ? resolve() : reject(new Error(`simulator worker exited with ${code}`)),
            );
          }),
      ),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const violations = results.filter((result) => result.violations.length > 0).length;
  const stalled = results.filter((result) => result.stalled).length;
  const batches = results.reduce((sum, result) => sum + result.finalizedBatches, 0);
  if (seeds.length === 1) {
    const result = results[0]!;
    console.log(`seed ${result.seed}: ${result.scenario}`);
    console.log(
      `  finalized ${result.finalizedBatches} batches, ${result.messages} messages, ${result.virtualMs} virtual ms, ` +
        `recovered ${result.recoveryMs ?? '-'} ms after faults, ${result.events} events, counters ${JSON.stringify(result.counters)}`,
    );
    console.log(`  verdicts ${JSON.stringify(result.verdicts)}`);
    console.log(
      `  high-water marks of collections without a configured bound ${JSON.stringify(result.highWater)}`,
    );
    if (result.reconfiguration !== undefined)
      console.log(`  reconfiguration ${JSON.stringify(result.reconfiguration)}`);
    for (const outcome of result.byzantine) {
      console.log(
        `  byzantine r${outcome.replica} ${outcome.strategy}: ${outcome.detected ? 'detected' : 'not detected'}, ` +
          `${outcome.banned ? 'banned' : 'not banned'}`,
      );
    }
  }
  if (byzantine !== undefined) for (const line of byzantineSummary(results, strategy)) console.log(line);
  if (reconfigure) console.log(reconfigurationSummary(results));
  const longest = results.reduce((most, result) => Math.max(most, result.finalizedBatches), 0);
  const expired = results.reduce((sum, result) => sum + result.counters.expired, 0);
  console.log(
    `load: ${(batches / results.length).toFixed(0)} sequences per seed (at most ${longest}), ` +
      `${((vertices * results.length) / Math.max(1, batches)).toFixed(1)} client vertices per batch, ` +
      `${expired} expired and submitted again`,
  );
  console.log(
    `speed: ${(seeds.length / seconds).toFixed(seeds.length / seconds < 1 ? 2 : 1)} seeds/s, ${(batches / seconds).toFixed(0)} finalized batches/s ` +
      `(${seconds.toFixed(1)} s wall, ${jobs} threads, ${replicas} replicas)`,
  );
  console.log(`seeds: ${seeds.length}, violations: ${violations}, stalled: ${stalled}`);
  return violations > 0 || stalled > 0 ? 1 : 0;
}

if (isMainThread) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(2);
    },
  );
} else {
  const job = workerData as Job;
  for (const seed of job.seeds) parentPort!.postMessage(await runSeed(job, seed));
}
