/**
 * Cluster benchmarks: four engines in one process on the in-memory network and stores, with
 * ML-DSA-87 on every message and 256-byte vertices (the engine's default configuration).
 *
 * - `vertex_proposal`: one proposal at a time, propose() to final at the proposing replica.
 * - offered loads (open loop): proposals issued at a fixed rate, round-robin over the replicas,
 *   whatever the cluster does; finalized vertices per second (at replica 0, after a warm-up)
 *   and finality quantiles of the proposals issued after the warm-up.
 * - peak (closed loop): a fixed number of proposals kept in flight; the same figures, and a
 *   CPU profile of the run.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as hdr from 'hdr-histogram-js';
import { mlDsa87 } from '../src/crypto/index.ts';
import type { BftEngine } from '../src/engine/index.ts';
import { systemClock } from '../src/shell/clock.ts';
import { Cluster } from '../test/engine/cluster.ts';
import type { BenchRow, Progress } from './report.ts';
import { VERTEX_BYTES } from './sample-messages.ts';

export interface ClusterBenchOptions {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly rates: readonly number[];
  readonly peakInFlight: number;
  readonly profilePath: string | null;
  readonly progress: Progress;
}

export interface LoadResult extends BenchRow {
  readonly offeredPerSecond: number | null;
  readonly finalizedPerSecond: number;
  readonly finalized: number;
}

let payloadCounter = 0;
/** A fresh vertex for `engine` to propose, valid for as long as that engine allows. */
function vertex(engine: BftEngine) {
  const body = new Uint8Array(VERTEX_BYTES);
  const view = new DataView(body.buffer);
  view.setUint32(0, payloadCounter++);
  view.setFloat64(4, performance.now());
  return engine.createVertex(body);
}

export function histogram(): hdr.Histogram {
  // Microseconds, from 1 us to 60 s, 3 significant digits.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

async function withCluster<T>(run: (cluster: Cluster) => Promise<T>): Promise<T> {
  const cluster = new Cluster({ scheme: mlDsa87, clock: systemClock });
  await cluster.start();
  try {
    return await run(cluster);
  } finally {
    await cluster.stop();
  }
}

/**
 * The timing of one load run: a warm-up, then the measured seconds; vertices finalized at
 * replica 0 inside the measured window are counted, and latencies go to one histogram.
 */
function measurementWindow(cluster: Cluster, options: ClusterBenchOptions) {
  const start = performance.now();
  const warmupEnd = start + options.warmupSeconds * 1000;
  const end = warmupEnd + options.seconds * 1000;
  let finalized = 0;
  cluster.engines[0]!.on('finalized', () => {
    const now = performance.now();
    if (now >= warmupEnd && now < end) finalized++;
  });
  return { latencies: histogram(), start, warmupEnd, end, finalizedAfterWarmup: () => finalized };
}

/** `vertex_proposal`: closed loop, one at a time. */
export async function benchVertexProposal(count: number, progress: Progress): Promise<LoadResult> {
  return withCluster(async (cluster) => {
    const latencies = histogram();
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      const engine = cluster.engines[i % cluster.engines.length]!;
      await engine.propose(vertex(engine));
      if (i >= 10) latencies.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
      progress.update(`vertex_proposal: ${i + 1}/${count}`);
    }
    progress.done(`vertex_proposal: ${count} proposals`);
    const seconds = (performance.now() - started) / 1000;
    return row('vertex_proposal (one at a time)', null, count / seconds, count, latencies);
  });
}

/** Open loop at `rate` proposals per second. */
export async function benchOfferedLoad(rate: number, options: ClusterBenchOptions): Promise<LoadResult> {
  return withCluster(async (cluster) => {
    const { latencies, start, warmupEnd, end, finalizedAfterWarmup } = measurementWindow(cluster, options);
    let issued = 0;
    let rejected = 0;
    const pending: Promise<void>[] = [];
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        const now = performance.now();
        const due = Math.floor(((Math.min(now, end) - start) / 1000) * rate);
        while (issued < due) {
          const issuedAt = performance.now();
          const engine = cluster.engines[issued % cluster.engines.length]!;
          issued++;
          pending.push(
            engine.propose(vertex(engine)).then(
              () => {
                if (issuedAt >= warmupEnd)
                  latencies.recordValue(Math.max(1, Math.round((performance.now() - issuedAt) * 1000)));
              },
              () => {
                rejected++;
              },
            ),
          );
        }
        options.progress.update(
          `offered ${rate}/s: ${((now - start) / 1000).toFixed(1)} s, issued ${issued}, finalized ${finalizedAfterWarmup()} after warm-up`,
        );
        if (now < end) setTimeout(pump, 1);
        else resolve();
      };
      pump();
    });
    await Promise.all(pending);
    options.progress.done(`offered ${rate}/s: done (${issued} issued, ${rejected} rejected)`);
    return row(
      `cluster offered ${rate.toLocaleString('en-US')}/s`,
      rate,
      finalizedAfterWarmup() / options.seconds,
      finalizedAfterWarmup(),
      latencies,
      rejected,
    );
  });
}

/** Closed loop with `inFlight` proposals outstanding: as fast as it goes, with a CPU profile. */
export async function benchPeak(
  options: ClusterBenchOptions,
): Promise<LoadResult & { readonly profileTop: string[] }> {
  return withCluster(async (cluster) => {
    const { latencies, start, warmupEnd, end, finalizedAfterWarmup } = measurementWindow(cluster, options);
    let issued = 0;
    let rejected = 0;
    const session = options.profilePath === null ? null : new Session();
    let profiling = false;
    const startProfile = async (): Promise<void> => {
      if (session === null || profiling) return;
      profiling = true;
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    };
    await new Promise<void>((resolve) => {
      let outstanding = 0;
      let finished = false;
      const issue = (): void => {
        while (!finished && outstanding < options.peakInFlight) {
          const issuedAt = performance.now();
          if (issuedAt >= end) {
            finished = true;
            break;
          }
          const engine = cluster.engines[issued % cluster.engines.length]!;
          issued++;
          outstanding++;
          engine.propose(vertex(engine)).then(
            () => {
              outstanding--;
              if (issuedAt >= warmupEnd)
                latencies.recordValue(Math.max(1, Math.round((performance.now() - issuedAt) * 1000)));
              settle();
            },
            () => {
              outstanding--;
              rejected++;
              settle();
            },
          );
        }
      };
      const settle = (): void => {
        if (!finished) issue();
        else if (outstanding === 0) resolve();
      };
      const report = setInterval(() => {
        const now = performance.now();
        if (now >= warmupEnd) void startProfile();
        options.progress.update(
          `peak: ${((now - start) / 1000).toFixed(1)} s, ${outstanding} in flight, finalized ${finalizedAfterWarmup()} after warm-up`,
        );
        if (now >= end) {
          finished = true;
          clearInterval(report);
          if (outstanding === 0) resolve();
        }
      }, 100);
      issue();
    });
    let profileTop: string[] = [];
    if (session !== null && profiling && options.profilePath !== null) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(options.profilePath, JSON.stringify(profile));
      profileTop = summarizeProfile(profile);
      session.disconnect();
    }
    options.progress.done(`peak: done (${issued} issued, ${rejected} rejected)`);
    const result = row(
      'cluster peak (closed loop)',
      null,
      finalizedAfterWarmup() / options.seconds,
      finalizedAfterWarmup(),
      latencies,
      rejected,
    );
    return {
      ...result,
      note: `${options.peakInFlight} in flight${rejected > 0 ? `, ${rejected} rejected` : ''}`,
      profileTop,
    };
  });
}

export function row(
  name: string,
  offered: number | null,
  perSecond: number,
  finalized: number,
  latencies: hdr.Histogram,
  rejected = 0,
): LoadResult {
  const ms = (percentile: number): number => latencies.getValueAtPercentile(percentile) / 1000;
  return {
    name,
    offeredPerSecond: offered,
    finalizedPerSecond: perSecond,
    finalized,
    opsPerSecond: perSecond,
    meanMs: latencies.mean / 1000,
    p50Ms: ms(50),
    p99Ms: ms(99),
    p999Ms: ms(99.9),
    note: rejected > 0 ? `${rejected} rejected` : '',
  };
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

/** The ten functions with the most self time, as "share  name  file:line". */
export function summarizeProfile(profile: { readonly nodes: readonly ProfileNode[] }): string[] {
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/work\/main\//, '').replace(/^file:\/\//, '');
    const key = `${functionName || '(anonymous)'}  ${file ? `${file}:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([key, hits]) => `${((100 * hits) / Math.max(1, total)).toFixed(1).padStart(5)}%  ${key}`);
}
