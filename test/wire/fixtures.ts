/**
 * Shared settings of the wire tests: one seed for every property (set FC_SEED to replay a
 * failure) and small limits, so that properties reach every limit quickly.
 */
import { decodeLimitsFor } from '../../src/wire/index.ts';
import { messageArbitraries } from '../support/arbitraries.ts';

/** The fast-check seed of every wire property; printed in each test's name. */
export const seed = Number(process.env.FC_SEED ?? 20260417);

/** Runs per property: enough to cover every kind, small enough that the suite takes seconds. */
export const numRuns = Number(process.env.FC_RUNS ?? 300);

/** Limits small enough to be reached by generated messages. */
export const limits = decodeLimitsFor({
  replicaCount: 7,
  maxSignatureBytes: 64,
  batchCountMax: 8,
  batchBytesMax: 1024,
  vertexPayloadBytesMax: 128,
  vertexParentsMax: 4,
  watermarkWindow: 8,
  stateEntriesMax: 4,
  maxFrameBytes: 1 << 20,
});

/** Arbitraries valid under {@link limits}. */
export const arbitraries = messageArbitraries({ limits });

/** Lower-case hex, for readable assertion messages and multiset comparisons. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
