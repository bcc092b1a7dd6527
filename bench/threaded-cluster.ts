/**
 * The cluster benchmarks again with each replica on its own worker thread (`replica-worker.ts`)
 * and MessagePort links between them: four event loops, as four node processes would have,
 * in one process and without sockets. The single-threaded runs (`cluster.ts`) put all four
 * replicas' JavaScript on one thread, which is the tighter bound; both are reported.
 *
 * Latency is measured from the moment the parent scheduled a proposal, so a replica that is
 * late to take its proposals is charged for the wait (no coordinated omission).
 */
import { Worker } from 'node:worker_threads';
import { mlDsa87 } from '../src/crypto/index.ts';
import { messagePortMesh } from '../src/transport/message-port.ts';
import type { ClusterBenchOptions, LoadResult } from './cluster.ts';
import { histogram, row } from './cluster.ts';
import type { ReplicaCommand, ReplicaReport, ReplicaWorkerData } from './replica-worker.ts';

const REPLICAS = 4;
const now = (): number => performance.timeOrigin + performance.now();

interface ThreadedCluster {
  readonly workers: Worker[];
  command(index: number, command: ReplicaCommand): void;
  /** Waits until every replica's proposals have settled, then stops them and collects their reports. */
  finish(): Promise<Extract<ReplicaReport, { kind: 'finished' }>[]>;
}

async function startThreadedCluster(): Promise<ThreadedCluster> {
  const ids = Array.from({ length: REPLICAS }, (_, i) => `node-${i}`);
  const seeds = ids.map((_, i) => {
    const seed = new Uint8Array(mlDsa87.seedBytes);
    seed[0] = i + 1;
    return seed;
  });
  const mesh = messagePortMesh(ids);
  const workers = ids.map((id, index) => {
    const ports = mesh.get(id)!;
    const workerData: ReplicaWorkerData = { index, ids, seeds, ports, clusterId: 'bench-threaded' };
    return new Worker(new URL('./replica-worker.ts', import.meta.url), {
      workerData,
      transferList: [...ports.values()],
    });
  });
  const reportOf = (worker: Worker, kind: ReplicaReport['kind']): Promise<ReplicaReport> =>
    new Promise((resolve, reject) => {
      const onMessage = (report: ReplicaReport): void => {
        if (report.kind !== kind) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(report);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  const cluster: ThreadedCluster = {
    workers,
    command: (index, command) => workers[index]!.postMessage(command),
    finish: async () => {
      const drained = workers.map((worker) => reportOf(worker, 'drained'));
      for (const worker of workers) worker.postMessage({ kind: 'drain' } satisfies ReplicaCommand);
      await Promise.all(drained);
      const reports = workers.map((worker) => reportOf(worker, 'finished'));
      for (const worker of workers) worker.postMessage({ kind: 'finish' } satisfies ReplicaCommand);
      const finished = (await Promise.all(reports)) as Extract<ReplicaReport, { kind: 'finished' }>[];
      await Promise.all(workers.map((worker) => worker.terminate()));
      return finished;
    },
  };
  const started = workers.map((worker) => reportOf(worker, 'started'));
  for (const worker of workers) worker.postMessage({ kind: 'start' } satisfies ReplicaCommand);
  await Promise.all(started);
  return cluster;
}

function summarize(
  name: string,
  offered: number | null,
  options: ClusterBenchOptions,
  reports: readonly Extract<ReplicaReport, { kind: 'finished' }>[],
): LoadResult & { readonly issued: number } {
  const latencies = histogram();
  for (const report of reports) for (const micros of report.latencies) latencies.recordValue(micros);
  const finalized = reports[0]!.finalizedInWindow;
  const rejected = reports.reduce((sum, report) => sum + report.rejected, 0);
  const issued = reports.reduce((sum, report) => sum + report.issued, 0);
  return { ...row(name, offered, finalized / options.seconds, finalized, latencies, rejected), issued };
}

/** Open loop at `rate` proposals per second, spread round-robin over the four threads. */
export async function benchThreadedOfferedLoad(
  rate: number,
  options: ClusterBenchOptions,
): Promise<LoadResult> {
  const cluster = await startThreadedCluster();
  const start = now();
  const warmupEnd = start + options.warmupSeconds * 1000;
  const end = warmupEnd + options.seconds * 1000;
  for (let i = 0; i < REPLICAS; i++) cluster.command(i, { kind: 'window', warmupEnd, end });
  let scheduled = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const t = now();
      const due = Math.floor(((Math.min(t, end) - start) / 1000) * rate);
      if (due > scheduled) {
        // The proposals that fell due since the last turn, round-robin over the replicas, all
        // charged from when the first of them fell due (never less than they waited).
        const scheduledAt = start + ((scheduled + 1) / rate) * 1000;
        const counts = new Array<number>(REPLICAS).fill(0);
        for (let k = scheduled; k < due; k++) counts[k % REPLICAS]!++;
        for (const [i, count] of counts.entries()) {
          if (count > 0) cluster.command(i, { kind: 'propose', count, scheduledAt });
        }
        scheduled = due;
      }
      options.progress.update(
        `threaded, offered ${rate}/s: ${((t - start) / 1000).toFixed(1)} s, scheduled ${scheduled}`,
      );
      if (t < end) setTimeout(pump, 1);
      else resolve();
    };
    pump();
  });
  const result = summarize(
    `threaded cluster offered ${rate.toLocaleString('en-US')}/s`,
    rate,
    options,
    await cluster.finish(),
  );
  options.progress.done(`threaded, offered ${rate}/s: done (${result.issued} issued)`);
  return result;
}

/**
 * Closed loop, `peakInFlight` proposals outstanding in all. Not profiled: the single-threaded
 * peak run's profile shows where a replica's time goes (the same code, four times over).
 */
export async function benchThreadedPeak(options: ClusterBenchOptions): Promise<LoadResult> {
  const cluster = await startThreadedCluster();
  const start = now();
  const warmupEnd = start + options.warmupSeconds * 1000;
  const end = warmupEnd + options.seconds * 1000;
  for (let i = 0; i < REPLICAS; i++) {
    cluster.command(i, { kind: 'window', warmupEnd, end });
    cluster.command(i, {
      kind: 'keep-in-flight',
      inFlight: Math.ceil(options.peakInFlight / REPLICAS),
      until: end,
    });
  }
  await new Promise<void>((resolve) => {
    const report = setInterval(() => {
      const t = now();
      options.progress.update(`threaded peak: ${((t - start) / 1000).toFixed(1)} s`);
      if (t >= end) {
        clearInterval(report);
        resolve();
      }
    }, 100);
  });
  const result = summarize('threaded cluster peak (closed loop)', null, options, await cluster.finish());
  options.progress.done(`threaded peak: done (${result.issued} issued)`);
  return { ...result, note: `${options.peakInFlight} in flight` };
}
