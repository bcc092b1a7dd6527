/**
 * Micro-benchmarks (tinybench): ML-DSA-87 sign and verify per operation, and
 * `message_validation`: decode plus verification of every signature, per message kind; and
 * `channel seal+open`: what the transport's per-frame protection (AES-256-GCM both ways) adds
 * to each of those frames.
 */
import { Bench } from 'tinybench';
import { mlDsa87 } from '../src/crypto/index.ts';
import { CONSENSUS_CONTEXT, verifyMessage } from '../src/shell/signing.ts';
import { RecordOpener, RecordSealer } from '../src/transport/channel-crypto.ts';
import { decodeLimitsFor, decodeMessage, encodeMessage } from '../src/wire/index.ts';
import type { BenchRow } from './report.ts';
import { CLUSTER_ID, sampleMessages } from './sample-messages.ts';

const BATCH_VERTICES = 64;

export async function runMicroBenchmarks(timeMs: number): Promise<BenchRow[]> {
  const keys = Array.from({ length: 4 }, () => mlDsa87.generateKeyPair());
  const publicKeys = keys.map((pair) => pair.publicKey);
  const message = new Uint8Array(128).fill(1);
  const signature = mlDsa87.sign(keys[0]!.privateKey, message, CONSENSUS_CONTEXT);
  const limits = decodeLimitsFor({
    replicaCount: 4,
    maxSignatureBytes: mlDsa87.signatureBytes,
    batchCountMax: 1024,
    batchBytesMax: 1 << 20,
    vertexPayloadBytesMax: 1 << 16,
    vertexParentsMax: 16,
    watermarkWindow: 32,
    stateEntriesMax: 16,
    maxFrameBytes: 64 << 20,
  });

  const bench = new Bench({ time: timeMs, warmupTime: Math.min(200, timeMs / 4) });
  bench.add('ml-dsa-87 sign', () => {
    mlDsa87.sign(keys[0]!.privateKey, message, CONSENSUS_CONTEXT);
  });
  bench.add('ml-dsa-87 verify', () => {
    mlDsa87.verify(publicKeys[0]!, message, signature, CONSENSUS_CONTEXT);
  });
  bench.add('ml-dsa-87 verify (async, 8 in flight)', async () => {
    await Promise.all(
      Array.from({ length: 8 }, () =>
        mlDsa87.verifyAsync(publicKeys[0]!, message, signature, CONSENSUS_CONTEXT),
      ),
    );
  });
  const frames = Object.entries(sampleMessages(mlDsa87, keys, BATCH_VERTICES)).map(
    ([kind, sample]) => [kind, encodeMessage(sample)] as const,
  );
  for (const [kind, frame] of frames) {
    bench.add(`message_validation ${kind} (${frame.length} B)`, () => {
      const decoded = decodeMessage(frame, limits);
      if (!decoded.ok || !verifyMessage(mlDsa87, publicKeys, CLUSTER_ID, decoded.message)) {
        throw new Error(`sample ${kind} did not validate`);
      }
    });
  }
  // One direction of a channel: each iteration seals the next record and opens it at the other end.
  const channelKey = new Uint8Array(32).fill(7);
  for (const [kind, frame] of frames) {
    const sealer = new RecordSealer(channelKey);
    const opener = new RecordOpener(channelKey);
    bench.add(`channel seal+open ${kind} (${frame.length} B)`, () => {
      if (opener.open(sealer.sealFrame(frame).subarray(4)) === null) throw new Error(`${kind} did not open`);
    });
  }
  await bench.run();
  return bench.tasks.map((task) => {
    const result = task.result;
    if (result === undefined || result.state !== 'completed') {
      return { name: task.name, opsPerSecond: 0, meanMs: Number.NaN, p99Ms: Number.NaN, note: 'failed' };
    }
    // "8 in flight" tasks verify 8 signatures per iteration.
    const perIteration = task.name.includes('8 in flight') ? 8 : 1;
    return {
      name: task.name,
      opsPerSecond: result.throughput.mean * perIteration,
      meanMs: result.latency.mean / perIteration,
      p99Ms: result.latency.p99 / perIteration,
    };
  });
}
