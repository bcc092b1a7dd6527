/**
 * Requests as the core orders them: a vertex whose payload is the magic line
 * `cretoai-reconfiguration/v1` followed by the request file's text, and the reader that tells
 * the core, identically at every replica, whether such a vertex changes the epoch it is
 * ordered in (docs/reconfiguration.md, "A change is an ordered operation").
 *
 * The reader needs nothing but the cluster file: the members of epoch k > 0 are the `next` of
 * the request that opened it, which the history keeps (`EpochRecord.opening`).
 */
import type { ClusterFile } from '../client/cluster-file.ts';
import { mlDsa87 } from '../crypto/index.ts';
import { resolveBftConfig } from '../engine/config.ts';
import type { EpochRecord, NextEpoch, RequestReader } from '../protocol/index.ts';
import { type Epoch, epochZero } from './epoch.ts';
import { ReconfigurationError } from './errors.ts';
import { checkRequest, type ReconfigurationRequest } from './request.ts';
import { formatRequestFile, parseRequestFile } from './request-file.ts';

/** The first line of a request's vertex payload. */
export const REQUEST_PAYLOAD_MAGIC = 'cretoai-reconfiguration/v1\n';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const MAGIC = encoder.encode(REQUEST_PAYLOAD_MAGIC);

/** The vertex payload that carries `request`. */
export function requestPayload(request: ReconfigurationRequest): Uint8Array {
  return encoder.encode(`${REQUEST_PAYLOAD_MAGIC}${formatRequestFile(request)}`);
}

/** Whether a payload claims to be a request (cheap: every delivered vertex is asked). */
export function isRequestPayload(payload: Uint8Array): boolean {
  if (payload.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (payload[i] !== MAGIC[i]) return false;
  return true;
}

/**
 * The request a payload carries.
 *
 * @throws ReconfigurationError `malformed` when it claims to be one and is not.
 */
export function parseRequestPayload(payload: Uint8Array): ReconfigurationRequest {
  if (!isRequestPayload(payload)) throw new ReconfigurationError('malformed', 'the payload is not a request');
  let text: string;
  try {
    text = decoder.decode(payload.subarray(MAGIC.length));
  } catch (error) {
    throw new ReconfigurationError('malformed', 'the request is not UTF-8', { cause: error });
  }
  return parseRequestFile(text, 'in the vertex');
}

/** The core's figures for an epoch's members, as every member resolves them when it starts it. */
export function replicaFiguresOf(members: ClusterFile): NextEpoch['options'] {
  const validators = members.validators.map((validator) => validator.nodeId);
  const { replica } = resolveBftConfig(
    { ...members.consensus, nodeId: validators[0]!, validators, clusterId: members.clusterId },
    mlDsa87.signatureBytes,
  );
  const {
    clusterId: _clusterId,
    self: _self,
    replicaCount: _replicaCount,
    faultTolerance: _faultTolerance,
    quorum: _quorum,
    weakQuorum: _weakQuorum,
    reconfiguration: _reconfiguration,
    ...figures
  } = replica;
  return figures;
}

/**
 * The reader the core is given: a request takes effect when it is one, its operator signatures
 * and the rest of `checkRequest` hold against the epoch it is ordered in, and only then. Every
 * refusal is a null, never an exception: the core must reach the same answer everywhere, and a
 * forged or stale request is a vertex that changes nothing.
 */
export function createRequestReader(cluster: ClusterFile): RequestReader {
  const opened = new Map<number, Epoch>();
  const epochOf = (record: EpochRecord): Epoch | null => {
    if (record.number === 0) return epochZero(cluster);
    const known = opened.get(record.number);
    if (known !== undefined) return known;
    try {
      const epoch: Epoch = { number: record.number, members: parseRequestPayload(record.opening).next };
      opened.set(record.number, epoch);
      return epoch;
    } catch (error) {
      if (error instanceof ReconfigurationError) return null;
      throw error;
    }
  };
  return (payload, current) => {
    if (!isRequestPayload(payload)) return null;
    const epoch = epochOf(current);
    if (epoch === null) return null;
    try {
      const request = parseRequestPayload(payload);
      checkRequest(request, epoch);
      return {
        nodes: request.next.validators.map((validator) => validator.nodeId),
        options: replicaFiguresOf(request.next),
      };
    } catch (error) {
      if (error instanceof ReconfigurationError) return null;
      throw error;
    }
  };
}
