/**
 * Checking a finality proof with nothing but the cluster file: a client that holds the
 * validators' public keys needs to trust no node. A node's `GET /v1/vertices/:hash` answer for a
 * final vertex carries the batch's vertex hashes and its commit certificate; the vertex is final
 * at (sequence, index) when
 *
 * 1. the batch lists the vertex's hash at `index`, and hashes to `batchDigest`;
 * 2. at least a quorum of distinct validators signed a COMMIT for (view, sequence, batchDigest),
 *    each signature valid under that validator's key for this cluster.
 *
 * A quorum of COMMITs for one slot means the batch is committed in PBFT's sense (Castro and
 * Liskov 4.2): any quorum that later finalizes that sequence overlaps it in a correct replica,
 * so no other batch can ever be final there, in this view or any later one.
 */
import { bytesEqual, mlDsa87, type PublicKey } from '../crypto/index.ts';
import { batchDigestOfHashes, type Commit, quorumSizes, REPLICA_COUNT_MAX } from '../protocol/index.ts';
import { CONSENSUS_CONTEXT } from '../shell/signing.ts';
import { decodeLimitsFor, decodeMessage, signBytes } from '../wire/index.ts';
import { bytesFromBase64, digestFromHex, type FinalVertexResponse } from './api.ts';
import type { ClusterFile } from './cluster-file.ts';
import { BftClientError } from './errors.ts';

/** What a client needs to check proofs: the cluster id, the validators' keys, the quorum. */
export interface ClusterKeys {
  readonly clusterId: string;
  /** Public keys in validator order (replica id = index) of `epoch`. */
  readonly publicKeys: readonly PublicKey[];
  /** The cluster's quorumThreshold, if its cluster file sets one. */
  readonly quorumThreshold?: number;
  /** The epoch these are the validators of: its certificates name it. Default 0, the cluster file's. */
  readonly epoch?: number;
  /**
   * For an epoch after 0: the sequence at which the request that opened it was final. The epoch
   * certifies only sequences after it (docs/reconfiguration.md, "Clients").
   */
  readonly openedAt?: number;
}

/** The keys a client checks certificates with, from a cluster file. */
export function clusterKeysOf(cluster: ClusterFile): ClusterKeys {
  const threshold = cluster.consensus.quorumThreshold;
  return {
    clusterId: cluster.clusterId,
    publicKeys: cluster.validators.map((validator) => validator.publicKey),
    ...(typeof threshold === 'number' ? { quorumThreshold: threshold } : {}),
  };
}

/** Where a proof places the vertex. */
export interface VerifiedPlace {
  readonly sequence: number;
  readonly index: number;
  readonly view: number;
}

function refuse(detail: string): never {
  throw new BftClientError('invalid-certificate', `the finality proof does not check out: ${detail}`);
}

/**
 * The epoch a proof's certificate names (that of its first COMMIT), or null when it has none that
 * decodes: which validators' keys to check it with.
 */
export function certificateEpoch(proof: FinalVertexResponse): number | null {
  const first = Array.isArray(proof.commits) ? proof.commits[0] : undefined;
  const bytes = typeof first === 'string' ? bytesFromBase64(first) : null;
  if (bytes === null || bytes.length < 8) return null;
  const decoded = decodeMessage(bytes, commitLimits(REPLICA_COUNT_MAX));
  return decoded.ok && decoded.message.kind === 'commit' ? decoded.message.epoch : null;
}

function commitLimits(replicaCount: number) {
  return decodeLimitsFor({
    replicaCount,
    maxSignatureBytes: mlDsa87.signatureBytes,
    batchCountMax: 0,
    batchBytesMax: 0,
    vertexPayloadBytesMax: 0,
    vertexParentsMax: 0,
    watermarkWindow: 1,
    stateEntriesMax: 0,
    maxFrameBytes: 1 << 16,
  });
}

/**
 * Checks a node's proof that the vertex `hash` is final; returns where it is.
 *
 * @throws BftClientError 'invalid-certificate' naming the first thing that does not check out.
 */
export function verifyFinalVertex(
  hash: string,
  proof: FinalVertexResponse,
  cluster: ClusterKeys,
): VerifiedPlace {
  const n = cluster.publicKeys.length;
  const { quorum } = quorumSizes(n, cluster.quorumThreshold);
  if (proof.clusterId !== cluster.clusterId) refuse(`it is for cluster "${String(proof.clusterId)}"`);
  const { sequence, index, view } = proof;
  for (const [name, value] of [
    ['sequence', sequence],
    ['index', index],
    ['view', view],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) refuse(`${name} is not a non-negative integer`);
  }
  if (sequence < 1) refuse('sequence 0 holds nothing');
  const epoch = cluster.epoch ?? 0;
  if (cluster.openedAt !== undefined && sequence <= cluster.openedAt)
    refuse(`sequence ${sequence} comes before epoch ${epoch}, opened at ${cluster.openedAt}`);
  if (!Array.isArray(proof.batch) || index >= proof.batch.length) refuse('the batch does not reach index');
  if (proof.batch[index] !== hash) refuse(`the batch does not hold ${hash} at index ${index}`);
  // The batch digest commits to the vertices' hashes only.
  const hashes: Uint8Array[] = [];
  for (const entry of proof.batch) {
    const digest = digestFromHex(entry);
    if (digest === null) refuse('a batch entry is not a 64-hex-digit hash');
    hashes.push(digest);
  }
  const digest = batchDigestOfHashes(hashes);
  const claimed = digestFromHex(proof.batchDigest);
  if (claimed === null || !bytesEqual(claimed, digest)) refuse('the batch does not hash to batchDigest');

  if (!Array.isArray(proof.commits)) refuse('commits is not a list');
  const limits = commitLimits(n);
  const signers = new Set<number>();
  for (const encoded of proof.commits.slice(0, n)) {
    const bytes = bytesFromBase64(encoded);
    if (bytes === null) refuse('a COMMIT is not base64');
    const decoded = decodeMessage(bytes, limits);
    if (!decoded.ok) refuse(`a COMMIT does not decode (${decoded.error.code})`);
    if (decoded.message.kind !== 'commit') refuse(`a ${decoded.message.kind} stands where a COMMIT belongs`);
    const commit: Commit = decoded.message;
    // Keys are per epoch: a certificate is checked with those of the epoch its COMMITs name,
    // which the client learns by following the chain of reconfigurations (`epoch-chain.ts`).
    if (commit.epoch !== epoch)
      refuse(`validator ${commit.replica}'s COMMIT is of epoch ${commit.epoch}, not ${epoch}`);
    if (commit.view !== view || commit.sequence !== sequence || !bytesEqual(commit.digest, digest)) {
      refuse(`validator ${commit.replica}'s COMMIT is for another slot`);
    }
    if (signers.has(commit.replica)) refuse(`validator ${commit.replica} is counted twice`);
    const key = cluster.publicKeys[commit.replica];
    if (
      key === undefined ||
      !mlDsa87.verify(key, signBytes(commit, cluster.clusterId), commit.signature, CONSENSUS_CONTEXT)
    ) {
      refuse(`validator ${commit.replica}'s COMMIT signature does not verify`);
    }
    signers.add(commit.replica);
  }
  if (signers.size < quorum) refuse(`${signers.size} valid COMMITs, a quorum is ${quorum}`);
  return { sequence, index, view };
}
