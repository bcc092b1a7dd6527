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
 *
 * The routes with most to them live apart: submissions (`http-submit.ts`), lookups
 * (`http-lookups.ts`), backups (`http-backup-route.ts`), bodies and answers (`http-answers.ts`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter, Registry } from 'prom-client';
import {
  base64,
  type EpochEntry,
  type EpochsResponse,
  type ReadyResponse,
  type StatusResponse,
} from '../client/api.ts';
import { evidenceToJson } from '../client/evidence.ts';
import { bytesEqual, toHex } from '../crypto/index.ts';
import type { BftEngine } from '../engine/index.ts';
import { genesisDigest } from '../protocol/index.ts';
import { StoreCorruptError } from '../storage/errors.ts';
import type { LmdbStore } from '../storage/lmdb.ts';
import type { DuplicateIdentityState } from '../transport/duplicate-identity.ts';
import type { NodeSettings } from './config.ts';
import { type EventHub, resumePoint } from './events.ts';
import { ApiError, clientGone, sendError, sendJson } from './http-answers.ts';
import { BackupRoute } from './http-backup-route.ts';
import { exemptFromIdleTimeout, type HttpLimits } from './http-limits.ts';
import { VertexLookups } from './http-lookups.ts';
import { Submissions } from './http-submit.ts';
import type { Logger } from './log.ts';
import type { HttpMetrics } from './node-metrics.ts';
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
  /** Where answered requests are counted (`node-metrics.ts`). */
  readonly metrics: Pick<HttpMetrics, 'requests'>;
}

/** Store errors that mean bytes read back are damaged: a node that meets one stops. */
const DAMAGED_BYTES: ReadonlySet<StoreCorruptError['code']> = new Set(['checksum', 'malformed', 'lmdb']);

export class HttpApi {
  readonly #context: HttpApiContext;
  readonly #submissions: Submissions;
  readonly #lookups: VertexLookups;
  readonly #backups: BackupRoute;
  readonly #requests: Counter<'route' | 'code'>;
  readonly #history: StatusHistory;
  readonly #page = new StatusPage();
  #accepting = true;

  constructor(context: HttpApiContext) {
    this.#context = context;
    const accepting = (): boolean => this.#accepting;
    this.#submissions = new Submissions(context, accepting);
    this.#lookups = new VertexLookups(context, (hash) => this.#submissions.rejected(hash));
    this.#backups = new BackupRoute(context, accepting);
    this.#history = new StatusHistory({ engine: context.engine, registry: context.registry });
    this.#requests = context.metrics.requests;
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
          sendError(response, error);
          return;
        }
        if (error instanceof StoreCorruptError && DAMAGED_BYTES.has(error.code)) {
          // The damaged record is not served; the node stops once this answer is out. (A
          // reference that does not resolve, 'inconsistent', is answered 500 like any other
          // failure: the background scrub judges those in one consistent snapshot.)
          response.once('close', () => this.#context.storeDamaged(error));
          sendError(
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
        sendError(response, new ApiError('internal', 'the node failed to answer; see its log'));
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
      return this.#submissions.submit(request, response, url);
    }
    if (parts.length === 3 && parts[0] === 'v1' && parts[1] === 'vertices') {
      name('vertex');
      only('GET');
      return this.#lookups.answer(response, parts[2]!, url);
    }
    switch (joined) {
      case 'v1/events':
        name('events');
        only('GET');
        return this.#events(request, response, url);
      case 'v1/status':
        name('status');
        only('GET');
        return sendJson(response, 200, await this.status());
      case 'v1/epochs':
        name('epochs');
        only('GET');
        return sendJson(response, 200, this.#epochs());
      case 'v1/evidence': {
        name('evidence');
        only('GET');
        const { clusterId, validators } = this.#context.engine.config;
        const evidence = this.#context.engine
          .evidence()
          .map((item) => evidenceToJson(item, clusterId, validators));
        return sendJson(response, 200, { evidence });
      }
      case 'v1/admin/backup':
        name('backup');
        only('POST');
        return this.#backups.take(request, response);
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
        return sendJson(response, state === 'running' && this.#accepting ? 200 : 503, { state });
      }
      case 'readyz': {
        name('readyz');
        only('GET');
        const answer = this.ready();
        return sendJson(response, answer.ready ? 200 : 503, answer);
      }
      default:
        throw new ApiError('not-found', `no route ${url.pathname}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Streams and status

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

  /**
   * What `GET /v1/epochs` answers: each epoch the replica knows, and for each after 0 the vertex
   * that opened it with its proof, read from the finalized batch at the closing sequence.
   */
  #epochs(): EpochsResponse {
    const { engine, store } = this.#context;
    const history = engine.epochHistory();
    const epochs = history.map((record): EpochEntry => {
      const entry = { epoch: record.number, start: record.start, end: record.end };
      if (record.number === 0) return entry;
      const closedAt = history.find((each) => each.number === record.number - 1)?.closedAt ?? null;
      const batch = closedAt === null ? undefined : store.finalizedAt(closedAt)?.batch;
      const vertex = batch?.find((each) => bytesEqual(each.payload, record.opening));
      if (vertex === undefined) return { ...entry, opening: null, proof: null };
      return {
        ...entry,
        opening: {
          payload: base64(vertex.payload),
          parents: vertex.parents.map(toHex),
          validThrough: vertex.validThrough,
        },
        proof: this.#lookups.finalVertex(vertex.hash, true) ?? null,
      };
    });
    return { clusterId: engine.config.clusterId, epochs };
  }

  /** What `GET /v1/status` answers. */
  async status(): Promise<StatusResponse> {
    const { engine } = this.#context;
    const status = engine.status();
    const { replica, clusterId } = engine.config;
    const { store } = this.#context;
    const durableSequence = store.lastFinalized;
    const quorum = this.#context.quorum();
    const chainDigest =
      durableSequence === 0 ? genesisDigest(clusterId) : store.finalizedAt(durableSequence)!.chainDigest;
    return {
      nodeId: status.nodeId,
      clusterId,
      state: status.state,
      epoch: status.epoch,
      member: status.member,
      learning: status.learning,
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
      acknowledgeCopies: status.acknowledgeCopies,
      validators: status.validators,
      faultTolerance: status.faultTolerance,
      quorum: status.quorum,
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
}

function addressOf(sighting: {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}): string {
  return `${sighting.remoteAddress ?? 'unknown'}:${sighting.remotePort ?? '?'}`;
}
