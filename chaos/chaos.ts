/**
 * One chaos run (`runChaos`): a fresh local cluster of node processes, an open-loop load of
 * unique vertices each submitted once, faults drawn from the seed, then the exactly-once checks.
 *
 * Phases, in run time from the start of the load:
 * - fault phase, (1 - quietFraction) of the duration: the load runs, and the process and
 *   network lanes (`schedule.ts`) inject faults;
 * - quiet phase, the rest: no load, no new fault (one under way finishes), so the cluster can
 *   finish what it accepted;
 * - then every node is brought up, the nodes are given time to converge, every vertex that may
 *   have been accepted is looked up on every node, and the invariants are checked (`checks.ts`).
 *
 * Every node process is killed on the way out, on success, error or abort; a process 'exit'
 * hook kills any still running if the harness itself exits abruptly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster } from '../src/cli/local-cluster.ts';
import type { Clock } from '../src/shell/clock.ts';
import { Prng } from '../src/sim/prng.ts';
import { type CheckResult, checkRun } from './checks.ts';
import { createCluster } from './cluster-setup.ts';
import { NodeEventStream } from './event-streams.ts';
import { FaultInjector, type FaultRecord } from './faults.ts';
import { makeAgent } from './http.ts';
import { OpenLoopLoad } from './load.ts';
import { lookUpEverywhere } from './lookups.ts';
import { type ChaosOptions, type FaultKind, type ResolvedChaosOptions, resolveOptions } from './options.ts';
import { ProgressTracker } from './progress.ts';
import type { LinkProxy, ProxyStats } from './proxy.ts';
import { fetchStatus, type StatusSample, StatusSampler, sampleOf } from './sampler.ts';
import { needsProxies, nextNetworkFault, nextProcessFault } from './schedule.ts';
import {
  type AloneInView,
  aloneInHigherView,
  findStalls,
  longestStallByKind,
  type Stall,
  type TimelineEntry,
  viewTimeline,
} from './timeline.ts';

/** The load's outcome counts. */
export interface LoadSummary {
  readonly offered: number;
  readonly acked: number;
  readonly refused: number;
  readonly refusedByStatus: Readonly<Record<string, number>>;
  readonly unreachable: number;
  readonly uncertain: number;
  readonly notSent: number;
  readonly anomalies: readonly string[];
}

/** Per fault kind: how many were injected and the longest stall charged to it. */
export interface FaultKindSummary {
  readonly kind: FaultKind | 'none';
  readonly injected: number;
  readonly skipped: number;
  readonly longestStall: Stall | null;
}

/** What a run found; `lines` is what the command prints. */
export interface ChaosReport {
  readonly options: ResolvedChaosOptions;
  readonly dir: string;
  readonly loadStartMs: number;
  readonly faultPhaseEndMs: number;
  readonly runEndMs: number;
  readonly load: LoadSummary;
  readonly faults: readonly FaultRecord[];
  readonly faultKinds: readonly FaultKindSummary[];
  /** The longest stalls, longest first (at most 10). */
  readonly longestStalls: readonly Stall[];
  readonly timelines: readonly (readonly TimelineEntry[])[];
  readonly aloneInView: readonly AloneInView[];
  readonly unexpectedExits: readonly {
    node: number;
    atMs: number;
    code: number | null;
    signal: string | null;
  }[];
  readonly proxies: readonly ProxyStats[] | null;
  readonly converged: boolean;
  readonly convergeMs: number;
  readonly eventsSeen: readonly number[];
  readonly check: CheckResult;
  readonly acked: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly divergent: number;
  /** No vertex lost, duplicated or divergent, and the nodes converged. */
  readonly ok: boolean;
}

/** How long the nodes may take to connect to each other and settle in a view after starting. */
const READY_TIMEOUT_MS = 30_000;
/** How often progress is logged during the run. */
const PROGRESS_LOG_MS = 10_000;

/** Runs the harness; rejects only on a harness failure or an abort, never for a broken invariant. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const resolved = resolveOptions(options);
  const log = options.log ?? (() => undefined);
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const { signal } = abort;

  const origin = performance.now();
  const now = (): number => performance.now() - origin;
  const clock: Clock = {
    now,
    setTimer(delayMs, callback) {
      const handle = setTimeout(callback, delayMs);
      return { cancel: () => clearTimeout(handle) };
    },
  };
  // One generator per concern, forked in a fixed order, so that enabling a fault kind or
  // changing the rate leaves the other draws of a seed as they were.
  const root = new Prng(resolved.seed);
  const loadPrng = root.fork();
  const processPrng = root.fork();
  const networkPrng = root.fork();
  const proxyPrng = root.fork();

  const dir =
    resolved.dir === null
      ? fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-chaos-'))
      : path.resolve(resolved.dir);
  if (resolved.dir !== null) fs.mkdirSync(dir, { recursive: true });
  const removeDir = resolved.dir === null && !resolved.keep;

  let cluster: LocalCluster | null = null;
  let proxies: LinkProxy[] | null = null;
  let injector: FaultInjector | null = null;
  let load: OpenLoopLoad | null = null;
  /** The highest sequence any node was seen to finalize: the load's vertices are valid from it. */
  let latestSequence = 0;
  let sampler: StatusSampler | null = null;
  const streams: NodeEventStream[] = [];
  const statusAgent = makeAgent(4);
  let progressTimer: NodeJS.Timeout | null = null;
  let lanes: Promise<unknown> | null = null;
  let finishedCleanly = false;
  // Last resort if the process exits without reaching `finally` (process.exit from a handler).
  const killAllNow = (): void => {
    if (cluster === null) return;
    for (let i = 0; i < cluster.size; i++) {
      const pid = cluster.pid(i);
      if (pid === null) continue;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  process.on('exit', killAllNow);

  try {
    const n = resolved.nodes;
    // Times in the log and the report count from the start of the load.
    let loadStartMs = 0;
    const at = (): number => now() - loadStartMs;
    const stamp = (): string => `  ${(at() / 1000).toFixed(1).padStart(6)} s`;
    log(
      `chaos: seed ${resolved.seed}, ${n} nodes, ${resolved.durationS} s, ${resolved.ratePerSecond} vertices/s, faults ${resolved.faults.length === 0 ? 'none' : resolved.faults.join(',')}`,
    );
    log(`  directory ${dir}${removeDir ? ' (removed at exit)' : ''}`);
    const created = await createCluster({
      dir,
      nodes: n,
      withProxies: needsProxies(resolved.faults),
      clock,
      prng: proxyPrng,
    });
    cluster = created.cluster;
    proxies = created.proxies;
    const liveCluster = cluster;
    injector = new FaultInjector({ cluster, proxies, agent: statusAgent, now, log, stamp, signal });
    const faults = injector;
    const startedMs = now();
    await cluster.startAll();
    await waitReady(cluster, statusAgent, signal);
    log(
      `  cluster up and connected in ${((now() - startedMs) / 1000).toFixed(1)} s${proxies === null ? '' : ', links through proxies'}`,
    );

    const progress = new ProgressTracker();
    const firstSeenMs = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const stream = new NodeEventStream({
        node: i,
        url: cluster.apiUrls[i]!,
        now,
        onEvent: (event) => {
          progress.observe(event.sequence, event.atMs);
          latestSequence = Math.max(latestSequence, event.sequence);
          if (!firstSeenMs.has(event.hash)) firstSeenMs.set(event.hash, event.atMs);
        },
      });
      streams.push(stream);
      stream.start();
    }
    sampler = new StatusSampler({
      urls: cluster.apiUrls,
      now,
      onSample: (sample) => {
        progress.observe(sample.sequence, sample.atMs);
        latestSequence = Math.max(latestSequence, sample.sequence);
      },
    });
    sampler.start();
    const activeSampler = sampler;

    loadStartMs = now();
    const faultPhaseEndMs = loadStartMs + resolved.durationS * (1 - resolved.quietFraction) * 1000;
    const runEndMs = loadStartMs + resolved.durationS * 1000;
    // Each vertex is valid for half the horizon past the latest sequence seen final anywhere:
    // the other half leaves room for a node that lags behind.
    const horizon = (await fetchStatus(statusAgent, cluster.apiUrls[0]!))?.dedupHorizonSequences ?? 2048;
    load = new OpenLoopLoad({
      urls: cluster.apiUrls,
      ratePerSecond: resolved.ratePerSecond,
      prng: loadPrng,
      label: String(resolved.seed),
      now,
      validThrough: () => latestSequence + Math.max(1, Math.floor(horizon / 2)),
    });
    const activeLoad = load;
    load.start();
    log(
      `  load started; faults until ${((faultPhaseEndMs - loadStartMs) / 1000).toFixed(1)} s, quiet until ${resolved.durationS} s`,
    );
    progressTimer = setInterval(() => {
      const views = Array.from({ length: n }, (_, i) => activeSampler.latest(i)?.view ?? '?').join(',');
      const acked = activeLoad.vertices.filter((vertex) => vertex.outcome === 'acked').length;
      log(
        `${stamp()}  offered ${activeLoad.vertices.length}, acknowledged ${acked}, in flight ${activeLoad.inFlight}, highest sequence ${progress.highest}, views [${views}]`,
      );
    }, PROGRESS_LOG_MS);

    const fits = (nominalMs: number): boolean => now() + nominalMs < faultPhaseEndMs;
    const processLane = async (): Promise<void> => {
      for (;;) {
        const spec = nextProcessFault(processPrng, resolved.faults, n);
        if (spec === null) return;
        await sleep(spec.gapMs, undefined, { signal });
        const nominalMs = 'downMs' in spec ? spec.downMs : spec.pauseMs;
        if (!fits(nominalMs)) return;
        await faults.runProcess(spec);
      }
    };
    const networkLane = async (): Promise<void> => {
      for (;;) {
        const spec = nextNetworkFault(networkPrng, resolved.faults, n);
        if (spec === null) return;
        await sleep(spec.gapMs, undefined, { signal });
        if (!fits(spec.windowMs)) return;
        await faults.runNetwork(spec);
      }
    };
    lanes = Promise.all([processLane(), networkLane()]);
    // The load stops at the end of the fault phase; a lane stops starting faults by itself.
    await Promise.race([
      sleep(Math.max(0, faultPhaseEndMs - now()), undefined, { signal }),
      lanes.then(() => new Promise<void>(() => undefined)),
    ]);
    const loadStopped = load.stop();
    log(`${stamp()}  quiet phase: load stopped, no new faults`);
    await lanes;
    await loadStopped;
    await sleep(Math.max(0, runEndMs - now()), undefined, { signal });
    clearInterval(progressTimer);
    progressTimer = null;

    // Everyone up, then wait for one history.
    await faults.restoreAll();
    const convergeStarted = now();
    const finalStatuses = await waitConverged(liveCluster, statusAgent, resolved.convergeTimeoutMs, signal);
    const converged = finalStatuses.converged;
    const convergeMs = now() - convergeStarted;
    log(
      `${stamp()}  ${converged ? `converged in ${(convergeMs / 1000).toFixed(1)} s` : `NOT converged within ${resolved.convergeTimeoutMs} ms`}`,
    );
    // The last events of the converged sequence may still be on their way to the readers.
    await sleep(500, undefined, { signal });
    for (const stream of streams) stream.close();
    sampler.close();

    const mayBeAccepted = new Set<string>();
    for (const vertex of load.vertices)
      if (vertex.outcome === 'acked' || vertex.outcome === 'uncertain' || vertex.outcome === 'in-flight')
        mayBeAccepted.add(vertex.hash);
    for (const hash of firstSeenMs.keys()) mayBeAccepted.add(hash);
    const lookupStarted = now();
    log(`  looking up ${mayBeAccepted.size} vertices on ${n} nodes`);
    const lookups = await lookUpEverywhere(
      liveCluster.apiUrls,
      [...mayBeAccepted],
      (done, total) => log(`    ${done} of ${total} lookups`),
      signal,
    );
    log(`  lookups done in ${((now() - lookupStarted) / 1000).toFixed(1)} s`);

    const check = checkRun({
      vertices: load.vertices,
      streams: streams.map((stream) => stream.connections),
      lookups,
      finalStatuses: finalStatuses.samples,
      converged,
      marks: faults.marks,
      originMs: loadStartMs,
    });

    // Stalls: from the start of the load until the last acknowledged vertex that became final was
    // first seen (or the end of the run), so that the idle end of the quiet phase is no stall.
    let workDoneMs = loadStartMs;
    for (const vertex of load.vertices) {
      if (vertex.outcome !== 'acked') continue;
      const seenMs = firstSeenMs.get(vertex.hash);
      if (seenMs !== undefined) workDoneMs = Math.max(workDoneMs, seenMs);
    }
    const injected = faults.records.filter((record) => record.skipped === null);
    const stalls = findStalls(
      progress.moments,
      loadStartMs,
      Math.min(runEndMs, Math.max(workDoneMs, faultPhaseEndMs)),
      injected.map((record) => ({ kind: record.kind, startMs: record.startMs, endMs: record.endMs })),
    );
    const longestByKind = longestStallByKind(stalls);
    const faultKinds: FaultKindSummary[] = [
      ...resolved.faults.map((kind) => ({
        kind,
        injected: injected.filter((record) => record.kind === kind).length,
        skipped: faults.records.filter((record) => record.kind === kind && record.skipped !== null).length,
        longestStall: longestByKind.get(kind) ?? null,
      })),
      { kind: 'none' as const, injected: 0, skipped: 0, longestStall: longestByKind.get('none') ?? null },
    ];
    const timelines = Array.from({ length: n }, (_, i) =>
      viewTimeline(
        activeSampler.samples[i]!,
        faults.marks.filter((mark) => mark.node === i),
      ),
    );
    const report: ChaosReport = {
      options: resolved,
      dir,
      loadStartMs,
      faultPhaseEndMs,
      runEndMs,
      load: summarizeLoad(load),
      faults: faults.records,
      faultKinds,
      longestStalls: [...stalls].sort((a, b) => b.durationMs - a.durationMs).slice(0, 10),
      timelines,
      aloneInView: aloneInHigherView(activeSampler.samples),
      unexpectedExits: faults.unexpectedExits,
      proxies: proxies === null ? null : proxies.map((proxy) => ({ ...proxy.stats })),
      converged,
      convergeMs,
      eventsSeen: streams.map((stream) => stream.eventCount),
      check,
      acked: check.acked,
      lost: check.lost,
      duplicated: check.duplicated,
      divergent: check.divergent,
      ok: check.lost === 0 && check.duplicated === 0 && check.divergent === 0 && converged,
    };
    finishedCleanly = true;
    return report;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
    // Whatever ended the run, no fault may start a node from now on: the lanes' sleeps end at
    // once, and a lane in the middle of a restart is waited for, so its node is killed below.
    abort.abort(new Error('the run is over'));
    injector?.closing();
    await lanes?.catch(() => undefined);
    if (progressTimer !== null) clearInterval(progressTimer);
    injector?.continueAll();
    for (const stream of streams) stream.close();
    sampler?.close();
    if (load !== null && !finishedCleanly) await load.stop().catch(() => undefined);
    if (cluster !== null) {
      const running = cluster;
      if (finishedCleanly) await running.stopAll().catch(() => undefined);
      await Promise.all(
        Array.from({ length: running.size }, (_, i) => running.kill(i, 'SIGKILL').catch(() => undefined)),
      );
    }
    if (proxies !== null) await Promise.all(proxies.map((proxy) => proxy.close()));
    statusAgent.destroy();
    process.off('exit', killAllNow);
    if (removeDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function summarizeLoad(load: OpenLoopLoad): LoadSummary {
  const count = (outcome: string): number =>
    load.vertices.filter((vertex) => vertex.outcome === outcome).length;
  const refusedByStatus: Record<string, number> = {};
  for (const vertex of load.vertices)
    if (vertex.outcome === 'refused')
      refusedByStatus[vertex.status] = (refusedByStatus[vertex.status] ?? 0) + 1;
  return {
    offered: load.vertices.length,
    acked: count('acked'),
    refused: count('refused'),
    refusedByStatus,
    unreachable: count('unreachable'),
    uncertain: count('uncertain') + count('in-flight'),
    notSent: count('not-sent'),
    anomalies: load.anomalies,
  };
}

/** Waits until every node answers, is connected to every other and is in an active view. */
async function waitReady(
  cluster: LocalCluster,
  agent: import('node:http').Agent,
  signal: AbortSignal,
): Promise<void> {
  const started = performance.now();
  for (;;) {
    const statuses = await Promise.all(cluster.apiUrls.map((url) => fetchStatus(agent, url)));
    if (statuses.every((status) => status?.viewActive === true && status.peers.length >= cluster.size - 1))
      return;
    if (performance.now() - started > READY_TIMEOUT_MS) {
      throw new Error(
        `the cluster did not connect within ${READY_TIMEOUT_MS} ms: ${statuses.map((status, i) => (status === null ? `node-${i} silent` : `node-${i} peers ${status.peers.length}`)).join(', ')}`,
      );
    }
    await sleep(200, undefined, { signal });
  }
}

/**
 * Waits until every node answers with one (durableSequence, chainDigest), the same in two rounds
 * a second apart, and none holds a pending proposal; gives up after `timeoutMs` with what the
 * nodes said last.
 */
async function waitConverged(
  cluster: LocalCluster,
  agent: import('node:http').Agent,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ readonly converged: boolean; readonly samples: (StatusSample | null)[] }> {
  const started = performance.now();
  let previous = '';
  for (;;) {
    const statuses = await Promise.all(cluster.apiUrls.map((url) => fetchStatus(agent, url)));
    const samples = statuses.map((status) => (status === null ? null : sampleOf(status, performance.now())));
    const keys = new Set(
      samples.map((sample) =>
        sample === null ? 'silent' : `${sample.durableSequence}/${sample.chainDigest}`,
      ),
    );
    const idle = samples.every((sample) => sample !== null && sample.pendingProposals === 0);
    const key = [...keys][0]!;
    if (keys.size === 1 && key !== 'silent' && idle && key === previous) return { converged: true, samples };
    previous = keys.size === 1 && idle ? key : '';
    if (performance.now() - started > timeoutMs) return { converged: false, samples };
    await sleep(1000, undefined, { signal });
  }
}
