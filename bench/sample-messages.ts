/**
 * Realistic signed messages of every kind for a 4-replica cluster, with 256-byte vertices:
 * what the validation benchmark decodes and verifies.
 */
import type { KeyPair, SignatureScheme } from '../src/crypto/index.ts';
import {
  type Batch,
  batchDigest,
  type Checkpoint,
  type Commit,
  createVertex,
  type Draft,
  type Message,
  type MessageKind,
  type PrePrepare,
  type Prepare,
  type ViewChange,
} from '../src/protocol/index.ts';
import { signDraft } from '../src/shell/signing.ts';

export const CLUSTER_ID = 'bench';
export const VERTEX_BYTES = 256;

export function vertexBatch(count: number, tag: string): Batch {
  return Array.from({ length: count }, (_, i) => {
    const payload = new Uint8Array(VERTEX_BYTES);
    payload.set(new TextEncoder().encode(`${tag} ${i}`));
    return createVertex(payload, { validThrough: 1000 });
  });
}

/** One signed message per kind, signed by the cluster's keys (replica 0 leads view 0). */
export function sampleMessages(scheme: SignatureScheme, keys: readonly KeyPair[], batchVertices: number) {
  const sign = <M extends Message>(replica: number, draft: Draft<M>): M =>
    signDraft({ scheme, privateKey: keys[replica]!.privateKey, clusterId: CLUSTER_ID }, draft) as M;
  const n = keys.length;
  const quorum = n - Math.floor((n - 1) / 3);
  const batch = vertexBatch(batchVertices, 'bench');
  const digest = batchDigest(batch);
  // Today's clusters run in epoch 0.
  const epoch = 0;
  const slot = { epoch, view: 0, sequence: 1, digest };
  const prePrepare = sign<PrePrepare>(0, { kind: 'pre-prepare', ...slot, batch, replica: 0 });
  const header: PrePrepare = { ...prePrepare, batch: null };
  const prepares = Array.from({ length: quorum - 1 }, (_, i) =>
    sign<Prepare>(i + 1, { kind: 'prepare', ...slot, replica: i + 1 }),
  );
  const commits = Array.from({ length: quorum }, (_, i) =>
    sign<Commit>(i, { kind: 'commit', ...slot, replica: i }),
  );
  const stateDigest = new Uint8Array(32).fill(9);
  const proof = Array.from({ length: quorum }, (_, i) =>
    sign<Checkpoint>(i, { kind: 'checkpoint', epoch, sequence: 16, stateDigest, replica: i }),
  );
  const viewChanges = Array.from({ length: quorum }, (_, i) =>
    sign<ViewChange>(i + 1 < n ? i + 1 : 0, {
      kind: 'view-change',
      epoch,
      view: 1,
      checkpoint: { sequence: 16, stateDigest, proof },
      prepared: [{ prePrepare: header, prepares }],
      replica: i + 1 < n ? i + 1 : 0,
    }),
  );
  const messages: { readonly [K in MessageKind]: Message } = {
    'pre-prepare': prePrepare,
    prepare: prepares[0]!,
    commit: commits[0]!,
    checkpoint: proof[0]!,
    'view-change': viewChanges[0]!,
    'new-view': sign(1, {
      kind: 'new-view',
      epoch,
      view: 1,
      viewChanges,
      prePrepares: [{ ...header, view: 1, replica: 1, signature: new Uint8Array(0) }],
      replica: 1,
    }),
    request: sign(2, { kind: 'request', vertices: batch.slice(0, 16), replica: 2, hold: false }),
    held: sign(2, { kind: 'held', hashes: batch.slice(0, 16).map((vertex) => vertex.hash), replica: 2 }),
    status: sign(3, {
      kind: 'status',
      epoch,
      view: 0,
      viewActive: true,
      lastExecuted: 1,
      stableSequence: 0,
      replica: 3,
    }),
    'state-request': sign(3, { kind: 'state-request', epoch, fromSequence: 1, toSequence: 16, replica: 3 }),
    'state-reply': sign(0, {
      kind: 'state-reply',
      epoch,
      entries: [{ sequence: 1, view: 0, batch, commits }],
      replica: 0,
    }),
    'view-timeout': sign(2, { kind: 'view-timeout', epoch, view: 0, replica: 2 }),
  };
  return messages;
}
