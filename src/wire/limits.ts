/**
 * The bounds the decoder enforces, and the worst-case sizes they imply.
 *
 * "Put a limit on everything": every count and length a peer declares is checked against one of
 * these before anything is allocated for it. The limits are plain data without defaults, so a
 * deployment states each one (usually through {@link decodeLimitsFor}) and the frame bound can
 * be checked against {@link encodedSizeBound} for the largest message the protocol must send.
 */
import { DIGEST_BYTES } from '../crypto/digest.ts';
import { integerField } from '../protocol/errors.ts';
import type { MessageKind } from '../protocol/messages.ts';
import {
  BATCH_FIXED_BYTES,
  CHECKPOINT_CERTIFICATE_FIXED_BYTES,
  CHECKPOINT_FIELDS_BYTES,
  FINALIZED_ENTRY_FIXED_BYTES,
  HEADER_BYTES,
  REPLICA_BYTES,
  REPLICA_COUNT_LIMIT,
  SIGNATURE_BYTES_LIMIT,
  SIGNER_FIELDS_BYTES,
  STATE_REQUEST_FIELDS_BYTES,
  STATUS_FIELDS_BYTES,
  signatureFieldBytes,
  U64_BYTES,
  VERTEX_FIXED_BYTES,
  VIEW_TIMEOUT_FIELDS_BYTES,
  VOTE_FIELDS_BYTES,
} from './layout.ts';

/** Every bound the decoder enforces. All fields are required: there are no hidden defaults. */
export interface DecodeLimits {
  /** The largest frame body accepted, in bytes (checked before anything else). */
  readonly maxFrameBytes: number;
  /** The cluster size n: every replica id must be below it. At most 65,536. */
  readonly replicaCount: number;
  /** The longest signature accepted (ML-DSA-87: 4,627 bytes). At most 65,535. */
  readonly maxSignatureBytes: number;
  /** Vertices per batch. */
  readonly batchCountMax: number;
  /** Payload bytes plus 32 bytes per parent, summed over one batch. */
  readonly batchBytesMax: number;
  /** Payload bytes of one vertex. */
  readonly vertexPayloadBytesMax: number;
  /** Parents of one vertex. At most 65,535 (a u16 count). */
  readonly vertexParentsMax: number;
  /** CHECKPOINT messages in one checkpoint certificate. */
  readonly checkpointProofMax: number;
  /** PREPARE messages in one prepared certificate. */
  readonly preparesPerCertificateMax: number;
  /** Prepared certificates in one VIEW-CHANGE. */
  readonly preparedCertificatesMax: number;
  /** VIEW-CHANGE messages in one NEW-VIEW. */
  readonly viewChangesMax: number;
  /** PRE-PREPARE headers in one NEW-VIEW. */
  readonly newViewPrePreparesMax: number;
  /** Vertices in one REQUEST. */
  readonly requestVerticesMax: number;
  /** Finalized entries in one STATE-REPLY. */
  readonly stateEntriesMax: number;
  /** COMMIT messages in one finalized entry's commit certificate. */
  readonly commitsPerEntryMax: number;
}

/** The deployment figures from which {@link decodeLimitsFor} derives every decode limit. */
export interface DecodeLimitsOptions {
  /** The cluster size n. */
  readonly replicaCount: number;
  /** The signature scheme's signature length (4,627 for ML-DSA-87). */
  readonly maxSignatureBytes: number;
  /** Vertices per batch. */
  readonly batchCountMax: number;
  /** Payload plus parent bytes per batch. */
  readonly batchBytesMax: number;
  /** Payload bytes per vertex. */
  readonly vertexPayloadBytesMax: number;
  /** Parents per vertex. */
  readonly vertexParentsMax: number;
  /** L: how many sequences may be in flight above the stable checkpoint. */
  readonly watermarkWindow: number;
  /** Finalized entries per STATE-REPLY. */
  readonly stateEntriesMax: number;
  /** The largest frame body, in bytes. */
  readonly maxFrameBytes: number;
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  integerField(name, value, undefined, min, max);
}

/**
 * The decode limits for a deployment.
 *
 * Certificate sizes follow from the replica count: a certificate never needs more than n
 * signatures (one per replica), so CHECKPOINT proofs, PREPAREs per prepared certificate,
 * VIEW-CHANGEs per NEW-VIEW and COMMITs per finalized entry are each at most n. The watermark
 * window bounds the rest: a VIEW-CHANGE carries at most one prepared certificate per sequence
 * in the window, and a NEW-VIEW re-proposes at most that many sequences. A REQUEST carries at
 * most one batch's worth of vertices.
 *
 * @throws ArgumentError when a figure is not an integer in its range; this is a configuration
 *   error, reported at startup.
 */
export function decodeLimitsFor(options: DecodeLimitsOptions): DecodeLimits {
  const safe = Number.MAX_SAFE_INTEGER;
  requireInteger('replicaCount', options.replicaCount, 1, REPLICA_COUNT_LIMIT);
  requireInteger('maxSignatureBytes', options.maxSignatureBytes, 1, SIGNATURE_BYTES_LIMIT);
  requireInteger('batchCountMax', options.batchCountMax, 0, 0xffff_ffff);
  requireInteger('batchBytesMax', options.batchBytesMax, 0, safe);
  requireInteger('vertexPayloadBytesMax', options.vertexPayloadBytesMax, 0, 0xffff_ffff);
  requireInteger('vertexParentsMax', options.vertexParentsMax, 0, 0xffff);
  requireInteger('watermarkWindow', options.watermarkWindow, 1, 0xffff_ffff);
  requireInteger('stateEntriesMax', options.stateEntriesMax, 0, 0xffff_ffff);
  requireInteger('maxFrameBytes', options.maxFrameBytes, 1, 0xffff_ffff);
  const n = options.replicaCount;
  return Object.freeze({
    maxFrameBytes: options.maxFrameBytes,
    replicaCount: n,
    maxSignatureBytes: options.maxSignatureBytes,
    batchCountMax: options.batchCountMax,
    batchBytesMax: options.batchBytesMax,
    vertexPayloadBytesMax: options.vertexPayloadBytesMax,
    vertexParentsMax: options.vertexParentsMax,
    checkpointProofMax: n,
    preparesPerCertificateMax: n,
    preparedCertificatesMax: options.watermarkWindow,
    viewChangesMax: n,
    newViewPrePreparesMax: options.watermarkWindow,
    requestVerticesMax: options.batchCountMax,
    stateEntriesMax: options.stateEntriesMax,
    commitsPerEntryMax: n,
  });
}

/**
 * `limits` for a cluster of `replicaCount` validators: what scales with n (replica ids, and the
 * votes a certificate carries). A replica that follows epochs decodes with the largest n among
 * those it may hear from, since the validator set can grow.
 */
export function withReplicaCount(limits: DecodeLimits, replicaCount: number): DecodeLimits {
  requireInteger('replicaCount', replicaCount, 1, REPLICA_COUNT_LIMIT);
  if (replicaCount === limits.replicaCount) return limits;
  const n = replicaCount;
  return Object.freeze({
    ...limits,
    replicaCount: n,
    checkpointProofMax: n,
    preparesPerCertificateMax: n,
    viewChangesMax: n,
    commitsPerEntryMax: n,
  });
}

/**
 * The largest encoded batch the limits admit: every vertex costs its fixed fields, and payloads
 * plus parents together are bounded by `batchBytesMax`.
 */
function batchBound(limits: DecodeLimits): number {
  return BATCH_FIXED_BYTES + limits.batchCountMax * VERTEX_FIXED_BYTES + limits.batchBytesMax;
}

function boundsFor(limits: DecodeLimits): { readonly [K in MessageKind]: number } {
  const signature = signatureFieldBytes(limits.maxSignatureBytes);
  const vote = VOTE_FIELDS_BYTES + signature;
  const checkpoint = CHECKPOINT_FIELDS_BYTES + signature;
  const checkpointCertificate = CHECKPOINT_CERTIFICATE_FIXED_BYTES + limits.checkpointProofMax * checkpoint;
  const preparedCertificate = vote + 2 + limits.preparesPerCertificateMax * vote;
  const viewChange =
    SIGNER_FIELDS_BYTES +
    U64_BYTES +
    checkpointCertificate +
    4 +
    limits.preparedCertificatesMax * preparedCertificate +
    signature;
  const vertex = VERTEX_FIXED_BYTES + limits.vertexPayloadBytesMax + limits.vertexParentsMax * DIGEST_BYTES;
  const entry =
    FINALIZED_ENTRY_FIXED_BYTES - BATCH_FIXED_BYTES + batchBound(limits) + limits.commitsPerEntryMax * vote;
  return {
    'pre-prepare': VOTE_FIELDS_BYTES + 1 + batchBound(limits) + signature,
    prepare: vote,
    commit: vote,
    checkpoint,
    'view-change': viewChange,
    'new-view':
      SIGNER_FIELDS_BYTES +
      U64_BYTES +
      2 +
      limits.viewChangesMax * viewChange +
      4 +
      limits.newViewPrePreparesMax * vote +
      signature,
    request: REPLICA_BYTES + 1 + 4 + limits.requestVerticesMax * vertex,
    held: REPLICA_BYTES + 4 + limits.requestVerticesMax * DIGEST_BYTES,
    status: STATUS_FIELDS_BYTES + signature,
    'state-request': STATE_REQUEST_FIELDS_BYTES + signature,
    'state-reply': SIGNER_FIELDS_BYTES + 4 + limits.stateEntriesMax * entry + signature,
    'view-timeout': VIEW_TIMEOUT_FIELDS_BYTES + signature,
  };
}

/**
 * An upper bound on the encoded size (frame body, header included) of any message of `kind`
 * that satisfies every count and length limit except `maxFrameBytes`.
 *
 * Use it to check at startup that `maxFrameBytes` admits the largest message the protocol must
 * be able to send: with ML-DSA-87 signatures, a VIEW-CHANGE grows by about n x 4.7 KB per
 * sequence in the watermark window, so the window and the frame bound must be chosen together.
 * The result may exceed 2^53 for absurd limits; it is then only a lower bound of "too large".
 */
export function encodedSizeBound(kind: MessageKind, limits: DecodeLimits): number {
  return HEADER_BYTES + boundsFor(limits)[kind];
}
