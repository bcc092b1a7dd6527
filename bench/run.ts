/**
 * `npm run bench [-- --quick] [-- --only micro|cluster] [-- --out file.json]`
 *
 * Runs the benchmarks, prints a table per group and writes every figure as JSON
 * (default `bench/results/latest.json`, not committed).
 */
import { parseArgs } from 'node:util';
import { runMicroBenchmarks } from './micro.ts';
import { type BenchRow, printTable, writeJson } from './report.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string', default: 'bench/results/latest.json' },
    },
    strict: true,
  });
  const groups = values.only === undefined ? ['micro'] : values.only.split(',');
  for (const group of groups) {
    if (!['micro'].includes(group)) throw new Error(`unknown group '${group}': use micro`);
  }
  const results: Record<string, BenchRow[]> = {};
  if (groups.includes('micro')) {
    results.micro = await runMicroBenchmarks(values.quick ? 200 : 1000);
    printTable(
      'Micro-benchmarks (ML-DSA-87, message validation = decode + verify every signature)',
      results.micro,
    );
  }
  writeJson(values.out, {
    date: new Date().toISOString(),
    node: process.version,
    cpus: (await import('node:os')).availableParallelism(),
    results,
  });
  console.log(`\nresults written to ${values.out}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
