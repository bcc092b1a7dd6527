/**
 * `POST /v1/vertices`: parsing a submission (JSON, a list of vertices, or raw bytes), proposing
 * the vertices to the engine, answering with what it accepted or refused, and remembering the
 * vertices refused after they were accepted, for lookups.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ApiErrorCode,
  bytesFromBase64,
  digestFromHex,
  type SubmitVerticesResponse,
} from '../client/api.ts';
import { ProposalRejectedError, type ProposalRejectionCode } from '../engine/index.ts';
import { createVertex, type Digest, type Vertex, vertexKey } from '../protocol/index.ts';
import { decodeVertexList, VERTEX_LIST_MEDIA_TYPE } from '../wire/vertex-list.ts';
import { ApiError, readBody, sendJson } from './http-answers.ts';
import type { HttpApiContext } from './http-api.ts';

/** How an engine refusal is answered. */
const REJECTION_ANSWERS: { readonly [K in ProposalRejectionCode]: ApiErrorCode } = Object.freeze({
  full: 'full',
  stopped: 'unavailable',
  oversized: 'too-large',
  invalid: 'invalid',
  duplicate: 'duplicate',
  expired: 'expired',
});

/** Vertices refused after they were accepted (the engine stopped first), remembered for lookups. */
const REJECTED_REMEMBERED_MAX = 16_384;

/** A refusal remembered for lookups: its answer code and message. */
export interface RejectedVertex {
  readonly code: string;
  readonly message: string;
}

/** Takes submissions and remembers the vertices refused after they were accepted. */
export class Submissions {
  readonly #context: Pick<HttpApiContext, 'engine' | 'logger' | 'settings'>;
  readonly #accepting: () => boolean;
  readonly #rejected = new Map<string, RejectedVertex>();

  /** `accepting` says whether submissions are still taken (503 once it says no). */
  constructor(context: Pick<HttpApiContext, 'engine' | 'logger' | 'settings'>, accepting: () => boolean) {
    this.#context = context;
    this.#accepting = accepting;
  }

  /** The refusal of a vertex refused after it was accepted, if it is still remembered. */
  rejected(hash: string): RejectedVertex | undefined {
    return this.#rejected.get(hash);
  }

  /** `POST /v1/vertices`: one vertex (JSON or raw bytes) or a list of them (JSON or binary). */
  async submit(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    if (!this.#accepting()) throw new ApiError('unavailable', 'the node is shutting down');
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (
      type !== 'application/json' &&
      type !== 'application/octet-stream' &&
      type !== VERTEX_LIST_MEDIA_TYPE
    ) {
      throw new ApiError(
        'unsupported-media-type',
        `send application/json ({ "payload": base64, "parents": [hex] }), application/octet-stream (the payload) or ${VERTEX_LIST_MEDIA_TYPE} (a binary list, see docs/http-api.md)`,
      );
    }
    const body = await readBody(request, this.#context.settings.http.maxBodyBytes);
    if (type === VERTEX_LIST_MEDIA_TYPE) return this.#submitMany(response, this.#verticesFromList(body));
    if (type === 'application/octet-stream') {
      const parents = url.searchParams.get('parents');
      const validThrough = url.searchParams.get('validThrough');
      const vertex = this.#vertexOf(
        body,
        this.#parentsFromHex(parents === null || parents === '' ? [] : parents.split(','), ''),
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
    return this.#vertexOf(bytes, this.#parentsFromHex(parents ?? [], prefix), validThrough, prefix);
  }

  /** The vertices of a binary list ({@link VERTEX_LIST_MEDIA_TYPE}). */
  #verticesFromList(body: Uint8Array): Vertex[] {
    const { engine, settings } = this.#context;
    const decoded = decodeVertexList(body, {
      countMax: settings.http.submitVerticesMax,
      payloadBytesMax: settings.http.maxBodyBytes,
      parentsMax: engine.config.vertexParentsMax,
    });
    if (!decoded.ok) {
      const { code, detail } = decoded.error;
      if (code === 'limit-exceeded')
        throw new ApiError('too-large', `the vertex list is too large: ${detail}`);
      throw new ApiError('bad-encoding', `the body is not a ${VERTEX_LIST_MEDIA_TYPE} list: ${detail}`);
    }
    if (decoded.vertices.length === 0) throw new ApiError('bad-request', 'the vertex list is empty');
    return decoded.vertices.map((vertex, i) =>
      this.#vertexOf(
        vertex.payload,
        vertex.parents,
        vertex.validThrough === 0 ? undefined : vertex.validThrough,
        `vertices[${i}].`,
      ),
    );
  }

  /** Parent hashes given as hex, at most the engine's `vertexParentsMax`. */
  #parentsFromHex(parents: readonly unknown[], prefix: string): Digest[] {
    const max = this.#context.engine.config.vertexParentsMax;
    if (parents.length > max)
      throw new ApiError('too-large', `${parents.length} ${prefix}parents; at most ${max}`);
    return parents.map((parent, i) => {
      const digest = digestFromHex(parent);
      if (digest === null)
        throw new ApiError('bad-encoding', `${prefix}parents[${i}] is not a 64-hex-digit hash`);
      return digest;
    });
  }

  /**
   * The vertex of `payload` and `parents`, valid through `validThrough` when the client chose it
   * (it must, to compute the hash itself or to submit one vertex to several nodes), else for
   * as long as the engine allows.
   */
  #vertexOf(payload: Uint8Array, digests: readonly Digest[], validThrough: unknown, prefix: string): Vertex {
    const { engine } = this.#context;
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
    const hash = vertexKey(vertex);
    if (refusal !== null && refusal !== undefined) {
      throw this.#rejection(refusal);
    }
    sendJson(
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
      hashes: vertices.map(vertexKey),
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
    sendJson(response, allFull ? 429 : 202, body, headers);
  }

  /**
   * Proposes every vertex and waits until the engine holds each durably (its acknowledgment
   * then survives a crash of this node: the restarted node proposes it again) or refused it;
   * returns, per vertex, the refusal or null. A vertex given up on later (the node stopped, or it
   * expired) is remembered for lookups.
   */
  async #propose(vertices: readonly Vertex[]): Promise<(ProposalRejectedError | null)[]> {
    const { engine, logger } = this.#context;
    const remember = (vertex: Vertex, error: ProposalRejectedError): void => {
      this.#rejected.set(vertexKey(vertex), { code: REJECTION_ANSWERS[error.code], message: error.message });
      if (this.#rejected.size > REJECTED_REMEMBERED_MAX) {
        this.#rejected.delete(this.#rejected.keys().next().value!);
      }
    };
    try {
      return await engine.acceptMany(vertices, remember);
    } catch (error) {
      logger.error('propose-failed', { vertices: vertices.length, error });
      return vertices.map(
        () => new ProposalRejectedError('stopped', 'the node failed to take the vertex; see its log'),
      );
    }
  }

  #rejection(refusal: ProposalRejectedError): ApiError {
    const code = REJECTION_ANSWERS[refusal.code];
    const headers: Record<string, string> =
      code === 'full' ? { 'retry-after': String(this.#context.settings.http.retryAfterSeconds) } : {};
    return new ApiError(code, refusal.message, { headers });
  }
}
