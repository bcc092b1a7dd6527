/**
 * The LMDB store's cost of finalizing and pruning batches, per batch: main-thread CPU (the flush
 * that builds records and the vertex index runs there, between the engine's steps), the whole
 * process's CPU (adds LMDB's write thread, which commits and syncs), and wall time (adds the
 * sync). Each batch is applied alone and awaited, so every batch is one synced transaction.
 *
 * `npm run bench -- --only store`, or on its own:
 * `node bench/store.ts [batches] [vertices per batch] [runs]` (default 200 400 3).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DurableWrite } from '../src/protocol/effects.ts';
import type { Commit } from '../src/protocol/messages.ts';
import { batchDigest, createVertex } from '../src/protocol/types.ts';
import { LmdbStore } from '../src/storage/lmdb.ts';
import type { BenchRow } from './report.ts';

export interface StoreBenchOptions {
  readonly batches: number;
  readonly verticesPerBatch: number;
  readonly payloadBytes: number;
  readonly runs: number;
}

export const DEFAULT_STORE_BENCH: StoreBenchOptions = {
  batches: 200,
  verticesPerBatch: 400,
  payloadBytes: 128,
  runs: 3,
};

/** An ML-DSA-87 signature's size: the commit certificate is three of them. */
const SIGNATURE_BYTES = 4627;
const CLUSTER_ID = 'store-bench';

type FinalizedWrite = Extract<DurableWrite, { readonly kind: 'finalized' }>;

/** The finalized writes of one run, built before timing starts (hashing is not the store's cost). */
function finalizedWrites(options: StoreBenchOptions, run: number): FinalizedWrite[] {
  const signature = new Uint8Array(SIGNATURE_BYTES).fill(3);
  const writes: FinalizedWrite[] = [];
  for (let sequence = 1; sequence <= options.batches; sequence++) {
    const batch = Array.from({ length: options.verticesPerBatch }, (_, index) => {
      const payload = new Uint8Array(options.payloadBytes);
      // Distinct vertices: the run, the sequence and the index in the first bytes.
      const view = new DataView(payload.buffer);
      view.setUint32(0, run);
      view.setUint32(4, sequence);
      view.setUint32(8, index);
      return createVertex(payload, { validThrough: sequence + 1 });
    });
    const digest = batchDigest(batch);
    const commits: Commit[] = [0, 1, 2].map((replica) => ({
      kind: 'commit',
      epoch: 0,
      view: 0,
      sequence,
      digest,
      replica,
      signature,
    }));
    writes.push({
      kind: 'finalized',
      record: {
        sequence,
        view: 0,
        digest,
        batch,
        commits,
        chainDigest: digest,
        delivered: batch.map((_, i) => i),
      },
    });
  }
  return writes;
}

interface Sample {
  readonly wallMs: number[];
  mainCpuMs: number;
  processCpuMs: number;
}

/** Runs `step` once per item, recording each wall time and the CPU of all of them. */
async function sample<T>(items: readonly T[], step: (item: T) => Promise<unknown>): Promise<Sample> {
  const result: Sample = { wallMs: [], mainCpuMs: 0, processCpuMs: 0 };
  const thread0 = process.threadCpuUsage();
  const process0 = process.cpuUsage();
  for (const item of items) {
    const started = performance.now();
    await step(item);
    result.wallMs.push(performance.now() - started);
  }
  const thread = process.threadCpuUsage(thread0);
  const total = process.cpuUsage(process0);
  result.mainCpuMs = (thread.user + thread.system) / 1000;
  result.processCpuMs = (total.user + total.system) / 1000;
  return result;
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function row(name: string, runs: readonly Sample[], verticesPerBatch: number): BenchRow {
  const wall = runs.flatMap((run) => run.wallMs).sort((a, b) => a - b);
  const count = wall.length;
  const meanMs = wall.reduce((sum, ms) => sum + ms, 0) / count;
  const perRun = runs.map(
    (run) =>
      `${(run.mainCpuMs / run.wallMs.length).toFixed(2)}/${(run.processCpuMs / run.wallMs.length).toFixed(2)}`,
  );
  return {
    name,
    opsPerSecond: (verticesPerBatch * 1000) / meanMs,
    meanMs,
    p50Ms: percentile(wall, 0.5),
    p99Ms: percentile(wall, 0.99),
    note: `CPU ms per batch, main/process, per run: ${perRun.join(', ')}`,
  };
}

/**
 * Finalizes `batches` batches one at a time into a fresh store, then prunes them one at a time;
 * `runs` times after a short warm-up, each in its own temporary directory. Rows: per batch finalized, per batch pruned
 * (ops/s = vertices/s).
 */
export async function benchStore(options: StoreBenchOptions = DEFAULT_STORE_BENCH): Promise<BenchRow[]> {
  const finalize: Sample[] = [];
  const prune: Sample[] = [];
  // Run 0 warms the JIT up on a tenth of the batches and is not recorded.
  for (let run = 0; run <= options.runs; run++) {
    const writes = finalizedWrites(
      run === 0 ? { ...options, batches: Math.ceil(options.batches / 10) } : options,
      run,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-store-bench-'));
    try {
      const store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
      try {
        const finalized = await sample(writes, (write) => store.apply([write], write.record.sequence));
        const sequences = writes.map((write) => write.record.sequence);
        const pruned = await sample(sequences, (sequence) => store.pruneFinalized(sequence));
        if (run > 0) {
          finalize.push(finalized);
          prune.push(pruned);
        }
      } finally {
        await store.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const shape = `${options.verticesPerBatch} vertices of ${options.payloadBytes} B`;
  return [
    row(`finalize a batch (${shape})`, finalize, options.verticesPerBatch),
    row(`prune a batch (${shape})`, prune, options.verticesPerBatch),
  ];
}

if (import.meta.main) {
  const [batches, vertices, runs] = process.argv.slice(2).map(Number);
  const options: StoreBenchOptions = {
    ...DEFAULT_STORE_BENCH,
    ...(batches ? { batches } : {}),
    ...(vertices ? { verticesPerBatch: vertices } : {}),
    ...(runs ? { runs } : {}),
  };
  const { printTable } = await import('./report.ts');
  printTable(
    `LMDB store, ${options.batches} batches x ${options.runs} runs, one synced transaction per batch ` +
      '(ops/s = vertices/s; mean/p50/p99 = wall ms per batch)',
    await benchStore(options),
  );
}
