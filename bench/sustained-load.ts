/**
 * `npm run bench:sustained [-- --rate 8000|max --seconds 240 --step 30 --to leader --payload-bytes 256]`
 *
 * What a cluster does when the load lasts: starts a local cluster of four node processes (TCP,
 * synced LMDB), drives the load of `cretoai-node bench` at one rate for minutes, and prints
 * every `--step` seconds, per node, its CPU (all threads, as a share of one core), the bytes it
 * wrote through system calls (disk and sockets: `wchar` in `/proc/<pid>/io`) and the size of
 * its data file; then what was finalized, with p50 and p99, and the load generator's own CPU.
 *
 * Why beside `cretoai-node bench`: its runs last 30 s, when a node's store and vertex index
 * are still small. Costs that grow with the store (the index's pages a commit rewrites, LMDB's
 * free pages) show only after minutes, and so does a rate the cluster cannot sustain.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { leaderApiUrl } from '../src/cli/commands/targets.ts';
import { initCluster } from '../src/cli/init.ts';
import { runLoad } from '../src/cli/load.ts';
import { LocalCluster } from '../src/cli/local-cluster.ts';
import { cpuTicksOfStat, TICKS_PER_SECOND } from './proc-stat.ts';

const NODES = 4;

/** One node's counters at an instant. */
interface Sample {
  readonly cpuSeconds: number;
  readonly writtenBytes: number;
  readonly dataFileBytes: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '8000' },
      seconds: { type: 'string', default: '240' },
      step: { type: 'string', default: '30' },
      to: { type: 'string', default: 'leader' },
      'payload-bytes': { type: 'string', default: '256' },
    },
    strict: true,
  });
  const rate = values.rate === 'max' ? 'max' : Number(values.rate);
  const seconds = Number(values.seconds);
  const step = Number(values.step);
  if (rate !== 'max' && !(rate > 0)) throw new Error('--rate must be a positive number or max');
  if (!(step > 0 && step <= seconds)) throw new Error('--step must be positive and at most --seconds');
  if (values.to !== 'leader' && values.to !== 'all') throw new Error('--to must be leader or all');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-sustained-'));
  try {
    await initCluster({ dir, nodes: NODES, transport: 'tcp' });
    const cluster = LocalCluster.open(dir, {});
    await cluster.startAll();
    try {
      const pids = Array.from({ length: NODES }, (_, i) => cluster.pid(i));
      if (pids.some((pid) => pid === null)) throw new Error('a node did not start');
      const sample = (node: number): Sample =>
        readSample(pids[node]!, path.join(dir, 'data', `node-${node}`));
      const leaderUrl = await leaderApiUrl(cluster.apiUrls);
      process.stdout.write(
        `${NODES} nodes, ${rate === 'max' ? 'as fast as it goes' : `${rate}/s offered`} to ` +
          `${values.to === 'leader' ? `the leader (node-${cluster.apiUrls.indexOf(leaderUrl)})` : 'every node'} ` +
          `for ${seconds} s; per node: CPU (share of a core), MB/s written (disk and sockets), data file MB\n`,
      );
      let previous = Array.from({ length: NODES }, (_, node) => sample(node));
      let previousAt = performance.now();
      const started = previousAt;
      const timer = setInterval(() => {
        const now = performance.now();
        const elapsed = (now - previousAt) / 1000;
        const current = Array.from({ length: NODES }, (_, node) => sample(node));
        const cells = current.map((at, node) => {
          const before = previous[node]!;
          const cpu = (at.cpuSeconds - before.cpuSeconds) / elapsed;
          const written = (at.writtenBytes - before.writtenBytes) / elapsed / 1e6;
          return `node-${node} ${(cpu * 100).toFixed(0)}% ${written.toFixed(1)} MB/s ${(at.dataFileBytes / 1e6).toFixed(0)} MB`;
        });
        process.stdout.write(`t=${Math.round((now - started) / 1000)}s  ${cells.join(' | ')}\n`);
        previous = current;
        previousAt = now;
      }, step * 1000);
      const cpuBefore = process.cpuUsage();
      try {
        const report = await runLoad({
          nodes: values.to === 'leader' ? [leaderUrl] : cluster.apiUrls,
          watch: cluster.apiUrls[0]!,
          rate,
          durationMs: seconds * 1000,
          warmupMs: 2000,
          payloadBytes: Number(values['payload-bytes']),
        });
        const used = process.cpuUsage(cpuBefore);
        const generator = (used.user + used.system) / 1e6 / ((performance.now() - started) / 1000);
        process.stdout.write(
          `finalized ${report.finalizedPerSecond.toFixed(0)}/s, p50 ${report.latency.p50Ms.toFixed(0)} ms, ` +
            `p99 ${report.latency.p99Ms.toFixed(0)} ms; the load generator used ${(generator * 100).toFixed(0)}% of a core\n`,
        );
      } finally {
        clearInterval(timer);
      }
    } finally {
      await cluster.stopAll();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A node process's CPU time (all its threads), bytes written by system calls, and data file size. */
function readSample(pid: number, dataDir: string): Sample {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  const wchar = /^wchar: (\d+)$/m.exec(io);
  const ticks = cpuTicksOfStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const dataFile = fs.statSync(path.join(dataDir, 'data.mdb'), { throwIfNoEntry: false });
  return {
    cpuSeconds: ticks / TICKS_PER_SECOND,
    writtenBytes: wchar === null ? 0 : Number(wchar[1]),
    dataFileBytes: dataFile?.size ?? 0,
  };
}

await main();
