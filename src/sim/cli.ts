/**
 * `npm run sim -- --seeds N [--replicas n] [--seed S] [--from S0] [--faults list] [--jobs J]`
 *
 * Runs the deterministic simulator over many seeds (in parallel worker threads) and prints each
 * failing seed with the command that replays it. The last line is always
 * `seeds: N, violations: V, stalled: S`; the exit status is non-zero when V or S is.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ALL_FAULTS, type FaultToggles, NO_FAULTS } from './scenario.ts';
import { runSimulation, type SimResult } from './simulation.ts';

interface Job {
  readonly seeds: readonly number[];
  readonly replicas: number;
  readonly faults: FaultToggles;
  readonly vertices: number;
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

function runJob(job: Job): SimResult[] {
  return job.seeds.map((seed) =>
    runSimulation({ seed, replicas: job.replicas, faults: job.faults, vertices: job.vertices }),
  );
}

function report(result: SimResult): string {
  const problem =
    result.violations.length > 0 ? result.violations.join('; ') : 'stalled: not everything finalized in time';
  return (
    `FAIL seed ${result.seed} (${result.replicas} replicas): ${problem}\n` +
    `  scenario: ${result.scenario}\n` +
    result.diagnosis.map((line) => `  ${line}\n`).join('') +
    `  replay: npm run sim -- --seed ${result.seed} --replicas ${result.replicas}`
  );
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
      jobs: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: npm run sim -- --seeds N [--replicas n] [--from S0] [--faults all|none|loss,duplication,reordering,partitions,crashes,clockSkew] [--vertices V] [--jobs J]\n' +
        '       npm run sim -- --seed S [--replicas n]    replay one seed and describe it',
    );
    return 0;
  }
  const replicas = positive('replicas', values.replicas, 4);
  if (replicas < 1) throw new Error('--replicas must be at least 1');
  const faults = parseFaults(values.faults);
  const vertices = positive('vertices', values.vertices, 40);
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
      const [result] = runJob({ seeds: [seed], replicas, faults, vertices });
      results.push(result!);
      if (result!.violations.length > 0 || result!.stalled) console.log(report(result!));
    }
  } else {
    const shares: number[][] = Array.from({ length: jobs }, () => []);
    for (const [i, seed] of seeds.entries()) shares[i % jobs]!.push(seed);
    await Promise.all(
      shares.map(
        (share) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(new URL(import.meta.url), {
              workerData: { seeds: share, replicas, faults, vertices } satisfies Job,
            });
            worker.on('message', (result: SimResult) => {
              results.push(result);
              if (result.violations.length > 0 || result.stalled) console.log(report(result));
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
        `recovered ${result.recoveryMs ?? '-'} ms after faults, counters ${JSON.stringify(result.counters)}`,
    );
  }
  console.log(
    `speed: ${(seeds.length / seconds).toFixed(1)} seeds/s, ${(batches / seconds).toFixed(0)} finalized batches/s ` +
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
  for (const seed of (workerData as Job).seeds) {
    const [result] = runJob({ ...(workerData as Job), seeds: [seed] });
    parentPort!.postMessage(result);
  }
}
