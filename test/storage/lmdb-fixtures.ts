/**
 * Shared pieces of the LMDB store tests: temporary data directories, generated durable writes
 * (every kind, signed and draft forms), and deterministic records for the crash test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import type { DurableSnapshot } from '../../src/protocol/durable-image.ts';
import type { DurableWrite, FinalizedRecord } from '../../src/protocol/effects.ts';
import type { Commit, Draft, NewView, PrePrepare } from '../../src/protocol/messages.ts';
import {
  batchDigest,
  chainDigest,
  createVertex,
  genesisDigest,
  type Vertex,
} from '../../src/protocol/types.ts';
import { decodeLimitsFor } from '../../src/wire/index.ts';
import { messageArbitraries } from '../support/arbitraries.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

/** The fast-check seed of every storage property (set FC_SEED to replay a failure). */
export const seed = Number(process.env.FC_SEED ?? 20260501);

/** A fresh data directory under the system temp directory, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const CLUSTER_ID = 'storage-test-cluster';

const limits = decodeLimitsFor({
  replicaCount: 7,
  maxSignatureBytes: 64,
  batchCountMax: 6,
  batchBytesMax: 1024,
  vertexPayloadBytesMax: 96,
  vertexParentsMax: 3,
  watermarkWindow: 4,
  stateEntriesMax: 4,
  maxFrameBytes: 1 << 22,
});

const arbitraries = messageArbitraries({ limits, maxListLength: 3, counterMax: 50 });

/** Sequences stay small so that writes collide, overwrite and truncate each other. */
const sequence = fc.integer({ min: 1, max: 40 });

function withoutSignature<M extends { readonly signature: Uint8Array }>(message: M): Omit<M, 'signature'> {
  const { signature: _signature, ...draft } = message;
  return draft;
}

/** A PRE-PREPARE as the core stores it: signed, a draft without a signature, or with an empty one. */
const storedPrePrepare: fc.Arbitrary<PrePrepare | Draft<PrePrepare>> = fc
  .tuple(arbitraries.byKind['pre-prepare'], fc.constantFrom('signed', 'draft', 'empty'))
  .map(([prePrepare, form]) =>
    form === 'signed'
      ? prePrepare
      : form === 'draft'
        ? (withoutSignature(prePrepare) as Draft<PrePrepare>)
        : { ...prePrepare, signature: new Uint8Array(0) },
  );

/** A NEW-VIEW as the core stores it: signed, or its own draft whose nested PRE-PREPAREs may be UNSIGNED. */
const storedNewView: fc.Arbitrary<NewView | Draft<NewView> | null> = fc.oneof(
  fc.constant(null),
  arbitraries.byKind['new-view'],
  fc
    .tuple(arbitraries.byKind['new-view'], fc.array(fc.boolean(), { maxLength: 8 }))
    .map(([newView, unsigned]): Draft<NewView> => {
      const draft = withoutSignature(newView);
      return {
        ...draft,
        prePrepares: draft.prePrepares.map((p, i) =>
          unsigned[i] ? { ...p, signature: new Uint8Array(0) } : p,
        ),
      };
    }),
);

const finalizedRecord: fc.Arbitrary<FinalizedRecord> = fc
  .tuple(sequence, arbitraries.finalizedEntry, arbitraries.digest, arbitraries.digest)
  .map(([at, entry, digest, chain]) => ({
    sequence: at,
    view: entry.view,
    digest,
    batch: entry.batch,
    commits: entry.commits,
    chainDigest: chain,
    delivered: entry.batch.map((_, i) => i),
  }));

/** Client vertices for accepted lists: the same few again and again, valid through 1 to 47. */
const ACCEPTED_POOL: readonly Vertex[] = Array.from({ length: 12 }, (_, i) =>
  createVertex(new TextEncoder().encode(`accepted ${i}`), { validThrough: 1 + ((i * 17) % 47) }),
);

/** Any durable write the core emits, in every stored form. */
export const durableWrite: fc.Arbitrary<DurableWrite> = fc.oneof(
  fc
    .tuple(
      arbitraries.epoch,
      arbitraries.counter,
      fc.boolean(),
      storedNewView,
      fc.array(arbitraries.byKind['view-timeout'], { maxLength: 4 }),
    )
    .map(
      ([epoch, view, active, newView, timeoutCertificate]): DurableWrite => ({
        kind: 'view',
        epoch,
        view,
        active,
        newView,
        timeoutCertificate,
      }),
    ),
  fc.tuple(sequence, storedPrePrepare, fc.constantFrom('none', 'own', 'separate'), arbitraries.batch).map(
    ([at, prePrepare, batchForm, batch]): DurableWrite => ({
      kind: 'pre-prepare',
      sequence: at,
      prePrepare,
      batch: batchForm === 'none' ? null : batchForm === 'own' ? (prePrepare.batch ?? batch) : batch,
    }),
  ),
  fc
    .tuple(sequence, arbitraries.preparedCertificate)
    .map(([at, certificate]): DurableWrite => ({ kind: 'prepared', sequence: at, certificate })),
  arbitraries.checkpointCertificate.map((certificate): DurableWrite => ({ kind: 'stable', certificate })),
  { arbitrary: finalizedRecord.map((record): DurableWrite => ({ kind: 'finalized', record })), weight: 3 },
  fc.integer({ min: 0, max: 45 }).map((through): DurableWrite => ({ kind: 'truncate', through })),
  // Lists drawn from a pool of twelve vertices, so that lists share vertices as a restarted
  // replica's do, with validThroughs on both sides of the truncations.
  fc
    .array(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 4 })
    .map(
      (picks): DurableWrite => ({ kind: 'accepted', vertices: picks.map((pick) => ACCEPTED_POOL[pick]!) }),
    ),
  fc
    .tuple(
      fc.integer({ min: 0, max: 3 }),
      sequence,
      fc.option(fc.integer({ min: 0, max: 40 }), { nil: null }),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([number, start, length, opening]): DurableWrite => {
      // An open epoch, or one closed at a sequence inside it.
      const end = length === null ? null : start + length;
      const closedAt = end === null ? null : start + Math.floor(length! / 2);
      return { kind: 'epoch', record: { number, start, end, closedAt, opening } };
    }),
);

/** One call to the store: a step's writes, or a prune of the finalized history. */
export type StoreCall =
  | { readonly kind: 'apply'; readonly writes: readonly DurableWrite[] }
  | { readonly kind: 'prune'; readonly sequence: number };

export const storeCall: fc.Arbitrary<StoreCall> = fc.oneof(
  {
    arbitrary: fc
      .array(durableWrite, { maxLength: 5 })
      .map((writes): StoreCall => ({ kind: 'apply', writes })),
    weight: 9,
  },
  fc.integer({ min: 0, max: 45 }).map((at): StoreCall => ({ kind: 'prune', sequence: at })),
);

/**
 * A snapshot with its PRE-PREPAREs and prepared certificates in sequence order, and its accepted
 * vertices in hash order: `DurableImage` lists them in insertion order, the store in key order,
 * and restoring does not depend on it.
 */
export function bySequence(snapshot: DurableSnapshot): DurableSnapshot {
  return {
    ...snapshot,
    accepted: [...snapshot.accepted].sort((a, b) => Buffer.compare(a.hash, b.hash)),
    prePrepares: [...snapshot.prePrepares].sort((a, b) => a.sequence - b.sequence),
    prepared: [...snapshot.prepared].sort((a, b) => a.sequence - b.sequence),
  };
}

// ---------------------------------------------------------------------------------------------
// Deterministic records for the crash and throughput tests

const CRASH_SIGNATURE = new Uint8Array(64).fill(7);

/**
 * The batch finalized at `sequence` in the crash test: two small vertices derived from it and,
 * when `padded`, a third of up to 16 KB, so that some transactions span overflow pages.
 */
function batchAt(sequence: number, padded: boolean) {
  const payload = (salt: number) => new TextEncoder().encode(`vertex ${sequence}/${salt}`.padEnd(48, '.'));
  const batch = [
    createVertex(payload(0), { validThrough: TEST_VALID_THROUGH }),
    createVertex(payload(1), { validThrough: TEST_VALID_THROUGH }),
  ];
  if (padded)
    batch.push(
      createVertex(new Uint8Array((sequence * 7919) % 16384).fill(sequence & 0xff), {
        validThrough: TEST_VALID_THROUGH,
      }),
    );
  return batch;
}

/** The chain digests of the crash test's histories (plain and padded), computed once per sequence. */
const chains: Record<'plain' | 'padded', Uint8Array[]> = {
  plain: [genesisDigest(CLUSTER_ID)],
  padded: [genesisDigest(CLUSTER_ID)],
};

/** The writes of step `sequence` of the crash test: its PRE-PREPARE and its finalized record. */
export function crashStep(sequence: number, padded = false): DurableWrite[] {
  const batch = batchAt(sequence, padded);
  const digest = batchDigest(batch);
  const chain = chains[padded ? 'padded' : 'plain'];
  while (chain.length <= sequence) {
    const at = chain.length;
    chain.push(chainDigest(chain[at - 1]!, at, batchDigest(batchAt(at, padded))));
  }
  const commits: Commit[] = [0, 1, 2].map((replica) => ({
    kind: 'commit',
    epoch: 0,
    view: 0,
    sequence,
    digest,
    replica,
    signature: CRASH_SIGNATURE,
  }));
  return [
    {
      kind: 'pre-prepare',
      sequence,
      prePrepare: {
        kind: 'pre-prepare',
        epoch: 0,
        view: 0,
        sequence,
        digest,
        batch: null,
        replica: 0,
        signature: CRASH_SIGNATURE,
      },
      batch,
    },
    {
      kind: 'finalized',
      record: {
        sequence,
        view: 0,
        digest,
        batch,
        commits,
        chainDigest: chain[sequence]!,
        delivered: batch.map((_, i) => i),
      },
    },
  ];
}

/** A vote-sized write: a signed PRE-PREPARE header as a backup accepts it (ML-DSA-87 signature). */
export function voteWrite(sequence: number): DurableWrite {
  const digest = new Uint8Array(32).fill(sequence & 0xff);
  return {
    kind: 'pre-prepare',
    sequence,
    prePrepare: {
      kind: 'pre-prepare',
      epoch: 0,
      view: 0,
      sequence,
      digest,
      batch: null,
      replica: 0,
      signature: new Uint8Array(4627).fill(3),
    },
    batch: null,
  };
}

/**
 * 320 vertices whose hashes spread over many buckets of the vertex index tail (see
 * `index-tail.ts`), deterministic since the hashes are. Filling all 1,024 would take some
 * 7,500, and every lookup of one reads the whole batch.
 */
export const WIDE_BATCH: readonly Vertex[] = Array.from({ length: 320 }, (_, i) =>
  createVertex(new TextEncoder().encode(`tail vertex ${i}`), { validThrough: TEST_VALID_THROUGH }),
);

/** The crash test's finalized record at sequence 1, with `WIDE_BATCH` as its batch. */
export function wideFinalized(): Extract<DurableWrite, { readonly kind: 'finalized' }> {
  const write = crashStep(1)[1];
  if (write?.kind !== 'finalized') throw new Error('crashStep(1) has no finalized record');
  return {
    kind: 'finalized',
    record: { ...write.record, batch: WIDE_BATCH, delivered: WIDE_BATCH.map((_, i) => i) },
  };
}
