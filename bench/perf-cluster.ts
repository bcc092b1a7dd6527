/**
 * `npm run bench:perf [-- --nodes 4 --rate 8000 --seconds 30 --record-seconds 12 --to leader --top 25
 *   --transport tcp]`
 *
 * Where each node's CPU goes, counted on the CPU only: starts a local cluster of node processes
 * with V8's perf JIT dump on (`--perf-prof`), drives the load of `cretoai-node bench` at one
 * rate, samples the nodes with Linux `perf` (the `cpu-clock` event: a thread is sampled only
 * while it runs) in the middle of the run, and prints per node the CPU by thread kind, then for
 * each node's main thread the share of each source function (a sample counts for the innermost
 * function of `src/` on its stack, so a builtin or the collector counts for its caller there),
 * and for the other threads their top native functions.
 *
 * Why beside `bench:profile`: V8's profiler samples a thread on a wall-clock timer, so on a
 * machine with fewer cores than busy threads its samples include the time a thread waits for a
 * core, charged to wherever it lost it (docs/benchmarks.md). `perf` counts only time on a core.
 *
 * Needs `perf` (Debian's `linux-perf`) and permission to sample the node processes (root, or
 * `kernel.perf_event_paranoid` at most 1 for a user's own processes). The samples, the JIT
 * dumps and the printed tables stay in the printed directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { leaderApiUrl } from '../src/cli/commands/targets.ts';
import { initCluster } from '../src/cli/init.ts';
import { runLoad } from '../src/cli/load.ts';
import { LocalCluster } from '../src/cli/local-cluster.ts';

/** Samples per second and thread; prime, so that it does not beat with the engine's timers. */
const SAMPLE_HZ = 997;

/** One sample as `perf script` prints it: the process, the thread's name, the stack leaf first. */
interface Sample {
  readonly pid: number;
  readonly thread: string;
  readonly frames: readonly string[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      rate: { type: 'string', default: '8000' },
      seconds: { type: 'string', default: '30' },
      'record-seconds': { type: 'string', default: '12' },
      to: { type: 'string', default: 'leader' },
      top: { type: 'string', default: '25' },
      'payload-bytes': { type: 'string', default: '256' },
      transport: { type: 'string', default: 'tcp' },
    },
    strict: true,
  });
  const nodes = Number(values.nodes);
  const seconds = Number(values.seconds);
  const recordSeconds = Number(values['record-seconds']);
  const rate = values.rate === 'max' ? 'max' : Number(values.rate);
  if (!(recordSeconds > 0 && recordSeconds < seconds)) {
    throw new Error('--record-seconds must be positive and shorter than --seconds');
  }
  const transport = values.transport;
  if (transport !== 'tcp' && transport !== 'quic') throw new Error('--transport must be tcp or quic');
  if (spawnSync('perf', ['--version']).status !== 0) {
    throw new Error('perf is not installed (Debian: apt-get install linux-perf)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-perf-'));
  const samplesFile = path.join(dir, 'perf.data');
  await initCluster({ dir, nodes, transport });
  // The JIT dumps land in the nodes' working directory, which is this process's.
  process.chdir(dir);
  const cluster = LocalCluster.open(dir, {
    env: { NODE_OPTIONS: '--perf-prof --interpreted-frames-native-stack' },
  });
  await cluster.startAll();
  const pids = Array.from({ length: nodes }, (_, i) => cluster.pid(i)).filter((pid) => pid !== null);
  let recording: Promise<number | null> | undefined;
  let leader: number | undefined;
  try {
    const leaderUrl = await leaderApiUrl(cluster.apiUrls);
    leader = pids[cluster.apiUrls.indexOf(leaderUrl)];
    const targets = values.to === 'leader' ? [leaderUrl] : cluster.apiUrls;
    // Record the middle of the run: after start-up and the compilers' first tiers, before the end.
    const startIn = ((seconds - recordSeconds) / 2) * 1000;
    const timer = setTimeout(() => {
      const perf = spawn(
        'perf',
        ['record', '-e', 'cpu-clock', '-F', String(SAMPLE_HZ), '-g', '-k', 'mono', '-o', samplesFile].concat([
          '-p',
          pids.join(','),
          '--',
          'sleep',
          String(recordSeconds),
        ]),
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      recording = new Promise((resolve) => perf.on('exit', resolve));
    }, startIn);
    const report = await runLoad({
      nodes: targets,
      watch: cluster.apiUrls[0]!,
      rate,
      durationMs: seconds * 1000,
      warmupMs: 2000,
      payloadBytes: Number(values['payload-bytes']),
    });
    clearTimeout(timer);
    process.stderr.write(
      `perf: ${report.finalizedPerSecond.toFixed(0)} finalized/s, p50 ${report.latency.p50Ms.toFixed(0)} ms, ` +
        `p99 ${report.latency.p99Ms.toFixed(0)} ms\n`,
    );
    if ((await recording) !== 0) throw new Error('perf record failed (see above)');
  } finally {
    await cluster.stopAll();
  }
  const injected = path.join(dir, 'perf.jit.data');
  run('perf', ['inject', '--jit', '-i', samplesFile, '-o', injected]);
  const script = run('perf', ['script', '-i', injected, '-F', 'pid,comm,ip,sym']);
  const samples = parseSamples(script);
  const out = formatReport(samples, pids, Number(values.top), leader, recordSeconds);
  fs.writeFileSync(path.join(dir, 'report.txt'), out);
  process.stdout.write(out);
  // perf inject writes a file per compiled function (a gigabyte over a run): keep only what
  // reproduces the report (the samples and the JIT dumps; inject again to symbolize).
  for (const file of fs.readdirSync(dir)) {
    if (/^jitted-.*\.so$/.test(file) || file === 'perf.jit.data') fs.rmSync(path.join(dir, file));
  }
  process.stderr.write(`perf: samples, JIT dumps and report in ${dir}\n`);
}

/** Runs a command to its end and returns its output, or throws with its error output. */
function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`${command} ${args[0]} failed: ${result.stderr.slice(0, 2000)}`);
  return result.stdout;
}

/**
 * Parses `perf script -F pid,comm,ip,sym`: a header line per sample (`<comm> <pid>`, the
 * thread's name possibly holding spaces), then one indented `<address> <symbol>` line per frame.
 */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  let header: { pid: number; thread: string } | null = null;
  let frames: string[] = [];
  const flush = (): void => {
    if (header !== null && frames.length > 0) samples.push({ ...header, frames });
    header = null;
    frames = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (!/^\s/.test(line)) {
      flush();
      const match = /^(.*?)\s+(\d+)\s*$/.exec(line);
      if (match !== null) header = { thread: match[1]!, pid: Number(match[2]) };
      continue;
    }
    const frame = /^\s+[0-9a-f]+\s+(.*)$/.exec(line);
    if (frame !== null) frames.push(frame[1]!);
  }
  flush();
  return samples;
}

/** The kind of a thread by its name: 'main', or the name without its number. */
function threadKind(name: string): string {
  if (name === 'node' || name === 'MainThread') return 'main';
  return name.replace(/\d+$/, '');
}

/** What a main-thread sample counts for: the innermost function of `src/` on its stack. */
function sourceFunction(frames: readonly string[]): string {
  const source = frames.find((frame) => frame.includes('/src/'));
  if (source !== undefined) return shortFrame(source);
  const script = frames.find((frame) => frame.startsWith('JS:'));
  return script !== undefined ? shortFrame(script) : `[native] ${frames[0]}`;
}

/** `JS:*'name file:///…/src/x.ts:1:2` as `name src/x.ts:1`. */
function shortFrame(frame: string): string {
  return frame
    .replace(/^JS:[*~+^']*/, '')
    .replace(/file:\/\/\S*?\/(src|node_modules)\//, '$1/')
    .replace(/:(\d+):\d+$/, ':$1');
}

/** Native work recognized anywhere on a stack; the first pattern that matches names it. */
const NATIVE_WORK: readonly (readonly [RegExp, string])[] = [
  [/ossl_ml_dsa_sign|ml_dsa_digest_sign/, 'ML-DSA-87 sign'],
  [/ossl_ml_dsa_verify|ml_dsa_digest_verify/, 'ML-DSA-87 verify'],
  // SHAKE inside ML-DSA-87, where the assembly's stack does not name its caller.
  [/Keccak|SHA3_|shake_/, 'ML-DSA-87 (SHAKE)'],
  [/fdatasync|fsync/, 'LMDB sync'],
  [/mdb_|lmdb/i, 'LMDB'],
  [/Scaveng|MarkCompact|Sweeper|ConcurrentMarking|Heap::|MinorMS/, 'garbage collection'],
  [/compiler::|Compile|Maglev|Turboshaft|Turbofan/, 'compilation'],
];

/** What a sample of a thread other than the main one was doing: a known kind of work, or its leaf. */
function nativeWork(frames: readonly string[]): string {
  for (const [pattern, name] of NATIVE_WORK) if (frames.some((frame) => pattern.test(frame))) return name;
  return frames[0] ?? '(none)';
}

function formatReport(
  samples: readonly Sample[],
  pids: readonly number[],
  top: number,
  leader: number | undefined,
  recordSeconds: number,
): string {
  const lines: string[] = [];
  const percent = (count: number, total: number): string =>
    `${((100 * count) / Math.max(1, total)).toFixed(1).padStart(5)}%`;
  const kinds = ['main', 'libuv-worker', 'V8Worker'];
  const byPid = new Map<number, Sample[]>();
  for (const sample of samples) {
    const own = byPid.get(sample.pid);
    if (own === undefined) byPid.set(sample.pid, [sample]);
    else own.push(sample);
  }
  lines.push(
    `CPU samples at ${SAMPLE_HZ}/s over ${recordSeconds} s by node and thread kind, and the cores each node used`,
  );
  lines.push(
    `${'node'.padEnd(8)}${kinds.map((kind) => kind.padStart(14)).join('')}${'other'.padStart(10)}${'cores'.padStart(8)}`,
  );
  for (const [index, pid] of pids.entries()) {
    const own = byPid.get(pid) ?? [];
    const counts = kinds.map((kind) => own.filter((sample) => threadKind(sample.thread) === kind).length);
    const other = own.length - counts.reduce((sum, count) => sum + count, 0);
    lines.push(
      `${`node-${index}`.padEnd(8)}${counts.map((count) => String(count).padStart(14)).join('')}` +
        `${String(other).padStart(10)}${(own.length / (SAMPLE_HZ * recordSeconds)).toFixed(2).padStart(8)}`,
    );
  }
  for (const [index, pid] of pids.entries()) {
    const own = byPid.get(pid) ?? [];
    const main = own.filter((sample) => threadKind(sample.thread) === 'main');
    lines.push(
      '',
      `node-${index}${pid === leader ? ' (the leader when the load began)' : ''}, main thread, by source function:`,
    );
    for (const [name, count] of topCounts(
      main.map((sample) => sourceFunction(sample.frames)),
      top,
    )) {
      lines.push(`${percent(count, main.length)}  ${name}`);
    }
    const pool = own.filter((sample) => threadKind(sample.thread) !== 'main');
    lines.push(`node-${index}, other threads, by what they run:`);
    for (const [name, count] of topCounts(
      pool.map((sample) => `${threadKind(sample.thread)}: ${nativeWork(sample.frames)}`),
      Math.min(top, 10),
    )) {
      lines.push(`${percent(count, pool.length)}  ${name}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function topCounts(names: readonly string[], top: number): [string, number][] {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
}

main().catch((error: unknown) => {
  process.stderr.write(`perf: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
