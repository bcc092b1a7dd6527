/**
 * BftClient: submits vertices to a cluster's nodes over HTTP and learns when they are final,
 * with proof.
 *
 * A vertex is final for the client either
 *
 * - by certificate: one node answers with a commit certificate that the client checks itself
 *   against the validators' public keys (`verifyFinalVertex`), so that node need not be trusted;
 * - or by quorum: f + 1 nodes report the same place (sequence, index, batch digest). At most f
 *   nodes are faulty, so one of them is correct. This counts answers per node URL: it is sound
 *   only when the client's URLs are distinct validators, which the client cannot check.
 *
 * A node whose certificate does not check out is not asked again by that call, and its answers
 * are not counted towards a quorum.
 */
import { toHex } from '../crypto/index.ts';
import { createVertex, faultTolerance, type Vertex, vertexKey } from '../protocol/index.ts';
import { encodeVertexList, VERTEX_LIST_MEDIA_TYPE } from '../wire/vertex-list.ts';
import {
  API_ROUTES,
  base64,
  type EpochsResponse,
  type FinalVertexResponse,
  isHexDigest,
  type StatusResponse,
  type SubmitVerticesResponse,
  type VertexResponse,
} from './api.ts';
import type { ClusterFile } from './cluster-file.ts';
import { EpochChain } from './epoch-chain.ts';
import { BftClientError } from './errors.ts';
import { type FollowOptions, followFinalized, type StreamedVertex } from './follow.ts';
import {
  type ClusterKeys,
  certificateEpoch,
  clusterKeysOf,
  type VerifiedPlace,
  verifyFinalVertex,
} from './proof.ts';

export { clusterKeysOf };

/** How long the status requests that look for a missing quorum may take, at most. */
const QUORUM_CHECK_TIMEOUT_MS = 2000;

/** How to build a client. */
export interface BftClientOptions {
  /** The nodes' HTTP base URLs (`http://127.0.0.1:8100`). */
  readonly nodes: readonly string[];
  /** The validators' keys: needed to accept a vertex as final on one node's certificate. */
  readonly cluster?: ClusterKeys;
  /**
   * The cluster file those keys come from: with it, the client follows the chain of
   * reconfigurations (`EpochChain`) to check certificates of later epochs. `fromClusterFile`
   * sets it.
   */
  readonly clusterFile?: ClusterFile;
  /**
   * f, for finality by quorum (f + 1 matching answers). Default: from the cluster's validators
   * when `cluster` is given, else from the number of nodes.
   */
  readonly faultTolerance?: number;
  /** How long one HTTP request may take. Default 10,000 ms. */
  readonly requestTimeoutMs?: number;
}

/**
 * What to submit: a payload, the hashes of its parents (bytes or 64 hex digits), and
 * optionally the last sequence at which it may be final (by default the client picks one well
 * inside what the cluster allows, from a node's status).
 */
export interface VertexInput {
  readonly payload: Uint8Array;
  readonly parents?: readonly (Uint8Array | string)[];
  readonly validThrough?: number;
}

/** Where a submission went. */
export interface SubmitResult {
  /** The vertex's hash, hex; the client computes it and checks the node's answer against it. */
  readonly hash: string;
  readonly vertex: Vertex;
  /** The nodes that accepted it. */
  readonly acceptedBy: readonly string[];
}

/** How a vertex was proven final, and where it is. */
export interface Finality extends Omit<VerifiedPlace, 'view'> {
  readonly hash: string;
  /** The view the batch was committed in (known with a certificate). */
  readonly view: number | undefined;
  readonly proof: 'certificate' | 'quorum';
  /** The node whose certificate was checked, or the f + 1 nodes that agreed. */
  readonly nodes: readonly string[];
}

/** Options of {@link BftClient.waitFinal}. */
export interface WaitFinalOptions {
  /** Which proofs to accept. Default 'any' ('certificate' needs the cluster's keys). */
  readonly proof?: 'certificate' | 'quorum' | 'any';
  /** Give up after this long. Default 30,000 ms. */
  readonly timeoutMs?: number;
  /** The first pause between polls; it grows by half each round up to 500 ms. Default 20 ms. */
  readonly pollIntervalMs?: number;
}

interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

function errorOf(body: unknown): { code?: string; message?: string } {
  const error = (body as { error?: unknown } | null)?.error;
  return typeof error === 'object' && error !== null ? (error as { code?: string; message?: string }) : {};
}

/** A vertex as `POST /v1/vertices` takes it. */
function wireVertex(vertex: Vertex): { payload: string; parents: string[]; validThrough: number } {
  return {
    payload: base64(vertex.payload),
    parents: vertex.parents.map(toHex),
    validThrough: vertex.validThrough,
  };
}

function hexOf(parent: Uint8Array | string): Uint8Array {
  if (typeof parent !== 'string') return parent;
  if (!isHexDigest(parent.toLowerCase()))
    throw new BftClientError('misuse', `parent ${parent} is not 64 hex digits`);
  return new Uint8Array(Buffer.from(parent, 'hex'));
}

/** A client of one cluster's nodes. */
export class BftClient {
  readonly nodes: readonly string[];
  readonly cluster: ClusterKeys | undefined;
  /** f: answers from f + 1 nodes make a quorum proof. */
  readonly faultTolerance: number;
  readonly #requestTimeoutMs: number;
  /** The epochs after the cluster file's, as far as this client has checked them. */
  readonly #chain: EpochChain | null;
  #next = 0;
  /** The cluster's progress as a node last reported it, to choose validThrough from. */
  #progress: { readonly sequence: number; readonly horizon: number; readonly at: number } | null = null;

  /** @throws BftClientError 'misuse' without nodes. */
  constructor(options: BftClientOptions) {
    if (options.nodes.length === 0)
      throw new BftClientError('misuse', 'a client needs at least one node URL');
    this.nodes = Object.freeze(options.nodes.map((url) => url.replace(/\/+$/, '')));
    this.cluster = options.cluster;
    this.#chain = options.clusterFile === undefined ? null : new EpochChain(options.clusterFile);
    this.faultTolerance =
      options.faultTolerance ?? faultTolerance(options.cluster?.publicKeys.length ?? this.nodes.length);
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /**
   * A client of the nodes a cluster file lists (those with an `api` URL), checking
   * certificates with its keys.
   */
  static fromClusterFile(cluster: ClusterFile, options: Partial<BftClientOptions> = {}): BftClient {
    const nodes = options.nodes ?? cluster.validators.flatMap((validator) => validator.api ?? []);
    return new BftClient({ ...options, nodes, cluster: clusterKeysOf(cluster), clusterFile: cluster });
  }

  // -------------------------------------------------------------------------------------------
  // Submitting

  /**
   * Submits one vertex. With `to: 'one'` (the default) it goes to one node, the next in turn,
   * moving on when that node is unreachable, unavailable or full; with `to: 'all'` to every node
   * at once (robust to a node that drops it; the cluster finalizes it once).
   *
   * @throws BftClientError 'rejected' (the vertex is refused for what it is), 'busy' (every node
   *   asked was full), 'unreachable', 'bad-response'.
   */
  async submit(input: VertexInput, options: { readonly to?: 'one' | 'all' } = {}): Promise<SubmitResult> {
    const vertex = await this.#vertexOf(input);
    const hash = vertexKey(vertex);
    const body = JSON.stringify(wireVertex(vertex));
    const attempt = async (node: string): Promise<string> => {
      const answer = await this.#request(node, 'POST', API_ROUTES.vertices, body);
      if (answer.status !== 202) throw this.#failure(node, answer);
      const returned = (answer.body as { hash?: unknown } | null)?.hash;
      if (returned !== hash) {
        throw new BftClientError('bad-response', `${node} answered hash ${String(returned)} for ${hash}`);
      }
      return node;
    };
    if (options.to === 'all') {
      const results = await Promise.allSettled(this.nodes.map(attempt));
      const acceptedBy = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      if (acceptedBy.length > 0) return { hash, vertex, acceptedBy };
      throw strongestFailure(results.map((result) => (result as PromiseRejectedResult).reason));
    }
    const failures: unknown[] = [];
    for (let tried = 0; tried < this.nodes.length; tried++) {
      const node = this.nodes[this.#next++ % this.nodes.length]!;
      try {
        return { hash, vertex, acceptedBy: [await attempt(node)] };
      } catch (error) {
        // A refusal for what the vertex is will be the same everywhere; anything else, try on.
        if (error instanceof BftClientError && (error.code === 'rejected' || error.code === 'bad-response'))
          throw error;
        failures.push(error);
      }
    }
    throw strongestFailure(failures);
  }

  /**
   * Submits several vertices to one node in one request, as a binary vertex list (see
   * docs/http-api.md): no base64 and no JSON to build here or to parse at the node.
   *
   * @returns the node's answer: every hash in order, and which were refused and why.
   */
  async submitMany(
    inputs: readonly VertexInput[],
    node: string = this.nodes[0]!,
  ): Promise<SubmitVerticesResponse> {
    const vertices = await Promise.all(inputs.map((input) => this.#vertexOf(input)));
    const body = encodeVertexList(vertices);
    const answer = await this.#request(node, 'POST', API_ROUTES.vertices, {
      bytes: body,
      type: VERTEX_LIST_MEDIA_TYPE,
    });
    if (answer.status !== 202 && answer.status !== 429) throw this.#failure(node, answer);
    const result = answer.body as SubmitVerticesResponse;
    if (
      !Array.isArray(result?.hashes) ||
      result.hashes.length !== vertices.length ||
      result.hashes.some((hash, i) => hash !== vertexKey(vertices[i]!))
    ) {
      throw new BftClientError('bad-response', `${node} answered hashes that are not the vertices'`);
    }
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Finality

  /** One node's answer for `hash`: pending, final (unchecked), or null when it knows nothing of it. */
  async vertex(hash: string, node: string): Promise<VertexResponse | null> {
    const answer = await this.#request(node, 'GET', `${API_ROUTES.vertices}/${hash}`);
    if (answer.status === 404) return null;
    if (answer.status !== 200) throw this.#failure(node, answer);
    const body = answer.body as VertexResponse;
    if (body?.hash !== hash || !['pending', 'final', 'rejected'].includes(body.status)) {
      throw new BftClientError('bad-response', `${node} answered for another vertex, or without a status`);
    }
    return body;
  }

  /**
   * Checks a final answer's certificate with the cluster's keys.
   *
   * @throws BftClientError 'invalid-certificate', or 'misuse' without the cluster's keys.
   */
  verify(hash: string, answer: FinalVertexResponse): VerifiedPlace {
    if (this.cluster === undefined)
      throw new BftClientError('misuse', 'checking a certificate needs the cluster (its public keys)');
    const epoch = certificateEpoch(answer) ?? 0;
    const keys = epoch === 0 ? this.cluster : this.#chain?.keysOf(epoch);
    if (keys === undefined) {
      throw new BftClientError(
        'invalid-certificate',
        `the certificate is of epoch ${epoch}, which this client has not followed the chain of reconfigurations to` +
          (this.#chain === null ? ' (give it the cluster file to follow them)' : ''),
      );
    }
    return verifyFinalVertex(hash, answer, keys);
  }

  /**
   * Checks `node`'s certificate, first following the chain of epochs as `node` serves it when the
   * certificate is of an epoch this client has not reached yet.
   */
  async #verifyFrom(node: string, hash: string, answer: FinalVertexResponse): Promise<VerifiedPlace> {
    const epoch = certificateEpoch(answer) ?? 0;
    if (this.#chain !== null && epoch > this.#chain.latest) {
      const epochs = await this.#request(node, 'GET', API_ROUTES.epochs);
      if (epochs.status !== 200) throw this.#failure(node, epochs);
      this.#chain.follow(epochs.body as EpochsResponse);
    }
    return this.verify(hash, answer);
  }

  /**
   * Waits until the vertex `hash` (hex) is final for this client: one node's certificate checks
   * out, or f + 1 nodes report the same place (see the module comment), as `options.proof` allows.
   *
   * @throws BftClientError 'timeout'; 'no-quorum' when it timed out and no node the client
   *   reaches sees a quorum (the message says how many validators are reachable of how many,
   *   and how many are needed); 'invalid-certificate' when every node that could still
   *   prove it has given a certificate that does not check out; 'conflict' when every node
   *   answered final and no place has f + 1 of them; 'misuse'.
   */
  async waitFinal(hash: string, options: WaitFinalOptions = {}): Promise<Finality> {
    const proof = options.proof ?? 'any';
    if (!isHexDigest(hash)) throw new BftClientError('misuse', `${hash} is not a 64-hex-digit hash`);
    if (proof === 'certificate' && this.cluster === undefined) {
      throw new BftClientError('misuse', 'finality by certificate needs the cluster (its public keys)');
    }
    const acceptCertificate = proof !== 'quorum' && this.cluster !== undefined;
    const acceptQuorum = proof !== 'certificate';
    const needed = this.faultTolerance + 1;
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    let pauseMs = options.pollIntervalMs ?? 20;
    const untrusted = new Map<string, BftClientError>();
    const places = new Map<
      string,
      { place: Omit<Finality, 'proof' | 'nodes' | 'hash'>; nodes: Set<string> }
    >();
    const answeredFinal = new Set<string>();
    let lastProblem: unknown = null;

    for (;;) {
      const asking = this.nodes.filter((node) => !untrusted.has(node) && !answeredFinal.has(node));
      const answers = await Promise.allSettled(asking.map((node) => this.vertex(hash, node)));
      for (const [i, result] of answers.entries()) {
        const node = asking[i]!;
        if (result.status === 'rejected') {
          lastProblem = result.reason;
          continue;
        }
        const answer = result.value;
        if (answer === null || answer.status !== 'final') continue;
        if (acceptCertificate) {
          try {
            const place = await this.#verifyFrom(node, hash, answer);
            return { hash, ...place, proof: 'certificate', nodes: [node] };
          } catch (error) {
            if (!(error instanceof BftClientError)) throw error;
            untrusted.set(node, error);
            continue;
          }
        }
        answeredFinal.add(node);
        const key = `${answer.sequence}/${answer.index}/${answer.batchDigest}`;
        const entry = places.get(key) ?? {
          place: { sequence: answer.sequence, index: answer.index, view: undefined },
          nodes: new Set<string>(),
        };
        entry.nodes.add(node);
        places.set(key, entry);
        if (acceptQuorum && entry.nodes.size >= needed) {
          return { hash, ...entry.place, proof: 'quorum', nodes: [...entry.nodes] };
        }
      }

      const trusted = this.nodes.length - untrusted.size;
      if (untrusted.size > 0 && (trusted === 0 || (!acceptQuorum && trusted === answeredFinal.size))) {
        throw new BftClientError(
          'invalid-certificate',
          `no node gave a certificate that checks out for ${hash}: ${[...untrusted.values()][0]!.message}`,
          { cause: [...untrusted.values()][0] },
        );
      }
      if (acceptQuorum && answeredFinal.size === trusted && trusted > 0) {
        throw new BftClientError(
          'conflict',
          `every node answered final for ${hash}, but no place has ${needed} of them: ` +
            [...places.entries()]
              .map(([key, entry]) => `${key} by ${[...entry.nodes].join(', ')}`)
              .join('; '),
        );
      }
      if (acceptQuorum && !acceptCertificate && trusted < needed) {
        throw new BftClientError(
          'misuse',
          `finality by quorum needs ${needed} nodes that agree; the client has ${trusted} it can ask`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const noQuorum = await this.#missingQuorum();
        if (noQuorum !== null) {
          throw new BftClientError(
            'no-quorum',
            `${hash} was not final for the client within ${options.timeoutMs ?? 30_000} ms: ${noQuorum}`,
          );
        }
        throw new BftClientError(
          'timeout',
          `${hash} was not final for the client within ${options.timeoutMs ?? 30_000} ms` +
            (lastProblem instanceof Error ? ` (last problem: ${lastProblem.message})` : ''),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pauseMs, left)));
      pauseMs = Math.min(500, pauseMs * 1.5);
    }
  }

  /**
   * The vertices the cluster finalizes, in the total order, as one node's `GET /v1/events`
   * reports them: from the next one on, from `from` (a sequence the node replays from its
   * store), or after `after` (the place of the last vertex the caller applied). The connection
   * is re-made when it drops, to the same node or, unless `node` names one, the next, and
   * resumes after the last vertex seen: every vertex once, in order. The events are unproven
   * (check one with `waitFinal` when a node must not be trusted). Break out of the loop, or abort
   * `signal`, to stop.
   *
   * @example
   * for await (const vertex of client.finalized({ from: 1 })) apply(vertex);
   *
   * @throws BftClientError (from the iteration) 'rejected' with apiCode 'pruned' when the start
   *   is older than the node keeps; 'unreachable' when no node gives a stream for
   *   `giveUpAfterMs`; 'bad-response'; 'misuse' for bad options.
   */
  finalized(options: FollowOptions = {}): AsyncGenerator<StreamedVertex, void, undefined> {
    return followFinalized(this.nodes, options);
  }

  // -------------------------------------------------------------------------------------------
  // Status

  /**
   * The vertex of `input`, valid through the sequence it names or, by default, through half the
   * cluster's horizon past the latest sequence a node reported (asked at most once a second):
   * the other half leaves room for a node that lags behind the one asked.
   */
  async #vertexOf(input: VertexInput): Promise<Vertex> {
    const parents = (input.parents ?? []).map(hexOf);
    let validThrough = input.validThrough;
    if (validThrough === undefined) {
      const now = performance.now();
      if (this.#progress === null || now - this.#progress.at > 1000) {
        const failures: unknown[] = [];
        for (let tried = 0; tried < this.nodes.length && this.#progress?.at !== now; tried++) {
          const node = this.nodes[(this.#next + tried) % this.nodes.length]!;
          try {
            const status = await this.status(node);
            this.#progress = { sequence: status.sequence, horizon: status.dedupHorizonSequences, at: now };
          } catch (error) {
            failures.push(error);
          }
        }
        if (this.#progress === null) throw strongestFailure(failures);
      }
      validThrough = this.#progress.sequence + Math.max(1, Math.floor(this.#progress.horizon / 2));
    }
    try {
      return createVertex(input.payload, { parents, validThrough });
    } catch (error) {
      throw new BftClientError('misuse', (error as Error).message, { cause: error });
    }
  }

  /**
   * Why nothing can become final, if the reason is a missing quorum: every node that answers
   * reports too few validators reachable. Null when some node sees a quorum, when none answers
   * (then the nodes' own failures say more), or when a node is too old to say.
   */
  async #missingQuorum(): Promise<string | null> {
    const answers = await Promise.allSettled(
      this.nodes.map((node) => this.status(node, Math.min(this.#requestTimeoutMs, QUORUM_CHECK_TIMEOUT_MS))),
    );
    const statuses = answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : []));
    if (statuses.length === 0) return null;
    if (statuses.some((status) => typeof status.quorumReachable !== 'boolean' || status.quorumReachable))
      return null;
    // The most any answering node reaches: the best view of the cluster the client can get.
    const best = statuses.reduce((a, b) => (b.validatorsReachable > a.validatorsReachable ? b : a));
    const silent = answers.flatMap((answer, i) => (answer.status === 'rejected' ? [this.nodes[i]!] : []));
    return (
      `no quorum: ${best.validatorsReachable} of ${best.validators.length} validators reachable, ${best.quorum} needed` +
      ` (as ${best.nodeId} sees it${silent.length === 0 ? '' : `; ${silent.join(', ')} did not answer`})`
    );
  }

  /**
   * A node's `GET /v1/status`.
   *
   * @param timeoutMs - how long the request may take (default: the client's `requestTimeoutMs`).
   */
  async status(node: string = this.nodes[0]!, timeoutMs = this.#requestTimeoutMs): Promise<StatusResponse> {
    const answer = await this.#request(node, 'GET', API_ROUTES.status, undefined, timeoutMs);
    if (answer.status !== 200) throw this.#failure(node, answer);
    return answer.body as StatusResponse;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  async #request(
    node: string,
    method: string,
    path: string,
    body?: string | { readonly bytes: Uint8Array; readonly type: string },
    timeoutMs = this.#requestTimeoutMs,
  ): Promise<HttpAnswer> {
    let response: Response;
    try {
      const sent =
        body === undefined
          ? {}
          : typeof body === 'string'
            ? { headers: { 'content-type': 'application/json' }, body }
            : { headers: { 'content-type': body.type }, body: body.bytes };
      response = await fetch(`${node}${path}`, {
        method,
        ...sent,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new BftClientError(
        'unreachable',
        `${node} did not answer ${method} ${path} (${cause?.code ?? (error as Error).name})`,
        { cause: error },
      );
    }
    const text = await response.text().catch(() => '');
    let parsed: unknown = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new BftClientError(
          'bad-response',
          `${node} answered ${method} ${path} with something not JSON`,
          {
            status: response.status,
          },
        );
      }
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  #failure(node: string, answer: HttpAnswer): BftClientError {
    const { code, message } = errorOf(answer.body);
    const said = `${node} answered ${answer.status}${message === undefined ? '' : `: ${message}`}`;
    const details = { status: answer.status, ...(code === undefined ? {} : { apiCode: code }) };
    if (answer.status === 429) {
      const seconds = Number(answer.headers.get('retry-after') ?? '1');
      return new BftClientError('busy', said, {
        ...details,
        retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : 1000,
      });
    }
    if (answer.status >= 400 && answer.status < 500) return new BftClientError('rejected', said, details);
    return new BftClientError('unreachable', said, details);
  }
}

/** Of several failures, the one that says most: a refusal, then busy, then unreachable. */
function strongestFailure(failures: readonly unknown[]): unknown {
  for (const code of ['rejected', 'bad-response', 'busy', 'unreachable'] as const) {
    const found = failures.find((error) => error instanceof BftClientError && error.code === code);
    if (found !== undefined) return found;
  }
  return failures[0] ?? new BftClientError('unreachable', 'no node could be asked');
}
