/**
 * Evidence of Byzantine behaviour in JSON, as `GET /v1/evidence` serves it and
 * `cretoai-node verify-evidence` reads it: the signed messages in their wire encoding, so that
 * anyone holding the cluster file can check them (`verifyEvidence` of `src/byzantine`).
 */
import { type Evidence, verifyEvidence } from '../byzantine/index.ts';
import { mlDsa87 } from '../crypto/index.ts';
import { isSignedKind, type Message, type SignedMessage } from '../protocol/index.ts';
import { type DecodeLimits, decodeLimitsFor, decodeMessage, encodeMessage } from '../wire/index.ts';
import { base64, bytesFromBase64, type EvidenceJson } from './api.ts';
import type { ClusterKeys } from './proof.ts';

/** The JSON form of `evidence`; `validators` names the replica. */
export function evidenceToJson(
  evidence: Evidence,
  clusterId: string,
  validators: readonly string[],
): EvidenceJson {
  const common = {
    clusterId,
    replica: evidence.replica,
    nodeId: validators[evidence.replica] ?? String(evidence.replica),
  };
  if (evidence.kind === 'equivocation') {
    return {
      kind: 'equivocation',
      ...common,
      first: base64(encodeMessage(evidence.first)),
      second: base64(encodeMessage(evidence.second)),
    };
  }
  return { kind: 'invalid-signature', ...common, message: base64(encodeMessage(evidence.message)) };
}

/** The outcome of checking one piece of evidence. */
export type EvidenceVerdict =
  | { readonly valid: true; readonly nodeId: string; readonly description: string }
  | { readonly valid: false; readonly reason: string };

/**
 * Limits for decoding evidence: it is local input an operator chose to check, and a NEW-VIEW in
 * it may be large, so they are generous; the decoder still refuses anything malformed.
 */
function evidenceLimits(replicaCount: number): DecodeLimits {
  return decodeLimitsFor({
    replicaCount,
    maxSignatureBytes: mlDsa87.signatureBytes,
    batchCountMax: 0xffff,
    batchBytesMax: 1 << 30,
    vertexPayloadBytesMax: 1 << 30,
    vertexParentsMax: 0xffff,
    watermarkWindow: 1 << 16,
    stateEntriesMax: 0,
    maxFrameBytes: 1 << 30,
  });
}

function describe(message: Message): string {
  switch (message.kind) {
    case 'pre-prepare':
    case 'prepare':
    case 'commit':
      return `${message.kind.toUpperCase()} for view ${message.view}, sequence ${message.sequence}`;
    case 'checkpoint':
      return `CHECKPOINT for sequence ${message.sequence}`;
    case 'new-view':
      return `NEW-VIEW for view ${message.view}`;
    default:
      return message.kind.toUpperCase();
  }
}

/**
 * Checks evidence in JSON against the cluster's public keys. Never throws: anything that does
 * not decode or does not prove a violation is `{ valid: false, reason }`.
 */
export function verifyEvidenceJson(
  json: unknown,
  cluster: ClusterKeys & { readonly validators: readonly string[] },
): EvidenceVerdict {
  if (typeof json !== 'object' || json === null) return { valid: false, reason: 'not a JSON object' };
  const entry = json as Partial<Record<string, unknown>>;
  if (entry.clusterId !== undefined && entry.clusterId !== cluster.clusterId) {
    return { valid: false, reason: `it is evidence from cluster "${String(entry.clusterId)}"` };
  }
  const replica = entry.replica;
  if (
    typeof replica !== 'number' ||
    !Number.isInteger(replica) ||
    replica < 0 ||
    replica >= cluster.publicKeys.length
  ) {
    return { valid: false, reason: 'replica is not a validator index of this cluster' };
  }
  const limits = evidenceLimits(cluster.publicKeys.length);
  const decode = (field: string): SignedMessage | string => {
    const bytes = bytesFromBase64(entry[field]);
    if (bytes === null) return `${field} is not base64`;
    const decoded = decodeMessage(bytes, limits);
    if (!decoded.ok) return `${field} does not decode (${decoded.error.code}: ${decoded.error.detail})`;
    if (!isSignedKind(decoded.message))
      return `${field} is a ${decoded.message.kind}, which carries no signature`;
    return decoded.message;
  };
  let evidence: Evidence;
  let description: string;
  const nodeId = cluster.validators[replica] ?? String(replica);
  if (entry.kind === 'equivocation') {
    const first = decode('first');
    const second = decode('second');
    if (typeof first === 'string') return { valid: false, reason: first };
    if (typeof second === 'string') return { valid: false, reason: second };
    evidence = { kind: 'equivocation', replica, first, second };
    description = `${nodeId} signed two different messages for one slot: ${describe(first)}`;
  } else if (entry.kind === 'invalid-signature') {
    const message = decode('message');
    if (typeof message === 'string') return { valid: false, reason: message };
    evidence = { kind: 'invalid-signature', replica, message };
    description = `${nodeId} signed a ${describe(message)} that carries an invalid signature`;
  } else {
    return { valid: false, reason: 'kind must be "equivocation" or "invalid-signature"' };
  }
  const valid = verifyEvidence(evidence, {
    scheme: mlDsa87,
    publicKeys: cluster.publicKeys,
    clusterId: cluster.clusterId,
  });
  return valid
    ? { valid: true, nodeId, description }
    : { valid: false, reason: 'the signatures do not verify, or the messages do not conflict' };
}
