/**
 * The node's HTTP API (node:http, no framework): submit vertices, look them up with their commit
 * certificates, stream finalized vertices, status, evidence, metrics and health. The shapes are
 * those of `src/client/api.ts`; every error is `{ "error": { "code", "message" } }` with the
 * status `API_ERRORS` gives its code.
 *
 * Every input is bounded: request bodies (`http.maxBodyBytes`, refused with 413 whether the
 * Content-Length says so up front or the body turns out longer), vertices per request, pending
 * vertices (the engine's `pendingProposalsMax`, refused with 429 and Retry-After), event-stream
 * clients and what each may leave unread (`events.ts`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import {
  API_ERRORS,
  type ApiErrorCode,
  base64,
  bytesFromBase64,
  digestFromHex,
  type FinalVertexResponse,
  type ReadyResponse,
  type StatusResponse,
  type SubmitVerticesResponse,
} from '../client/api.ts';
import { evidenceToJson } from '../client/evidence.ts';
import { toHex } from '../crypto/index.ts';
import { type BftEngine, ProposalRejectedError, type ProposalRejectionCode } from '../engine/index.ts';
import { createVertex, genesisDigest, type Vertex } from '../protocol/index.ts';
import { StoreCorruptError } from '../storage/errors.ts';
import type { LmdbStore } from '../storage/lmdb.ts';
import type { DuplicateIdentityState } from '../transport/duplicate-identity.ts';
import { encodeMessage } from '../wire/index.ts';
import { BackupTargetError, type BackupTargetErrorCode, checkBackupTargetIsolated } from './backup-target.ts';
import type { NodeSettings } from './config.ts';
import { type EventHub, resumePoint } from './events.ts';
import { exemptFromIdleTimeout, type HttpLimits } from './http-limits.ts';
import type { Logger } from './log.ts';
import { describeQuorum, type QuorumReading } from './quorum-watch.ts';
import { StatusHistory } from './status-history.ts';
import { StatusPage } from './status-page.ts';

/** What the API serves from. */
export interface HttpApiContext {
  readonly engine: BftEngine;
  readonly store: LmdbStore;
  readonly connectedPeers: () => readonly string[];
  /** The store failed a record's check as it was read: the node stops (see `CretoaiNode`). */
  readonly storeDamaged: (error: StoreCorruptError) => void;
  /** Validators whose key two live processes were seen using (`duplicate-identity.ts`). */
  readonly duplicateIdentities: () => readonly DuplicateIdentityState[];
  /** Whether this node sees a quorum now (`quorum-watch.ts`). */
  readonly quorum: () => QuorumReading;
  readonly settings: NodeSettings;
  readonly logger: Logger;
  readonly events: EventHub;
  readonly registry: Registry;
  /** Connection caps and the accounting of client-caused errors (`http-limits.ts`). */
  readonly limits: HttpLimits;
}

/** An error answer: its code decides the status. */
class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  /** The body was not read to its end: close the connection after answering. */
  readonly closeConnection: boolean;

  constructor(
    code: ApiErrorCode,
    message: string,
    options: { headers?: Record<string, string>; closeConnection?: boolean } = {},
  ) {
    super(message);
    this.code = code;
    this.headers = options.headers ?? {};
    this.closeConnection = options.closeConnection ?? false;
  }
}

/** How an engine refusal is answered. */
const REJECTION_ANSWERS: { readonly [K in ProposalRejectionCode]: ApiErrorCode } = Object.freeze({
  full: 'full',
  stopped: 'unavailable',
  oversized: 'too-large',
  invalid: 'invalid',
  duplicate: 'duplicate',
  expired: 'expired',
});

/** How a refused backup target is answered. */
const BACKUP_TARGET_ANSWERS: { readonly [K in BackupTargetErrorCode]: ApiErrorCode } = Object.freeze({
  'not-absolute': 'backup-path-not-absolute',
  system: 'backup-path-system',
  'inside-data-dir': 'backup-path-in-data-dir',
  'not-empty': 'backup-path-not-empty',
  'not-directory': 'backup-path-not-directory',
  unusable: 'backup-path-unusable',
  timeout: 'backup-timeout',
});

/** Error codes that only mean the client went away before it was answered. */
const CLIENT_GONE_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
]);

/** Store errors that mean bytes read back are damaged: a node that meets one stops. */
const DAMAGED_BYTES: ReadonlySet<StoreCorruptError['code']> = new Set(['checksum', 'malformed', 'lmdb']);

/** Vertices refused after they were accepted (the engine stopped first), remembered for lookups. */
const REJECTED_REMEMBERED_MAX = 16_384;
/** Finalized batches whose hashes and certificate are kept ready for lookups. */
const PROOF_CACHE_MAX = 256;
/** A body this much over the limit is not even read to its end: the connection is closed. */
const DISCARD_BYTES_MAX = 16 << 20;

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

interface BatchProof {
  readonly batch: readonly string[];
  readonly commits: readonly string[];
}

export class HttpApi {
  readonly #context: HttpApiContext;
  readonly #rejected = new Map<string, { code: string; message: string }>();
  readonly #proofs = new Map<number, BatchProof>();
  readonly #requests: Counter<'route' | 'code'>;
  readonly #history: StatusHistory;
  readonly #page = new StatusPage();
  #accepting = true;
  /** A backup is being taken: one at a time, since each holds a child process and a copy. */
  #backupRunning = false;

  constructor(context: HttpApiContext) {
    this.#context = context;
    this.#history = new StatusHistory({ engine: context.engine, registry: context.registry });
    this.#requests = new Counter({
      name: 'cretoai_http_requests_total',
      help: 'HTTP API requests answered, by route and status code',
      labelNames: ['route', 'code'],
      registers: [context.registry],
    });
    new Counter({
      name: 'cretoai_event_clients_dropped_total',
      help: 'Event-stream clients disconnected because they read slower than vertices were finalized',
      registers: [context.registry],
      collect() {
        this.reset();
        this.inc(context.events.dropped);
      },
    });
  }

  /** Refuses new submissions (503) from now on: the node is shutting down. */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** The request handler for `http.createServer`. */
  handle = (request: IncomingMessage, response: ServerResponse): void => {
    let route = 'unknown';
    const started = this.#route(request, response, (name) => {
      route = name;
    });
    let answered = true;
    started
      .catch((error: unknown) => {
        if (clientGone(request, response, error)) {
          // An aborted body or a closed connection: nobody to answer. Clients can do this at
          // will, so it is counted and logged rate-limited, never one line each.
          answered = false;
          this.#context.limits.requestAborted(request, {
            route,
            address: request.socket.remoteAddress,
            code: (error as NodeJS.ErrnoException | null)?.code,
          });
          return;
        }
        if (error instanceof ApiError) {
          this.#error(response, error);
          return;
        }
        if (error instanceof StoreCorruptError && DAMAGED_BYTES.has(error.code)) {
          // The damaged record is not served; the node stops once this answer is out. (A
          // reference that does not resolve, 'inconsistent', is answered 500 like any other
          // failure: the background scrub judges those in one consistent snapshot.)
          response.once('close', () => this.#context.storeDamaged(error));
          this.#error(
            response,
            new ApiError(
              'internal',
              "this node's store is damaged and the node is stopping; ask another node",
            ),
          );
          return;
        }
        // A failure of the node's own, but one a client may be able to repeat: rate-limited too.
        this.#context.limits.log.record(
          'http-handler-failed',
          {
            code: (error as { code?: string } | null)?.code ?? 'error',
            address: request.socket.remoteAddress,
          },
          { method: request.method, url: request.url, error },
        );
        this.#error(response, new ApiError('internal', 'the node failed to answer; see its log'));
      })
      .finally(() => {
        if (route !== 'events' && answered) this.#requests.inc({ route, code: String(response.statusCode) });
      });
  };

  async #route(
    request: IncomingMessage,
    response: ServerResponse,
    name: (route: string) => void,
  ): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://node');
    } catch {
      throw new ApiError('bad-request', 'the request target is not a URL path');
    }
    const parts = url.pathname.split('/').filter((part) => part.length > 0);
    const method = request.method ?? 'GET';
    const only = (allowed: string): void => {
      if (method !== allowed) {
        throw new ApiError('method-not-allowed', `${url.pathname} takes ${allowed}`, {
          headers: { allow: allowed },
        });
      }
    };
    const joined = parts.join('/');
    if (this.#page.has(url.pathname)) {
      name('status-page');
      only('GET');
      return this.#page.serve(url.pathname, response).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        throw new ApiError('not-found', 'the status page files are not installed next to the node');
      });
    }
    if (joined === 'v1/vertices') {
      name('submit');
      only('POST');
      return this.#submit(request, response, url);
    }
    if (parts.length === 3 && parts[0] === 'v1' && parts[1] === 'vertices') {
      name('vertex');
      only('GET');
      return this.#vertex(response, parts[2]!);
    }
    switch (joined) {
      case 'v1/events':
        name('events');
        only('GET');
        return this.#events(request, response, url);
      case 'v1/status':
        name('status');
        only('GET');
        return this.#json(response, 200, await this.status());
      case 'v1/evidence': {
        name('evidence');
        only('GET');
        const { clusterId, validators } = this.#context.engine.config;
        const evidence = this.#context.engine
          .evidence()
          .map((item) => evidenceToJson(item, clusterId, validators));
        return this.#json(response, 200, { evidence });
      }
      case 'v1/admin/backup':
        name('backup');
        only('POST');
        return this.#backup(request, response);
      case 'metrics': {
        name('metrics');
        only('GET');
        const registry = this.#context.registry;
        const text = await registry.metrics();
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(text);
        return;
      }
      case 'healthz': {
        name('healthz');
        only('GET');
        const state = this.#context.engine.status().state;
        return this.#json(response, state === 'running' && this.#accepting ? 200 : 503, { state });
      }
      case 'readyz': {
        name('readyz');
        only('GET');
        const answer = this.ready();
        return this.#json(response, answer.ready ? 200 : 503, answer);
      }
      default:
        throw new ApiError('not-found', `no route ${url.pathname}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Submitting

  async #submit(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    if (!this.#accepting) throw new ApiError('unavailable', 'the node is shutting down');
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json' && type !== 'application/octet-stream') {
      throw new ApiError(
        'unsupported-media-type',
        'send application/json ({ "payload": base64, "parents": [hex] }) or application/octet-stream (the payload)',
      );
    }
    const body = await this.#readBody(request);
    if (type === 'application/octet-stream') {
      const parents = url.searchParams.get('parents');
      const validThrough = url.searchParams.get('validThrough');
      const vertex = this.#vertexOf(
        body,
        parents === null || parents === '' ? [] : parents.split(','),
        validThrough === null ? undefined : Number(validThrough),
        '',
      );
      return this.#submitOne(response, vertex);
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ApiError('bad-request', 'the body is not JSON');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ApiError('bad-request', 'the body must be a JSON object');
    }
    const object = json as Record<string, unknown>;
    if (object.vertices !== undefined) {
      if (!Array.isArray(object.vertices) || object.vertices.length === 0) {
        throw new ApiError('bad-request', '"vertices" must be a non-empty list');
      }
      const max = this.#context.settings.http.submitVerticesMax;
      if (object.vertices.length > max) {
        throw new ApiError('too-large', `${object.vertices.length} vertices in one request; at most ${max}`);
      }
      const vertices = object.vertices.map((entry, i) => this.#vertexFromJson(entry, `vertices[${i}]`));
      return this.#submitMany(response, vertices);
    }
    return this.#submitOne(response, this.#vertexFromJson(object, ''));
  }

  #vertexFromJson(entry: unknown, at: string): Vertex {
    const prefix = at === '' ? '' : `${at}.`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new ApiError('bad-request', `${at || 'the body'} must be an object with "payload"`);
    }
    const { payload, parents, validThrough } = entry as Record<string, unknown>;
    if (typeof payload !== 'string')
      throw new ApiError('bad-request', `${prefix}payload must be a base64 string`);
    const bytes = bytesFromBase64(payload);
    if (bytes === null)
      throw new ApiError('bad-encoding', `${prefix}payload is not standard base64 (with padding)`);
    if (parents !== undefined && !Array.isArray(parents)) {
      throw new ApiError('bad-request', `${prefix}parents must be a list of 64-hex-digit hashes`);
    }
    return this.#vertexOf(bytes, parents ?? [], validThrough, prefix);
  }

  /**
   * The vertex of `payload` and `parents`, valid through `validThrough` when the client chose it
   * (it must, to compute the hash itself or to submit one vertex to several nodes), else for
   * as long as the engine allows.
   */
  #vertexOf(payload: Uint8Array, parents: readonly unknown[], validThrough: unknown, prefix: string): Vertex {
    const { engine } = this.#context;
    const max = engine.config.vertexParentsMax;
    if (parents.length > max)
      throw new ApiError('too-large', `${parents.length} ${prefix}parents; at most ${max}`);
    const digests = parents.map((parent, i) => {
      const digest = digestFromHex(parent);
      if (digest === null)
        throw new ApiError('bad-encoding', `${prefix}parents[${i}] is not a 64-hex-digit hash`);
      return digest;
    });
    if (validThrough === undefined) return engine.createVertex(payload, digests);
    if (typeof validThrough !== 'number' || !Number.isSafeInteger(validThrough) || validThrough < 1)
      throw new ApiError(
        'bad-request',
        `${prefix}validThrough must be a sequence number (a positive integer)`,
      );
    return createVertex(payload, { parents: digests, validThrough });
  }

  async #submitOne(response: ServerResponse, vertex: Vertex): Promise<void> {
    const [refusal] = await this.#propose([vertex]);
    const hash = toHex(vertex.hash);
    if (refusal !== null && refusal !== undefined) {
      throw this.#rejection(refusal);
    }
    this.#json(
      response,
      202,
      { hash, status: 'accepted', validThrough: vertex.validThrough },
      { location: `/v1/vertices/${hash}` },
    );
  }

  async #submitMany(response: ServerResponse, vertices: readonly Vertex[]): Promise<void> {
    const refusals = await this.#propose(vertices);
    const rejected: { index: number; code: string; message: string }[] = [];
    for (const [index, refusal] of refusals.entries()) {
      if (refusal !== null)
        rejected.push({ index, code: REJECTION_ANSWERS[refusal.code], message: refusal.message });
    }
    const body: SubmitVerticesResponse = {
      hashes: vertices.map((vertex) => toHex(vertex.hash)),
      validThrough: vertices.map((vertex) => vertex.validThrough),
      accepted: vertices.length - rejected.length,
      rejected,
    };
    const full = rejected.some((entry) => entry.code === 'full');
    const headers: Record<string, string> = full
      ? { 'retry-after': String(this.#context.settings.http.retryAfterSeconds) }
      : {};
    const allFull =
      full && rejected.length === vertices.length && rejected.every((entry) => entry.code === 'full');
    this.#json(response, allFull ? 429 : 202, body, headers);
  }

  /**
   * Proposes every vertex and waits until the engine holds each durably (its acknowledgment
   * then survives a crash of this node: the restarted node proposes it again) or refused it;
   * returns, per vertex, the refusal or null. A vertex given up on later (the node stopped, or it
   * expired) is remembered for lookups.
   */
  async #propose(vertices: readonly Vertex[]): Promise<(ProposalRejectedError | null)[]> {
    const { engine, logger } = this.#context;
    const outcomes = await Promise.allSettled(vertices.map((vertex) => engine.accept(vertex)));
    return outcomes.map((outcome, i) => {
      const key = toHex(vertices[i]!.hash);
      if (outcome.status === 'rejected') {
        if (outcome.reason instanceof ProposalRejectedError) return outcome.reason;
        logger.error('propose-failed', { hash: key, error: outcome.reason });
        return new ProposalRejectedError('stopped', 'the node failed to take the vertex; see its log');
      }
      outcome.value.final.catch((error: unknown) => {
        if (!(error instanceof ProposalRejectedError)) return;
        this.#rejected.set(key, { code: REJECTION_ANSWERS[error.code], message: error.message });
        if (this.#rejected.size > REJECTED_REMEMBERED_MAX) {
          this.#rejected.delete(this.#rejected.keys().next().value!);
        }
      });
      return null;
    });
  }

  #rejection(refusal: ProposalRejectedError): ApiError {
    const code = REJECTION_ANSWERS[refusal.code];
    const headers: Record<string, string> =
      code === 'full' ? { 'retry-after': String(this.#context.settings.http.retryAfterSeconds) } : {};
    return new ApiError(code, refusal.message, { headers });
  }

  // -------------------------------------------------------------------------------------------
  // Looking up

  #vertex(response: ServerResponse, hashText: string): void {
    const digest = digestFromHex(hashText);
    if (digest === null) throw new ApiError('bad-encoding', `${hashText} is not a 64-hex-digit hash`);
    const hash = toHex(digest);
    const found = this.#context.store.vertex(digest);
    if (found !== undefined) {
      const proof = this.#proofOf(found.sequence);
      const answer: FinalVertexResponse = {
        hash,
        status: 'final',
        clusterId: this.#context.engine.config.clusterId,
        sequence: found.sequence,
        index: found.index,
        view: found.view,
        batchDigest: toHex(found.batchDigest),
        chainDigest: toHex(found.chainDigest),
        batch: proof.batch,
        commits: proof.commits,
      };
      this.#json(response, 200, answer);
      return;
    }
    if (this.#context.engine.holds(hash)) {
      this.#json(response, 200, { hash, status: 'pending' });
      return;
    }
    const rejected = this.#rejected.get(hash);
    if (rejected !== undefined) {
      this.#json(response, 200, { hash, status: 'rejected', ...rejected });
      return;
    }
    throw new ApiError(
      'not-found',
      `this node knows of no vertex ${hash} (not submitted here, not final here)`,
    );
  }

  /** The batch's hashes and certificate at `sequence`, from a small cache or the store. */
  #proofOf(sequence: number): BatchProof {
    const cached = this.#proofs.get(sequence);
    if (cached !== undefined) return cached;
    const record = this.#context.store.finalizedAt(sequence);
    if (record === undefined) throw new ApiError('internal', `the batch at sequence ${sequence} is gone`);
    const proof: BatchProof = {
      batch: record.batch.map((vertex) => toHex(vertex.hash)),
      commits: record.commits.map((commit) => base64(encodeMessage(commit))),
    };
    this.#proofs.set(sequence, proof);
    if (this.#proofs.size > PROOF_CACHE_MAX) this.#proofs.delete(this.#proofs.keys().next().value!);
    return proof;
  }

  // -------------------------------------------------------------------------------------------
  // Streams, status, admin

  #events(request: IncomingMessage, response: ServerResponse, url: URL): void {
    const hub = this.#context.events;
    if (!hub.hasRoom()) throw new ApiError('unavailable', 'no room for another event stream; try later');
    // A stream is quiet between events (a heartbeat every 15 s); it is bounded by
    // `eventClientsMax` and its unread bytes instead of by the idle timeout.
    const lastEventId = request.headers['last-event-id'];
    if (Array.isArray(lastEventId)) throw new ApiError('bad-request', 'give one Last-Event-ID header');
    const after = resumePoint(lastEventId, url.searchParams.get('from'));
    if (after !== null && 'error' in after) throw new ApiError('bad-request', after.error);
    const gone = after === null ? null : hub.unavailable(after);
    if (gone !== null) {
      throw new ApiError(
        'pruned',
        `sequence ${gone.sequence} is no longer held here (the node keeps logRetention finalized sequences)` +
          (gone.oldest === null ? '' : `; the oldest it holds is ${gone.oldest}`),
      );
    }
    exemptFromIdleTimeout(request);
    const payload = url.searchParams.get('payload');
    hub.add(request, response, { payload: payload === '1' || payload === 'true', after });
  }

  /**
   * What `GET /readyz` answers: ready while the engine runs, submissions are taken and a quorum
   * is reachable. A node without a quorum accepts vertices that cannot become final until it is
   * back, so a load balancer should send clients elsewhere, while the liveness check
   * (`/healthz`) stays up: restarting the node would not bring its peers back.
   */
  ready(): ReadyResponse {
    const state = this.#context.engine.status().state;
    const quorum = this.#context.quorum();
    const reason =
      state !== 'running'
        ? `the engine is ${state}`
        : !this.#accepting
          ? 'the node is shutting down'
          : !quorum.available
            ? describeQuorum(quorum)
            : undefined;
    return {
      ready: reason === undefined,
      state,
      validatorsReachable: quorum.reachable,
      validators: quorum.validators,
      quorum: quorum.needed,
      ...(reason === undefined ? {} : { reason }),
    };
  }

  /** What `GET /v1/status` answers. */
  async status(): Promise<StatusResponse> {
    const { engine } = this.#context;
    const status = engine.status();
    const { replica, validators, clusterId } = engine.config;
    const { store } = this.#context;
    const durableSequence = store.lastFinalized;
    const quorum = this.#context.quorum();
    const chainDigest =
      durableSequence === 0 ? genesisDigest(clusterId) : store.finalizedAt(durableSequence)!.chainDigest;
    return {
      nodeId: status.nodeId,
      clusterId,
      state: status.state,
      view: status.view,
      viewActive: status.viewActive,
      leader: status.leader,
      isLeader: status.isLeader,
      sequence: status.sequence,
      durableSequence,
      chainDigest: toHex(chainDigest),
      stableCheckpoint: status.stableCheckpoint,
      pendingProposals: status.pendingProposals,
      dedupHorizonSequences: replica.dedupHorizonSequences,
      deliveredRemembered: status.deliveredRemembered,
      validators,
      faultTolerance: replica.faultTolerance,
      quorum: replica.quorum,
      peers: [...this.#context.connectedPeers()].sort(),
      validatorsReachable: quorum.reachable,
      quorumReachable: quorum.available,
      duplicateIdentities: this.#context.duplicateIdentities().map((state) => ({
        peer: state.peer,
        address: addressOf(state.incumbent),
        duplicateAddress: addressOf(state.duplicate),
        detections: state.detections,
        refusedForSeconds: Math.ceil(state.refusedForMs / 1000),
        secondsSinceDetected: Math.floor(state.sinceMs / 1000),
      })),
      reputations: status.reputations,
      banned: status.banned,
      evidence: engine.evidence().length,
      uptimeSeconds: Math.round(process.uptime()),
      ...(await this.#history.sample()),
      recentViewChanges: this.#history.recentViewChanges(),
      replicas: status.replicas,
    };
  }

  /**
   * `POST /v1/admin/backup`: a consistent snapshot of the store to `out`, which must be an
   * absolute path to a new or empty directory outside the data directory and outside /proc,
   * /sys and /dev (`backup-target.ts`). The path is checked, and its directories made, in a
   * child process that is killed if the file system does not answer within
   * `http.backupCheckTimeoutMs` (503): a request's path never makes the node wait on a file
   * system call. One backup at a time (409).
   */
  async #backup(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { settings, store, logger } = this.#context;
    if (!settings.http.admin) throw new ApiError('not-found', 'admin routes are off (http.admin)');
    if (!LOOPBACK.test(request.socket.remoteAddress ?? '')) {
      throw new ApiError('forbidden', 'admin routes answer loopback callers only');
    }
    if (!this.#accepting) throw new ApiError('unavailable', 'the node is shutting down');
    let json: unknown;
    try {
      json = JSON.parse((await this.#readBody(request)).toString('utf8'));
    } catch (error) {
      if (error instanceof ApiError || clientGone(request, response, error)) throw error;
      throw new ApiError('bad-request', 'the body must be JSON: { "out": "/absolute/directory" }');
    }
    const out = (json as { out?: unknown } | null)?.out;
    if (typeof out !== 'string') {
      throw new ApiError(
        'bad-request',
        '"out" must be a string: the absolute path of a new or empty directory',
      );
    }
    if (this.#backupRunning) {
      throw new ApiError('backup-running', 'another backup is being taken; try again when it is done');
    }
    this.#backupRunning = true;
    try {
      // Checking the path and copying a large store take a while with nothing sent.
      exemptFromIdleTimeout(request);
      const target = await checkBackupTargetIsolated(
        { out, dataDir: settings.dataDir, create: true },
        { timeoutMs: settings.http.backupCheckTimeoutMs },
      );
      const manifest = await store.backup(target);
      logger.info('backup-written', { out, target, lastFinalized: manifest.lastFinalized });
      this.#json(response, 200, { out, ...manifest });
    } catch (error) {
      if (error instanceof BackupTargetError)
        throw new ApiError(BACKUP_TARGET_ANSWERS[error.code], error.message);
      // The directory filled up between the check and the copy.
      if ((error as Error).name === 'StoreInUseError')
        throw new ApiError('backup-path-not-empty', (error as Error).message);
      throw error;
    } finally {
      this.#backupRunning = false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Bodies and answers

  /** Reads the body up to `http.maxBodyBytes`; a longer one is refused with 413. */
  #readBody(request: IncomingMessage): Promise<Buffer> {
    const max = this.#context.settings.http.maxBodyBytes;
    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    if (Number.isFinite(declared) && declared > max + DISCARD_BYTES_MAX) {
      request.resume();
      return Promise.reject(
        new ApiError('too-large', `the body is ${declared} bytes; at most ${max}`, { closeConnection: true }),
      );
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      request.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= max) chunks.push(chunk);
        else if (bytes > max + DISCARD_BYTES_MAX) {
          // Stop reading; the answer closes the connection.
          request.pause();
          reject(new ApiError('too-large', `the body exceeds ${max} bytes`, { closeConnection: true }));
        }
      });
      request.on('end', () => {
        if (bytes > max) reject(new ApiError('too-large', `the body is ${bytes} bytes; at most ${max}`));
        else resolve(Buffer.concat(chunks, bytes));
      });
      request.on('error', reject);
    });
  }

  #json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    response.end(text);
  }

  #error(response: ServerResponse, error: ApiError): void {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const headers: Record<string, string> = { ...error.headers };
    if (error.closeConnection) headers.connection = 'close';
    this.#json(
      response,
      API_ERRORS[error.code],
      { error: { code: error.code, message: error.message } },
      headers,
    );
    if (error.closeConnection) response.on('finish', () => response.socket?.destroy());
  }
}

function addressOf(sighting: {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}): string {
  return `${sighting.remoteAddress ?? 'unknown'}:${sighting.remotePort ?? '?'}`;
}

/** Whether a request failed because its client went away (an aborted body, a closed socket). */
function clientGone(request: IncomingMessage, response: ServerResponse, error: unknown): boolean {
  if (error instanceof ApiError) return false;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return (
    (code !== undefined && CLIENT_GONE_CODES.has(code)) || response.destroyed || request.socket.destroyed
  );
}
