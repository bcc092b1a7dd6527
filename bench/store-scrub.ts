/**
 * Open time and full-scrub time of a large store: builds a store of N finalized vertices by
 * writing finalized records straight through the store API (as the engine would after N
 * vertices became final, without consensus), then measures
 *
 * - `LmdbStore.open` (what a restart checks: metadata, the restart records, the index tail),
 * - one full scrub pass as fast as it reads (chunks run back to back, no pacing): wall and CPU
 *   time, reads and bytes, and how long chunks held the event loop (wall time, and CPU time,
 *   which leaves out waits for a core on a shared machine),
 * - what the pass takes at the node's default rate (10,000 reads/s, 32 MiB/s), and the share
 *   of one core it then takes.
 *
 * `node bench/store-scrub.ts --vertices 1000000 [--batch 4096] [--payload-bytes 32] [--dir D] [--keep] [--reuse]`
 * (the directory defaults to a new one under the system temp directory, removed afterwards;
 * `--reuse` measures a store an earlier `--keep` run left in `--dir`).
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ArgumentError } from '../src/errors.ts';
import type { Commit } from '../src/protocol/messages.ts';
import { batchDigest, createVertex, type Vertex } from '../src/protocol/types.ts';
import { LmdbStore } from '../src/storage/lmdb.ts';

const CLUSTER_ID = 'scrub-bench';
/** An ML-DSA-87 signature's size: the commit certificate is three of them. */
const SIGNATURE_BYTES = 4627;
const DEFAULT_READS_PER_SECOND = 10_000;
const DEFAULT_BYTES_PER_SECOND = 32 << 20;

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ArgumentError(`--${name} must be a positive integer`);
  return value;
}

const { values } = parseArgs({
  options: {
    vertices: { type: 'string' },
    batch: { type: 'string' },
    'payload-bytes': { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    reuse: { type: 'boolean', default: false },
  },
});
const vertices = integer('vertices', values.vertices, 1_000_000);
const batchSize = integer('batch', values.batch, 4096);
const payloadBytes = integer('payload-bytes', values['payload-bytes'], 32);
const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-scrub-bench-'));
const options = { path: dir, clusterId: CLUSTER_ID, replica: 0 };
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** Builds the store: one finalized record per batch, applied in groups of 16 (one sync each). */
async function build(): Promise<void> {
  const store = await LmdbStore.open(options);
  const signature = new Uint8Array(SIGNATURE_BYTES).fill(3);
  const batches = Math.ceil(vertices / batchSize);
  const started = performance.now();
  let pending: Promise<unknown>[] = [];
  for (let sequence = 1; sequence <= batches; sequence++) {
    const count = Math.min(batchSize, vertices - (sequence - 1) * batchSize);
    const batch: Vertex[] = [];
    for (let index = 0; index < count; index++) {
      const payload = new Uint8Array(payloadBytes);
      const view = new DataView(payload.buffer);
      view.setUint32(0, sequence);
      view.setUint32(4, index);
      batch.push(createVertex(payload, { validThrough: sequence + 1 }));
    }
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
    pending.push(
      store.apply(
        [
          {
            kind: 'finalized',
            record: {
              sequence,
              view: 0,
              digest,
              batch,
              commits,
              // The store does not check the chain; any 32 bytes will do.
              chainDigest: digest,
              delivered: batch.map((_, i) => i),
            },
          },
        ],
        sequence,
      ),
    );
    if (pending.length === 16) {
      await Promise.all(pending);
      pending = [];
    }
    if (sequence % 256 === 0)
      log(`  built ${sequence}/${batches} batches (${Math.round((performance.now() - started) / 1000)} s)`);
  }
  await Promise.all(pending);
  await store.close();
  log(
    `built ${vertices} vertices in ${batches} batches in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

async function measure(): Promise<void> {
  const dataBytes = fs.statSync(path.join(dir, 'data.mdb')).size;
  const openStarted = performance.now();
  const store = await LmdbStore.open(options);
  const openMs = performance.now() - openStarted;
  try {
    let passDone = false;
    const scrubber = store.startScrub(
      // Paced by hand below: the timer-driven chunks are stopped at once.
      { passIntervalMs: 1 },
      {
        onDamage: (error) => {
          throw error;
        },
      },
    );
    scrubber.stop();
    const cpuStarted = process.cpuUsage();
    const started = performance.now();
    let chunks = 0;
    let reads = 0;
    let bytes = 0;
    let chunkMsMax = 0;
    const chunkMs: number[] = [];
    const chunkCpuMs: number[] = [];
    while (!passDone) {
      const chunkStarted = performance.now();
      const chunkCpu = process.cpuUsage();
      const result = scrubber.chunk();
      const used = process.cpuUsage(chunkCpu);
      chunkCpuMs.push((used.user + used.system) / 1000);
      chunkMs.push(performance.now() - chunkStarted);
      chunkMsMax = Math.max(chunkMsMax, performance.now() - chunkStarted);
      chunks++;
      reads += result.reads;
      bytes += result.bytes;
      passDone = result.passDone;
    }
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuStarted);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const pacedSeconds = Math.max(reads / DEFAULT_READS_PER_SECOND, bytes / DEFAULT_BYTES_PER_SECOND);
    log(
      JSON.stringify(
        {
          vertices,
          batchSize,
          payloadBytes,
          dataBytes,
          openMs: Math.round(openMs),
          scrub: {
            records: scrubber.stats.records,
            reads,
            bytes,
            chunks,
            unpacedSeconds: +(wallMs / 1000).toFixed(1),
            cpuSeconds: +(cpuMs / 1000).toFixed(1),
            chunkMsP50: +quantile(chunkMs, 0.5).toFixed(2),
            chunkMsP99: +quantile(chunkMs, 0.99).toFixed(2),
            chunkMsMax: +chunkMsMax.toFixed(1),
            // CPU time per chunk: what the chunk itself costs, without the waits for a core
            // that other processes on a shared machine cause.
            chunkCpuMsP50: +quantile(chunkCpuMs, 0.5).toFixed(2),
            chunkCpuMsP99: +quantile(chunkCpuMs, 0.99).toFixed(2),
            chunkCpuMsMax: +Math.max(...chunkCpuMs).toFixed(1),
            atDefaultRateSeconds: Math.round(pacedSeconds),
            coreShareAtDefaultRate: +(cpuMs / 1000 / pacedSeconds).toFixed(3),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await store.close();
  }
}

try {
  if (!values.reuse) await build();
  await measure();
} finally {
  if (!values.keep && values.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
}
