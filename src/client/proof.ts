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
import { batchDigestOfHashes, type Commit, quorumSizes } from '../protocol/index.ts';
import { CONSENSUS_CONTEXT } from '../shell/signing.ts';
import { decodeLimitsFor, decodeMessage, signBytes } from '../wire/index.ts';
import { bytesFromBase64, digestFromHex, type FinalVertexResponse } from './api.ts';
import { BftClientError } from './errors.ts';

/** What a client needs to check proofs: the cluster id, the validators' keys, the quorum. */
export interface ClusterKeys {
  readonly clusterId: string;
  /** Public keys in validator order (replica id = index). */
  readonly publicKeys: readonly PublicKey[];
  /** The cluster's quorumThreshold, if its cluster file sets one. */
  readonly quorumThreshold?: number;
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
  const limits = decodeLimitsFor({
    replicaCount: n,
    maxSignatureBytes: mlDsa87.signatureBytes,
    batchCountMax: 0,
    batchBytesMax: 0,
    vertexPayloadBytesMax: 0,
    vertexParentsMax: 0,
    watermarkWindow: 1,
    stateEntriesMax: 0,
    maxFrameBytes: 1 << 16,
  });
  const signers = new Set<number>();
  for (const encoded of proof.commits.slice(0, n)) {
    const bytes = bytesFromBase64(encoded);
    if (bytes === null) refuse('a COMMIT is not base64');
    const decoded = decodeMessage(bytes, limits);
    if (!decoded.ok) refuse(`a COMMIT does not decode (${decoded.error.code})`);
    if (decoded.message.kind !== 'commit') refuse(`a ${decoded.message.kind} stands where a COMMIT belongs`);
    const commit: Commit = decoded.message;
    // The keys a client holds are the cluster file's: epoch 0's. Certificates of later epochs
    // are checked once the client follows the chain of reconfigurations (docs/reconfiguration.md).
    if (commit.epoch !== 0) refuse(`validator ${commit.replica}'s COMMIT is of epoch ${commit.epoch}`);
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
