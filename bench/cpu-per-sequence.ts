/**
 * `npm run bench:cpu [-- --nodes 4 --rate 20 --seconds 20 --to leader --transport tcp]`
 *
 * What one sequence costs each node in CPU time, by thread: starts a local cluster of node
 * processes, measures each node's CPU while idle, then under an open-loop load at one rate, and
 * prints the CPU time per finalized sequence beyond the idle cost, for the whole process and for
 * each kind of thread (the main thread; `libuv-worker`, which signs, verifies and runs LMDB's
 * commits; V8's helpers, which collect garbage and compile). At a low rate each sequence carries
 * one vertex, so the figures are the CPU floor of a lone vertex's round: on a machine with C
 * cores, n nodes cannot finish a round in less than n x (CPU per sequence) / C of wall time.
 * Under load, the CPU per finalized vertex (microseconds, whole process and main thread) is the
 * figure to compare: a sequence then carries as many vertices as the batcher put in it.
 *
 * Linux only: it reads `/proc/<pid>/task/<tid>/stat`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { leaderApiUrl } from '../src/cli/commands/targets.ts';
import { initCluster } from '../src/cli/init.ts';
import { runLoad } from '../src/cli/load.ts';
import { LocalCluster } from '../src/cli/local-cluster.ts';
import { BftClient } from '../src/client/client.ts';
import { cpuTicksOfStat, nameOfStat, TICKS_PER_SECOND } from './proc-stat.ts';

/** CPU ticks by thread kind of process `pid`: 'main' or the thread's name without its number. */
function ticksByThread(pid: number): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // The thread ended between the listing and the read.
    }
    const kind = Number(tid) === pid ? 'main' : nameOfStat(stat).replace(/\d+$/, '');
    ticks.set(kind, (ticks.get(kind) ?? 0) + cpuTicksOfStat(stat));
  }
  return ticks;
}

/** Milliseconds of CPU between two readings, by thread kind. */
function spent(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  return new Map(
    [...after].map(([kind, ticks]) => [kind, ((ticks - (before.get(kind) ?? 0)) * 1000) / TICKS_PER_SECOND]),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      rate: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '20' },
      'idle-seconds': { type: 'string', default: '10' },
      to: { type: 'string', default: 'leader' },
      'payload-bytes': { type: 'string', default: '256' },
      transport: { type: 'string', default: 'tcp' },
    },
    strict: true,
  });
  const nodes = Number(values.nodes);
  const seconds = Number(values.seconds);
  const idleSeconds = Number(values['idle-seconds']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-cpu-'));
  const transport = values.transport;
  if (transport !== 'tcp' && transport !== 'quic') throw new Error('--transport must be tcp or quic');
  await initCluster({ dir, nodes, transport });
  const cluster = LocalCluster.open(dir);
  await cluster.startAll();
  try {
    const pids = cluster.apiUrls.map((_, i) => cluster.pid(i)!);
    const client = new BftClient({ nodes: cluster.apiUrls });
    const leader = (await client.status(cluster.apiUrls[0])).leader;
    const targets = values.to === 'leader' ? [await leaderApiUrl(cluster.apiUrls)] : cluster.apiUrls;
    // Start-up (module loading, connections) is not idle cost: let it settle first.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const idleFrom = pids.map(ticksByThread);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const idle = pids.map((pid, i) => spent(idleFrom[i]!, ticksByThread(pid)));

    const sequenceFrom = (await client.status(cluster.apiUrls[0])).sequence;
    const loadFrom = pids.map(ticksByThread);
    const report = await runLoad({
      nodes: targets,
      watch: cluster.apiUrls[0]!,
      rate: Number(values.rate),
      durationMs: seconds * 1000,
      payloadBytes: Number(values['payload-bytes']),
    });
    const load = pids.map((pid, i) => spent(loadFrom[i]!, ticksByThread(pid)));
    const sequences = (await client.status(cluster.apiUrls[0])).sequence - sequenceFrom;

    // The load ran `seconds` plus its drain; idle cost is charged for the same span, roughly.
    const loadSeconds = seconds;
    const perSequence = (kind: string | null, i: number): number => {
      const sum = (table: Map<string, number>): number =>
        kind === null ? [...table.values()].reduce((a, b) => a + b, 0) : (table.get(kind) ?? 0);
      return (sum(load[i]!) - (sum(idle[i]!) * loadSeconds) / idleSeconds) / sequences;
    };
    const kinds = [...new Set(load.flatMap((table) => [...table.keys()]))]
      .filter((kind) => load.some((table) => (table.get(kind) ?? 0) > 0))
      .sort();
    const names = await Promise.all(cluster.apiUrls.map(async (url) => (await client.status(url)).nodeId));
    const row = (label: string, cells: readonly string[]): string =>
      `${label.padEnd(16)}${cells.map((cell) => cell.padStart(10)).join('')}\n`;
    process.stdout.write(
      `${sequences} sequences in ${seconds} s at ${values.rate}/s to ${values.to} (p50 ${report.latency.p50Ms.toFixed(1)} ms, ` +
        `p99 ${report.latency.p99Ms.toFixed(1)} ms, ${report.finalized} vertices final); CPU ms per sequence beyond idle, ` +
        `leader ${leader}\n`,
    );
    process.stdout.write(row('thread', names));
    process.stdout.write(
      row(
        'all',
        pids.map((_, i) => perSequence(null, i).toFixed(2)),
      ),
    );
    for (const kind of kinds)
      process.stdout.write(
        row(
          kind,
          pids.map((_, i) => perSequence(kind, i).toFixed(2)),
        ),
      );
    // Under load a sequence carries many vertices: what each costs is the figure to compare.
    for (const [label, kind] of [
      ['us/vertex, all', null],
      ['us/vertex, main', 'main'],
    ] as const)
      process.stdout.write(
        row(
          label,
          pids.map((_, i) =>
            report.finalized === 0
              ? '-'
              : ((perSequence(kind, i) * sequences * 1000) / report.finalized).toFixed(1),
          ),
        ),
      );
    process.stdout.write(
      row(
        'idle ms/s',
        idle.map((table) => ([...table.values()].reduce((a, b) => a + b, 0) / idleSeconds).toFixed(1)),
      ),
    );
  } finally {
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`cpu: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
