/**
 * `cretoai-node up` and `cretoai-node bench`: a local multi-process cluster on loopback, and an
 * open-loop load against it (or against a running cluster).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClusterFile } from '../client/cluster-file.ts';
import { leaderApiUrl } from './commands/targets.ts';
import { CliError } from './errors.ts';
import { clusterWarnings, initCluster } from './init.ts';
import { latencyChartSvg } from './latency-chart.ts';
import { type LoadProgress, type LoadReport, runLoad } from './load.ts';
import { LocalCluster } from './local-cluster.ts';
import { watchParent } from './parent-watch.ts';

/** Where commands write: stdout for results, stderr for progress and messages. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/** Creates (or reuses) a cluster directory and starts every node in it. */
export async function launchLocalCluster(options: {
  readonly dir: string | undefined;
  readonly nodes: number;
  readonly transport?: 'tcp' | 'quic';
  readonly io: Io;
  /** Nodes stop when this process dies (see `LocalClusterOptions.stopWithParent`). */
  readonly stopWithParent?: boolean;
}): Promise<LocalCluster> {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-cluster-'));
  let nodes = options.nodes;
  if (!fs.existsSync(path.join(dir, 'cluster.json'))) {
    await initCluster({ dir, nodes, transport: options.transport ?? 'tcp' });
  } else {
    const existing = loadClusterFile(path.join(dir, 'cluster.json')).validators.length;
    if (existing !== options.nodes) {
      options.io.err(
        `${dir} holds a cluster of ${existing} nodes; starting those (--nodes ${options.nodes} ignored)`,
      );
    }
    nodes = existing;
  }
  for (const warning of clusterWarnings(nodes)) options.io.err(`warning: ${warning}`);
  const cluster = LocalCluster.open(dir, { stopWithParent: options.stopWithParent ?? false });
  cluster.on('exit', ({ index, code, signal }) => {
    if (!stopping.has(cluster))
      options.io.err(
        `${cluster.nodeId(index)} exited (${signal ?? `status ${code}`}); see ${cluster.logFile(index)}`,
      );
  });
  try {
    await cluster.startAll();
  } catch (error) {
    stopping.add(cluster);
    await cluster.stopAll();
    throw error;
  }
  return cluster;
}

/** Clusters being stopped on purpose: their nodes' exits are not news. */
const stopping = new WeakSet<LocalCluster>();

export async function stopLocalCluster(cluster: LocalCluster): Promise<void> {
  stopping.add(cluster);
  await cluster.stopAll();
}

function formatProgress(progress: LoadProgress): string {
  const seconds = (progress.elapsedMs / 1000).toFixed(0).padStart(4);
  return (
    `${seconds} s  offered ${Math.round(progress.offeredPerSecond).toString().padStart(6)}/s` +
    `  final ${Math.round(progress.finalizedPerSecond).toString().padStart(6)}/s` +
    `  in flight ${progress.inFlight.toString().padStart(6)}` +
    `  p50 ${progress.p50Ms.toFixed(1)} ms  p99 ${progress.p99Ms.toFixed(1)} ms` +
    (progress.rejected > 0 ? `  rejected ${progress.rejected}` : '')
  );
}

/** One line per report, for `bench` and `up --load`. */
export function formatReports(reports: readonly LoadReport[]): string[] {
  const header = [
    'rate',
    'offered/s',
    'finalized/s',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'max ms',
    'rejected',
    'unfinished',
  ];
  const rows = reports.map((report) => [
    String(report.rate),
    report.offeredPerSecond.toFixed(0),
    report.finalizedPerSecond.toFixed(0),
    report.latency.p50Ms.toFixed(1),
    report.latency.p99Ms.toFixed(1),
    report.latency.p999Ms.toFixed(1),
    report.latency.maxMs.toFixed(1),
    String(report.rejected + report.failed),
    String(report.unfinished),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => cell.padStart(widths[i]!)).join('  ');
  return [line(header), ...rows.map(line), ...reports.flatMap(formatRefusals)];
}

/** What the `rejected` column of a report counts, by cause: the node's codes, and failed requests. */
function formatRefusals(report: LoadReport): string[] {
  if (report.rejected + report.failed === 0) return [];
  const causes = countsByName(report.rejectedByCode);
  if (report.failed > 0) {
    causes.push(`failed requests ${report.failed}: ${countsByName(report.failedByCause).join(', ')}`);
  }
  return [`rate ${report.rate}: ${report.rejected + report.failed} rejected (${causes.join(', ')})`];
}

/** `name count` for each entry, by name. */
function countsByName(counts: Readonly<Record<string, number>>): string[] {
  return Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, count]) => `${name} ${count}`);
}

/** The signals `up` stops its cluster on: Ctrl-C, a process manager's stop, a closed terminal. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * `up`: start a local cluster, optionally drive a short load, serve until a signal.
 *
 * Whatever ends it - SIGINT (Ctrl-C), SIGTERM (what a process manager sends to `npm start`),
 * SIGHUP (the terminal closed), or its parent dying without a signal (`parent-watch.ts`: npm
 * killed with SIGKILL leaves its shell and `up` behind) - it stops the load at once, stops every
 * node gracefully and removes the temporary directory it made. A second signal does not wait for
 * the graceful stop: it kills the nodes, removes the directory and exits. The nodes themselves
 * also stop when `up` is killed outright (their standard input, a pipe from `up`, closes: see
 * `start --stop-on-stdin-close`), though the temporary directory then stays.
 */
export async function upCommand(
  options: {
    readonly nodes: number;
    readonly dir: string | undefined;
    readonly load: number | undefined;
    readonly duration: number;
    readonly payloadBytes: number;
    readonly transport: 'tcp' | 'quic';
    /** Keep the temporary directory made when `dir` is not given. */
    readonly keep: boolean;
    /** For tests: stop once started (and loaded) instead of waiting for a signal. */
    readonly exitWhenReady?: boolean;
  },
  io: Io,
): Promise<number> {
  // Listen before anything starts: a signal during the start stops what did start.
  let stopReason: string | null = null;
  let cluster: LocalCluster | null = null;
  const stopLoad = new AbortController();
  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<void>();
  const removeTemporary = (): void => {
    if (cluster !== null && options.dir === undefined && !options.keep)
      fs.rmSync(cluster.dir, { recursive: true, force: true });
  };
  const stop = (reason: string): void => {
    if (stopReason !== null) {
      // A second request: do not wait for the graceful stop.
      io.err(`${reason} again: killing the nodes`);
      if (cluster !== null) cluster.killAllNow();
      removeTemporary();
      process.exit(130);
    }
    stopReason = reason;
    // Ctrl-C reaches the nodes too (one process group): their exits from now on are expected.
    if (cluster !== null) stopping.add(cluster);
    io.err(`${reason}: stopping the cluster...`);
    stopLoad.abort();
    requestStop();
  };
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = (): void => stop(signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  const unwatchParent = watchParent((loss) =>
    stop(loss === 'npm' ? 'npm, which ran this, is gone' : 'the parent process is gone'),
  );
  try {
    io.err(`starting ${options.nodes} nodes on loopback...`);
    cluster = await launchLocalCluster({
      dir: options.dir,
      nodes: options.nodes,
      transport: options.transport,
      io,
      stopWithParent: true,
    });
    if (stopReason !== null) stopping.add(cluster);
    io.out(
      `cretoai-node up: ${cluster.size} nodes of cluster ${cluster.cluster.clusterId}, data in ${cluster.dir}`,
    );
    for (const [index, validator] of cluster.cluster.validators.entries()) {
      io.out(
        `  ${validator.nodeId}  ${validator.api}  consensus ${validator.address}  pid ${cluster.pid(index)}  log ${cluster.logFile(index)}`,
      );
    }
    io.out(`cluster file: ${cluster.clusterFile}`);
    io.out(`try: curl ${cluster.apiUrls[0]}/v1/status`);
    io.out(`     cretoai-node submit --cluster ${cluster.clusterFile} --data hello --wait`);
    if (options.load !== undefined && stopReason === null) {
      io.out(`driving ${options.load} vertices/s for ${options.duration} s...`);
      const report = await runLoad({
        nodes: cluster.apiUrls,
        rate: options.load,
        durationMs: options.duration * 1000,
        payloadBytes: options.payloadBytes,
        drainTimeoutMs: 10_000,
        onProgress: (progress) => io.out(formatProgress(progress)),
        signal: stopLoad.signal,
      });
      if (stopLoad.signal.aborted) io.out('load stopped');
      else for (const line of formatReports([report])) io.out(line);
    }
    if (options.exitWhenReady !== true && stopReason === null) {
      io.out('serving; press Ctrl-C to stop');
      await stopRequested;
    }
  } finally {
    unwatchParent();
    if (cluster !== null) await stopLocalCluster(cluster);
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
  if (options.dir === undefined && !options.keep) {
    removeTemporary();
    io.out(`stopped; removed ${cluster.dir} (--keep keeps it)`);
  } else {
    io.out(
      `stopped; the cluster stays in ${cluster.dir} (cretoai-node up --dir ${cluster.dir} starts it again)`,
    );
  }
  return 0;
}

/** `bench`: drive a running cluster (its cluster file) or a fresh local one, at each rate. */
export async function benchCommand(
  options: {
    readonly cluster: string | undefined;
    readonly nodes: number;
    readonly duration: number;
    readonly warmup: number;
    readonly rates: readonly (number | 'max')[];
    readonly payloadBytes: number;
    /** With rate 'max': vertices in flight at most (default: the load driver's, by the nodes). */
    readonly window: number | undefined;
    readonly transport: 'tcp' | 'quic';
    /** Submit round-robin to every node, or only to the current leader. */
    readonly submitTo: 'all' | 'leader';
    readonly dir: string | undefined;
    readonly keep: boolean;
    /** The reports as JSON: `true` on stdout instead of the table, a file name into that file. */
    readonly json: string | true | undefined;
    /** Also write a latency-versus-throughput chart of the rates here (SVG). */
    readonly chart?: string | undefined;
  },
  io: Io,
): Promise<number> {
  if (options.warmup >= options.duration) throw new CliError('--warmup must be shorter than --duration');
  let local: LocalCluster | null = null;
  let nodes: readonly string[];
  if (options.cluster !== undefined) {
    const cluster = loadClusterFile(options.cluster);
    nodes = cluster.validators.flatMap((validator) => validator.api ?? []);
    if (nodes.length === 0) throw new CliError(`${options.cluster} gives no node an "api" URL`);
    io.err(`bench: driving the running cluster ${cluster.clusterId} (${nodes.length} nodes)`);
  } else {
    io.err(`bench: starting ${options.nodes} node processes on loopback...`);
    // Its nodes stop when bench ends however it ends: a bench killed mid-run left four nodes
    // busy on the cores the next measurement shares.
    local = await launchLocalCluster({
      dir: options.dir,
      nodes: options.nodes,
      transport: options.transport,
      io,
      stopWithParent: true,
    });
    nodes = local.apiUrls;
    io.err(`bench: data in ${local.dir}`);
  }
  const reports: LoadReport[] = [];
  try {
    for (const rate of options.rates) {
      const targets = options.submitTo === 'leader' ? [await leaderApiUrl(nodes)] : nodes;
      io.err(
        `bench: ${rate === 'max' ? 'as fast as it goes' : `${rate} vertices/s offered`} for ${options.duration} s ` +
          `(${options.warmup} s warm-up), ${options.payloadBytes}-byte payloads, ${nodes.length} nodes, ` +
          `submitted to ${options.submitTo === 'leader' ? `the leader (${targets[0]})` : 'every node in turn'}`,
      );
      const report = await runLoad({
        nodes: targets,
        watch: nodes[0]!,
        rate,
        durationMs: options.duration * 1000,
        warmupMs: options.warmup * 1000,
        payloadBytes: options.payloadBytes,
        window: options.window,
        onProgress: (progress) => io.err(formatProgress(progress)),
      });
      reports.push(report);
    }
  } finally {
    if (local !== null) {
      await stopLocalCluster(local);
      if (!options.keep && options.dir === undefined) fs.rmSync(local.dir, { recursive: true, force: true });
    }
  }
  const summary =
    `bench: ${nodes.length} nodes${local === null ? '' : ` (local processes, ${options.transport.toUpperCase()} on loopback, LMDB with synced commits)`}, ` +
    `${options.payloadBytes}-byte payloads, ${options.duration} s per rate (${options.warmup} s warm-up), ` +
    `submitted to ${options.submitTo === 'leader' ? 'the leader' : 'every node in turn'}, ` +
    'finality = offered (open loop) to final at the first node';
  if (options.json === true) {
    // stdout holds the JSON alone; the summary goes with the progress lines.
    io.err(summary);
    io.out(JSON.stringify(reports, null, 2));
  } else {
    io.out(summary);
    for (const line of formatReports(reports)) io.out(line);
  }
  for (const report of reports.filter((each) => each.eventStreamLost)) {
    io.err(
      `bench: at rate ${report.rate} the event stream closed during the run; later finality was not seen`,
    );
  }
  if (typeof options.json === 'string')
    fs.writeFileSync(options.json, `${JSON.stringify(reports, null, 2)}\n`);
  if (options.chart !== undefined) {
    const subtitle =
      `${nodes.length} nodes, ${options.payloadBytes}-byte payloads, ${options.duration} s per rate ` +
      `(${options.warmup} s warm-up), submitted to ${options.submitTo === 'leader' ? 'the leader' : 'every node in turn'}`;
    fs.writeFileSync(options.chart, latencyChartSvg(reports, { subtitle }));
    io.err(`bench: chart written to ${options.chart}`);
  }
  return 0;
}
