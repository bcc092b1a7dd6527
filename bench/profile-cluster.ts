/**
 * `npm run bench:profile [-- --nodes 4 --seconds 15 --rate max --to all --top 40]`
 *
 * Where a node's CPU goes under load: starts a local cluster of node processes with V8's CPU
 * profiler on (`--cpu-prof`), drives the load of `cretoai-node bench` at one rate, stops the
 * nodes (each writes its profile as it exits) and prints, summed over the nodes, the share of
 * CPU time per source file and the functions with the most self time. The profiles stay in the
 * printed directory for Chrome DevTools or speedscope.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { leaderApiUrl } from '../src/cli/commands/targets.ts';
import { initCluster } from '../src/cli/init.ts';
import { runLoad } from '../src/cli/load.ts';
import { LocalCluster } from '../src/cli/local-cluster.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  /** Microseconds on the system's monotonic clock, as `process.hrtime`. */
  readonly startTime: number;
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '15' },
      rate: { type: 'string', default: 'max' },
      to: { type: 'string', default: 'all' },
      top: { type: 'string', default: '40' },
      'payload-bytes': { type: 'string', default: '256' },
    },
    strict: true,
  });
  const nodes = Number(values.nodes);
  const seconds = Number(values.seconds);
  const rate = values.rate === 'max' ? 'max' : Number(values.rate);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-profile-'));
  const profiles = path.join(dir, 'profiles');
  await initCluster({ dir, nodes, transport: 'tcp' });
  const cluster = LocalCluster.open(dir, {
    env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profiles}` },
  });
  await cluster.startAll();
  // Start-up (type stripping, module loading) and the warm-up are not the steady state: samples
  // before the measured window are left out. The profiles' clock is the system's monotonic one.
  let measuredFrom = Number.POSITIVE_INFINITY;
  let measuredTo = Number.POSITIVE_INFINITY;
  const warmupMs = 2000;
  try {
    const targets = values.to === 'leader' ? [await leaderApiUrl(cluster.apiUrls)] : cluster.apiUrls;
    const loadStart = Number(process.hrtime.bigint() / 1000n);
    measuredFrom = loadStart + warmupMs * 1000;
    measuredTo = loadStart + seconds * 1_000_000;
    const report = await runLoad({
      nodes: targets,
      watch: cluster.apiUrls[0]!,
      rate,
      durationMs: seconds * 1000,
      warmupMs,
      payloadBytes: Number(values['payload-bytes']),
    });
    process.stderr.write(
      `profile: ${report.finalizedPerSecond.toFixed(0)} finalized/s, p50 ${report.latency.p50Ms.toFixed(0)} ms, ` +
        `p99 ${report.latency.p99Ms.toFixed(0)} ms\n`,
    );
  } finally {
    await cluster.stopAll();
  }
  const byFile = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const file of fs.readdirSync(profiles)) {
    if (!file.endsWith('.cpuprofile')) continue;
    const profile = JSON.parse(fs.readFileSync(path.join(profiles, file), 'utf8')) as CpuProfile;
    const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
    let at = profile.startTime;
    for (const [i, sample] of profile.samples.entries()) {
      const micros = profile.timeDeltas[i] ?? 0;
      at += micros;
      if (at < measuredFrom || at > measuredTo) continue;
      const frame = frames.get(sample)!;
      total += micros;
      const where = frame.url === '' ? `(${frame.functionName || 'native'})` : shortUrl(frame.url);
      byFile.set(where, (byFile.get(where) ?? 0) + micros);
      const name = `${frame.functionName || '(anonymous)'}  ${where}:${frame.lineNumber + 1}`;
      byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    }
  }
  const top = Number(values.top);
  const print = (title: string, table: Map<string, number>): void => {
    process.stdout.write(`\n${title}\n`);
    for (const [name, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${((100 * micros) / total).toFixed(1).padStart(6)}%  ${name}\n`);
    }
  };
  process.stdout.write(
    `CPU time sampled over ${nodes} nodes in the measured ${seconds - warmupMs / 1000} s: ${(total / 1e6).toFixed(1)} s\n`,
  );
  print('Self time by file', byFile);
  print('Self time by function', byFunction);
  process.stderr.write(`profile: profiles in ${profiles}\n`);
}

/** A file URL shortened to the path inside the repository or node_modules. */
function shortUrl(url: string): string {
  const text = url.replace(/^file:\/\//, '');
  const modules = text.lastIndexOf('node_modules/');
  if (modules >= 0) return text.slice(modules);
  const source = text.search(/\/(src|bench)\//);
  return source >= 0 ? text.slice(source + 1) : text;
}

main().catch((error: unknown) => {
  process.stderr.write(`profile: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
