/**
 * The client side of a cluster: `BftClient` (submit over HTTP, finality by certificate or by
 * f + 1 matching answers), the HTTP API's shapes, the cluster file, and the checks of
 * finality proofs and evidence that need only the validators' public keys.
 */

// First: certificates are checked with ML-DSA-87, which needs Node 24; say so on import.
import '../runtime/require-node.js';

export { ArgumentError, CretoaiError } from '../errors.ts';
export {
  API_ERRORS,
  API_ROUTES,
  type ApiErrorCode,
  base64,
  bytesFromBase64,
  digestFromHex,
  type EpochEntry,
  type EpochsResponse,
  type ErrorResponse,
  type EvidenceJson,
  type EvidenceResponse,
  type FinalizedEvent,
  type FinalVertexLocation,
  type FinalVertexResponse,
  isHexDigest,
  type PendingVertexResponse,
  type RejectedVertexResponse,
  type StatusResponse,
  type SubmitVertexRequest,
  type SubmitVertexResponse,
  type SubmitVerticesRequest,
  type SubmitVerticesResponse,
  type VertexResponse,
} from './api.ts';
export {
  BftClient,
  type BftClientOptions,
  clusterKeysOf,
  type Finality,
  type SubmitResult,
  type VertexInput,
  type WaitFinalOptions,
} from './client.ts';
export {
  CLUSTER_FILE_FORMAT,
  type ClusterFile,
  ClusterFileError,
  formatClusterFile,
  loadClusterFile,
  parseClusterFile,
  parsePublicKey,
  type ValidatorEntry,
} from './cluster-file.ts';
export { EpochChain, epochKeysOf } from './epoch-chain.ts';
export { BFT_CLIENT_ERROR_CODES, BftClientError, type BftClientErrorCode } from './errors.ts';
export { type EvidenceVerdict, evidenceToJson, verifyEvidenceJson } from './evidence.ts';
export type { FollowOptions, StreamedVertex } from './follow.ts';
export { type ClusterKeys, certificateEpoch, type VerifiedPlace, verifyFinalVertex } from './proof.ts';
export { SSE_EVENT_CHARS_MAX, type SseEvent, SseParseError, SseParser } from './sse.ts';
