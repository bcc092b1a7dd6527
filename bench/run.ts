/**
 * `npm run bench [-- --quick] [-- --only micro,cluster,threaded,store] [-- --seconds N] [-- --out file.json]`
 *
 * Runs the benchmarks, prints a table per group and writes every figure as JSON
 * (default `bench/results/latest.json`, not committed).
 */
import { parseArgs } from 'node:util';
import { benchOfferedLoad, benchPeak, benchVertexProposal, type ClusterBenchOptions } from './cluster.ts';
import { runMicroBenchmarks } from './micro.ts';
import { type BenchRow, Progress, printTable, writeJson } from './report.ts';
import { benchStore, DEFAULT_STORE_BENCH } from './store.ts';
import { benchThreadedOfferedLoad, benchThreadedPeak } from './threaded-cluster.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string', default: 'bench/results/latest.json' },
      seconds: { type: 'string' },
    },
    strict: true,
  });
  const known = ['micro', 'cluster', 'threaded', 'store'];
  const groups = values.only === undefined ? known : values.only.split(',');
  for (const group of groups) {
    if (!known.includes(group)) throw new Error(`unknown group '${group}': use ${known.join(', ')}`);
  }
  const seconds = values.seconds === undefined ? (values.quick ? 3 : 10) : Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got '${values.seconds}'`);
  const results: Record<string, unknown> = {};
  if (groups.includes('micro')) {
    const micro = await runMicroBenchmarks(values.quick ? 200 : 1000);
    results.micro = micro;
    printTable('Micro-benchmarks (ML-DSA-87, message validation = decode + verify every signature)', micro);
  }
  const progress = new Progress();
  const options: ClusterBenchOptions = {
    seconds,
    warmupSeconds: values.quick ? 1 : 2,
    rates: [1_000, 10_000],
    peakInFlight: 20_000,
    profilePath: `${values.out.replace(/\.json$/, '')}-peak.cpuprofile`,
    progress,
  };
  if (groups.includes('cluster')) {
    const rows: BenchRow[] = [await benchVertexProposal(values.quick ? 100 : 300, progress)];
    for (const rate of options.rates) rows.push(await benchOfferedLoad(rate, options));
    const peak = await benchPeak(options);
    rows.push(peak);
    results.cluster = rows;
    results.peakProfileTop = peak.profileTop;
    printTable(
      `4 replicas in one process, ML-DSA-87, 256-byte vertices, ${seconds} s per load after warm-up ` +
        '(ops/s = finalized vertices/s at replica 0; latency = propose() to final)',
      rows,
    );
    console.log(`\nCPU profile of the peak run (self time); full profile in ${options.profilePath}:`);
    for (const line of peak.profileTop) console.log(`  ${line}`);
  }
  if (groups.includes('threaded')) {
    const rows: BenchRow[] = [];
    for (const rate of options.rates) rows.push(await benchThreadedOfferedLoad(rate, options));
    rows.push(await benchThreadedPeak(options));
    results.threaded = rows;
    printTable(
      `4 replicas in one process, one worker thread each (MessagePort links), ML-DSA-87, 256-byte vertices, ` +
        `${seconds} s per load after warm-up (latency = from when the proposal fell due to final)`,
      rows,
    );
  }
  if (groups.includes('store')) {
    const store = { ...DEFAULT_STORE_BENCH, ...(values.quick ? { batches: 50, runs: 1 } : {}) };
    const rows = await benchStore(store);
    results.store = rows;
    printTable(
      `LMDB store: ${store.batches} batches applied (then pruned) one at a time, one synced transaction each, ` +
        `${store.runs} runs (ops/s = vertices/s; latency = wall ms per batch)`,
      rows,
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
