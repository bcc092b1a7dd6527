/**
 * `npm run fuzz -- --runs N [--seed S] [--reset R]`
 *
 * Feeds random and mutated frames from a Byzantine peer through decode, verify and step of
 * three honest replicas (see cluster.ts), with ticks and client vertices in between. Fails on
 * any exception, any disagreement between the honest replicas, or any state map outside its
 * bound; prints the seed that replays the run.
 */
import { parseArgs } from 'node:util';
import { type FuzzReport, runFuzz } from './fuzz.ts';

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1)
    throw new Error(`--${name} must be a positive integer, got '${value}'`);
  return parsed;
}

function main(): number {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      reset: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: npm run fuzz -- --runs N [--seed S] [--reset R]   (R: inputs per fresh cluster, default 2000)',
    );
    return 0;
  }
  const runs = integer('runs', values.runs, 10_000);
  const seed = integer('seed', values.seed, Date.now() % 2 ** 31);
  const resetEvery = integer('reset', values.reset, 2000);
  console.log(
    `fuzz: ${runs} inputs, seed ${seed} (replay: npm run fuzz -- --runs ${runs} --seed ${seed} --reset ${resetEvery})`,
  );
  const tty = process.stderr.isTTY === true;
  let lastLine = performance.now();
  const report: FuzzReport = runFuzz({
    runs,
    seed,
    resetEvery,
    onProgress: (done) => {
      // On a terminal the count is rewritten in place; in logs, a line every 10 s.
      if (tty) process.stderr.write(`\r${done} / ${runs}`);
      else if (performance.now() - lastLine > 10_000) {
        lastLine = performance.now();
        process.stderr.write(`${done} / ${runs}\n`);
      }
    },
  });
  if (tty) process.stderr.write('\n');
  const o = report.outcomes;
  console.log(
    `frames: ${o.malformed} malformed, ${o.invalidSignature} bad signature, ${o.rejected} rejected, ${o.ignored} ignored, ${o.accepted} accepted`,
  );
  console.log(
    `honest replicas finalized up to sequence ${report.highestFinalized} (max over clusters), ${report.clusters} clusters`,
  );
  console.log(
    `largest state maps: ${Object.entries(report.footprint)
      .map(([name, { size, bound }]) => `${name} ${size}/${bound}`)
      .join(', ')}`,
  );
  console.log(
    `speed: ${(runs / report.seconds).toFixed(0)} inputs/s (${report.seconds.toFixed(1)} s), heap ${report.heapMiB.toFixed(0)} MiB`,
  );
  if (report.failure !== null) {
    console.log(`FAIL: ${report.failure}`);
    return 1;
  }
  console.log('fuzz: clean');
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 2;
}
