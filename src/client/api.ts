/**
 * The node's HTTP API as data: the JSON bodies each route takes and returns, and the error codes.
 * The node (the server) and {@link BftClient} both build on these, so the two cannot drift.
 *
 * Bytes travel as lowercase hex when they are digests (vertex hashes, batch and chain digests)
 * and as standard base64 when they are payloads or encoded messages (a COMMIT of a certificate
 * is the wire codec's encoding, signature included, so that anyone can check it).
 */

/** Where the API lives under a node's base URL. */
export const API_ROUTES = Object.freeze({
  vertices: '/v1/vertices',
  events: '/v1/events',
  status: '/v1/status',
  evidence: '/v1/evidence',
  /** The chain of epochs, each with the proof that its opening request is final (`EpochsResponse`). */
  epochs: '/v1/epochs',
  backup: '/v1/admin/backup',
  metrics: '/metrics',
  health: '/healthz',
  /** Readiness: 200 while the node runs and sees a quorum, 503 otherwise (see `ReadyResponse`). */
  ready: '/readyz',
  /** The status page (HTML); its scripts and styles are under `/status-page/`. */
  statusPage: '/',
} as const);

/** `POST /v1/vertices` with `application/json`: one vertex. */
export interface SubmitVertexRequest {
  /** The payload, standard base64. */
  readonly payload: string;
  /** The parents' hashes, 64 hex digits each. Default none. */
  readonly parents?: readonly string[];
}

/** `POST /v1/vertices` with `application/json`: several vertices in one request. */
export interface SubmitVerticesRequest {
  readonly vertices: readonly SubmitVertexRequest[];
}

/** 202 for one vertex: accepted (look it up with `GET /v1/vertices/:hash`). */
export interface SubmitVertexResponse {
  readonly hash: string;
  readonly status: 'accepted';
}

/** 202 for several: the hashes of the accepted ones, and why the others were refused. */
export interface SubmitVerticesResponse {
  /** Every vertex's hash, in request order (refused ones included). */
  readonly hashes: readonly string[];
  /** Every vertex's validThrough (the last sequence at which it may be final), in request order. */
  readonly validThrough: readonly number[];
  readonly accepted: number;
  readonly rejected: readonly { readonly index: number; readonly code: string; readonly message: string }[];
}

/** `GET /v1/vertices/:hash` while the vertex waits for finality at this node. */
export interface PendingVertexResponse {
  readonly hash: string;
  readonly status: 'pending';
}

/**
 * `GET /v1/vertices/:hash` once final: where it is, and the commit certificate that proves it.
 * A client checks the proof with the validators' public keys alone (`verifyFinalVertex`).
 */
export interface FinalVertexResponse extends FinalVertexLocation {
  /** The hashes of every vertex of the batch, in order: the batch digest commits to them. */
  readonly batch: readonly string[];
  /** The commit certificate: a quorum of COMMITs, each the wire encoding in base64. */
  readonly commits: readonly string[];
}

/** One epoch of `GET /v1/epochs`. */
export interface EpochEntry {
  readonly epoch: number;
  /** Its first sequence. */
  readonly start: number;
  /** Its last sequence, once a request closed it; null while it is open. */
  readonly end: number | null;
  /**
   * For an epoch after 0: the vertex of the request that opened it (payload in base64), and the
   * proof that it is final, certified by the epoch before. Both null when this node no longer
   * holds that batch (pruned below `logRetention`: ask another node).
   */
  readonly opening?: {
    readonly payload: string;
    readonly parents: readonly string[];
    readonly validThrough: number;
  } | null;
  readonly proof?: FinalVertexResponse | null;
}

/**
 * `GET /v1/epochs`: every epoch the node knows, oldest first. A client that trusts the cluster
 * file follows it link by link (`EpochChain`), checking each opening request's proof with the
 * keys of the epoch before and its operator signatures with that epoch's operators.
 */
export interface EpochsResponse {
  readonly clusterId: string;
  readonly epochs: readonly EpochEntry[];
}

/**
 * Where a final vertex is: `GET /v1/vertices/:hash?proof=0` answers this much, without the
 * batch's hashes and the commit certificate (trust the node, or check one lookup per batch).
 */
export interface FinalVertexLocation {
  readonly hash: string;
  readonly status: 'final';
  readonly clusterId: string;
  /** The sequence of the batch it was finalized in. */
  readonly sequence: number;
  /** Its index in that batch (`batch[index] === hash`). */
  readonly index: number;
  /** The view the batch was committed in. */
  readonly view: number;
  /** The digest of the batch, which the COMMITs sign. */
  readonly batchDigest: string;
  /** The chain digest after the batch: the same at every replica. */
  readonly chainDigest: string;
}

/**
 * `GET /v1/vertices/:hash` for a vertex this node accepted and then gave up on (it stopped
 * before the vertex was final, or the replica refused its batch): submit it again.
 */
export interface RejectedVertexResponse {
  readonly hash: string;
  readonly status: 'rejected';
  readonly code: string;
  readonly message: string;
}

/** What `GET /v1/vertices/:hash` answers: pending, final (with its proof) or rejected. */
export type VertexResponse = PendingVertexResponse | FinalVertexResponse | RejectedVertexResponse;

/**
 * One `finalized` server-sent event of `GET /v1/events`. Its SSE `id:` is its place,
 * `<sequence>.<position>`: send it back as `Last-Event-ID` to resume after it. A stream that
 * cannot go on (the place was pruned while it was replayed) ends with an `error` event whose
 * data is `{ "code", "message" }`.
 */
export interface FinalizedEvent {
  readonly hash: string;
  readonly sequence: number;
  /** Index among the vertices delivered at `sequence` (a vertex finalized before is skipped). */
  readonly position: number;
  readonly view: number;
  readonly payloadBytes: number;
  /** The payload in base64, only when the stream was opened with `?payload=1`. */
  readonly payload?: string;
}

/**
 * `GET /readyz`: 200 with `ready: true` while the engine runs, the node takes submissions and
 * it sees a quorum; 503 with `ready: false` and the `reason` otherwise. (`GET /healthz`, the
 * liveness check, answers 200 whenever the engine runs, quorum or not.)
 */
export interface ReadyResponse {
  readonly ready: boolean;
  /** The engine's lifecycle state. */
  readonly state: string;
  readonly validatorsReachable: number;
  readonly validators: number;
  readonly quorum: number;
  /** Why the node is not ready (`no quorum: 2 of 4 validators reachable, 3 needed`). */
  readonly reason?: string;
}

/** One validator whose key two processes use, as `GET /v1/status` reports it. */
export interface DuplicateIdentityStatus {
  readonly peer: string;
  /** Where the process that keeps the link connects from (`ip:port`). */
  readonly address: string;
  /** Where the other one connects from. */
  readonly duplicateAddress: string;
  /** Detections since this node started. */
  readonly detections: number;
  /** How much longer the duplicate is refused (0: no longer). */
  readonly refusedForSeconds: number;
  readonly secondsSinceDetected: number;
}

/** `GET /v1/status`. */
export interface StatusResponse {
  readonly nodeId: string;
  readonly clusterId: string;
  /** The engine's lifecycle state: 'running' once it serves. */
  readonly state: string;
  /**
   * The epoch this node votes in; `validators` are that epoch's, in leader order. Absent from
   * nodes older than epochs (read it as 0).
   */
  readonly epoch?: number;
  /**
   * Whether this node is a validator of `epoch`: false once a reconfiguration removed it (it
   * votes no more). Absent from nodes older than epochs (read it as true).
   */
  readonly member?: boolean;
  /**
   * Whether it is joining: not a validator of `epoch`, but of a later one it fetches the history
   * up to (node config `chain`). Absent on older nodes.
   */
  readonly learning?: boolean;
  readonly view: number;
  readonly viewActive: boolean;
  readonly leader: string;
  readonly isLeader: boolean;
  /** The highest sequence finalized here. */
  readonly sequence: number;
  /** The highest sequence finalized and durable in the store (at most `sequence`). */
  readonly durableSequence: number;
  /**
   * The chain digest after `durableSequence`: it commits to every batch finalized up to it, so
   * two nodes with the same durable sequence and chain digest hold the same history.
   */
  readonly chainDigest: string;
  readonly stableCheckpoint: number;
  readonly pendingProposals: number;
  /**
   * How far ahead a vertex's validThrough may lie past `sequence` (a client choosing its own
   * stays well inside it: a node behind the others measures from its own sequence), and how many
   * sequences of finalized hashes every replica remembers so that none is final twice.
   */
  readonly dedupHorizonSequences: number;
  /** Vertex hashes this node remembers for that now (at most the horizon times a batch). */
  readonly deliveredRemembered: number;
  /** Other validators that hold a vertex durably before this node acknowledges it (202). */
  readonly acknowledgeCopies: number;
  readonly validators: readonly string[];
  /** f and the quorum of this cluster. */
  readonly faultTolerance: number;
  readonly quorum: number;
  /** The validators this node has a working connection to. */
  readonly peers: readonly string[];
  /** Validators this node reaches: itself and `peers`. */
  readonly validatorsReachable: number;
  /**
   * Whether `validatorsReachable` is at least `quorum`. Without a quorum nothing can be
   * finalized: vertices are accepted (202) and wait.
   */
  readonly quorumReachable: boolean;
  /**
   * Validators whose key this node saw two live processes use (an instance replaced by another
   * connected again): the one seen later is refused for `refusedForSeconds`. Stop one of them.
   */
  readonly duplicateIdentities: readonly DuplicateIdentityStatus[];
  /** Each validator's reputation, 0 to 1. */
  readonly reputations: Readonly<Record<string, number>>;
  readonly banned: readonly string[];
  /** Provable violations this node holds (see `GET /v1/evidence`). */
  readonly evidence: number;
  readonly uptimeSeconds: number;
  /**
   * Vertices finalized here since the process started (`consensus_vertices_finalized_total`):
   * the difference between two answers over the time between them is the throughput.
   */
  readonly finalizedTotal: number;
  /** Finality of the vertices submitted to this node, over a recent window. */
  readonly finality: FinalityQuantiles;
  /** The latest view changes this node saw (at most 16), oldest first. */
  readonly recentViewChanges: readonly ViewChangeRecord[];
  /** Each validator's progress as this node sees it from the signed messages it holds, in validator order. */
  readonly replicas: readonly ReplicaProgress[];
}

/**
 * Finality quantiles (time from submission to this node until the vertex was final here), in
 * seconds. They are estimated the way Prometheus's `histogram_quantile` does, by linear
 * interpolation within the buckets of the `consensus_finality_time_seconds` histogram, over the
 * observations between an earlier snapshot of its buckets and now; so they are only as fine as
 * the buckets (10 ms up to 5 s), and a quantile beyond the last bucket reads as 5 s.
 */
export interface FinalityQuantiles {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly p999: number | null;
  /** Vertices the quantiles are over; the quantiles are null when it is 0. */
  readonly count: number;
  /** The window the quantiles cover, in seconds (about 10: less just after the node started, more when nobody asked for a while). */
  readonly windowSeconds: number;
}

/** One view change a node saw: started here (it gave up on the leader), entered, or both. */
export interface ViewChangeRecord {
  /** The view changed to. */
  readonly view: number;
  /** Its leader. */
  readonly leader: string;
  /** Why this node gave up on the previous view, or null if it followed the others into this one. */
  readonly reason: string | null;
  /** When this node started changing to the view (ISO 8601), or null if it did not. */
  readonly startedAt: string | null;
  /** When this node entered the view (ISO 8601), or null while the change is under way or if it moved past it. */
  readonly enteredAt: string | null;
}

/**
 * One validator's progress as the answering node sees it, from the signed messages it holds: a
 * lower bound (the node drops its log below the stable checkpoint, and hears nothing from a peer
 * it is cut off from).
 */
export interface ReplicaProgress {
  readonly nodeId: string;
  /** The highest sequence for which the node holds the validator's COMMIT, or 0 if it holds none. */
  readonly commitSequence: number;
  /** The highest checkpoint the validator signed that the node holds, or 0. */
  readonly checkpoint: number;
  /** The highest view of the validator's messages the node holds, or null if none. */
  readonly view: number | null;
}

/** A provable violation in JSON; see `evidence.ts`. */
export type EvidenceJson =
  | {
      readonly kind: 'equivocation';
      readonly clusterId: string;
      readonly replica: number;
      readonly nodeId: string;
      /** The two conflicting signed messages, wire encoding in base64. */
      readonly first: string;
      readonly second: string;
    }
  | {
      readonly kind: 'invalid-signature';
      readonly clusterId: string;
      readonly replica: number;
      readonly nodeId: string;
      /** The message whose outer signature is valid and a nested one is not. */
      readonly message: string;
    };

/** `GET /v1/evidence`. */
export interface EvidenceResponse {
  readonly evidence: readonly EvidenceJson[];
}

/** Every error body is `{ "error": { "code", "message" } }`. */
export interface ErrorResponse {
  readonly error: { readonly code: ApiErrorCode; readonly message: string };
}

/** Every `error.code` the API answers with, and the HTTP status that goes with it. */
export const API_ERRORS = Object.freeze({
  /** 400: the body is not JSON, or not the shape the route takes. */
  'bad-request': 400,
  /** 400: a payload that is not base64, or a hash or parent that is not 64 hex digits. */
  'bad-encoding': 400,
  /** 400: the vertex's parents or hash do not make a valid vertex. */
  invalid: 400,
  /** 400: a backup's `out` is not an absolute path. */
  'backup-path-not-absolute': 400,
  /** 400: a backup's `out` is under /proc, /sys or /dev (as written or once its links are resolved). */
  'backup-path-system': 400,
  /** 400: a backup's `out` is inside the node's data directory (as written or once resolved). */
  'backup-path-in-data-dir': 400,
  /** 400: a backup's `out` is a directory that holds something. */
  'backup-path-not-empty': 400,
  /** 400: a backup's `out`, or a parent of it, is not a directory. */
  'backup-path-not-directory': 400,
  /** 400: the file system refused a backup's `out` (permissions, length, a dangling link). */
  'backup-path-unusable': 400,
  /** 403: an admin route called from a non-loopback address. */
  forbidden: 403,
  /** 404: no such route, or a vertex this node knows nothing of. */
  'not-found': 404,
  /** 405: the route exists with another method. */
  'method-not-allowed': 405,
  /** 409: the vertex was finalized so long ago that its place is no longer known here. */
  duplicate: 409,
  /**
   * 410: the vertex's validThrough is final and it is not: it can never be final. Its payload may
   * be submitted again (a new vertex, with a new validThrough) without risk of a double.
   */
  expired: 410,
  /**
   * 410: an event stream asked to resume (`Last-Event-ID`, `?from=`) at a sequence this node no
   * longer holds (it keeps `logRetention` finalized sequences); the message names the oldest it
   * holds.
   */
  pruned: 410,
  /** 409: another backup is being taken; try again when it is done. */
  'backup-running': 409,
  /** 413: the body exceeds the node's limit, or the vertex can never fit in a batch. */
  'too-large': 413,
  /** 415: a body type other than application/json or application/octet-stream. */
  'unsupported-media-type': 415,
  /** 429: the node holds as many pending vertices as it may; retry after Retry-After seconds. */
  full: 429,
  /** 500: the node failed to do what it should have (see its log). */
  internal: 500,
  /** 503: the node is starting, stopping or halted, or has no room for another event stream. */
  unavailable: 503,
  /** 503: the file system did not answer in time while a backup's `out` was checked; no backup was taken. */
  'backup-timeout': 503,
} as const);

/** The `code` of an API error answer; {@link API_ERRORS} gives its HTTP status. */
export type ApiErrorCode = keyof typeof API_ERRORS;

const HEX_DIGEST = /^[0-9a-f]{64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether `text` is a digest in the API's form: 64 lowercase hex digits. */
export function isHexDigest(text: unknown): text is string {
  return typeof text === 'string' && HEX_DIGEST.test(text);
}

/** The bytes of a 64-hex-digit digest (lowercase or uppercase), or null. */
export function digestFromHex(text: unknown): Uint8Array | null {
  if (typeof text !== 'string' || !HEX_DIGEST.test(text.toLowerCase())) return null;
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** The bytes of strict standard base64 (padding required, no whitespace), or null. */
export function bytesFromBase64(text: unknown): Uint8Array | null {
  // Buffer.from(..., 'base64') skips characters it does not know; an API should refuse them.
  if (typeof text !== 'string' || text.length % 4 !== 0 || !BASE64.test(text)) return null;
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Standard base64 of `bytes`. */
export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
