/**
 * Following a node's finalized stream (`GET /v1/events`) for {@link BftClient.finalized}: the
 * server-sent events parsed by `sse.ts`, the connection re-made when it drops (to the same node
 * or, unless one was named, the next), and resumed after the last vertex seen (`Last-Event-ID`),
 * so that the caller sees every vertex once, in the total order.
 *
 * Honest nodes agree on every vertex's place (sequence, position), so a stream may resume on
 * another node. The events are what one node reports, unproven: a caller that must not trust a
 * node checks a vertex with `waitFinal` (certificate or f + 1 nodes).
 */
import { API_ROUTES, bytesFromBase64, type FinalizedEvent, isHexDigest } from './api.ts';
import { BftClientError } from './errors.ts';
import { SseParser } from './sse.ts';

/** Options of {@link BftClient.finalized}. */
export interface FollowOptions {
  /** The node to follow. Default: the client's nodes, the next one after a connection fails. */
  readonly node?: string;
  /**
   * Start at this sequence (all of its vertices), which the node replays from its store. Default:
   * the vertices finalized from the moment the stream opens.
   */
  readonly from?: number;
  /** Start after this place (exclusive): resume after the last vertex an application applied. */
  readonly after?: { readonly sequence: number; readonly position: number };
  /** Ask for each vertex's payload too. Default false. */
  readonly payload?: boolean;
  /** Ends the iteration (it finishes without an error). */
  readonly signal?: AbortSignal;
  /** The first pause before reconnecting; it doubles up to 5 s (the node's `retry:` replaces it). Default 250 ms. */
  readonly reconnectDelayMs?: number;
  /**
   * Give up (BftClientError 'unreachable') after failing to get a stream from any node for this
   * long. Default 60,000 ms.
   */
  readonly giveUpAfterMs?: number;
  /**
   * A stream that brings nothing for this long, not even the node's keep-alive comment (every
   * 15 s), is taken as dropped and re-made. Default 45,000 ms.
   */
  readonly idleTimeoutMs?: number;
}

/** One finalized vertex as a node's event stream reports it. */
export interface StreamedVertex {
  readonly hash: string;
  readonly sequence: number;
  /** Its index in the batch finalized at `sequence`. */
  readonly position: number;
  readonly view: number;
  readonly payloadBytes: number;
  /** The payload, when the stream was opened with `payload: true`. */
  readonly payload?: Uint8Array;
  /** The node whose stream reported it. */
  readonly node: string;
}

const RECONNECT_DELAY_MAX_MS = 5000;

/** Whether place `a` lies after place `b`. */
function isAfter(
  a: { readonly sequence: number; readonly position: number },
  b: { readonly sequence: number; readonly position: number },
): boolean {
  return a.sequence > b.sequence || (a.sequence === b.sequence && a.position > b.position);
}

/** The checked vertex of one `finalized` event's data, or null if it is not the API's shape. */
function vertexOf(data: string, node: string, withPayload: boolean): StreamedVertex | null {
  let event: FinalizedEvent;
  try {
    event = JSON.parse(data) as FinalizedEvent;
  } catch {
    return null;
  }
  const whole = (value: unknown, min: number): value is number =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
  if (
    typeof event !== 'object' ||
    event === null ||
    !isHexDigest(event.hash) ||
    !whole(event.sequence, 1) ||
    !whole(event.position, 0) ||
    !whole(event.view, 0) ||
    !whole(event.payloadBytes, 0)
  ) {
    return null;
  }
  const base = {
    hash: event.hash,
    sequence: event.sequence,
    position: event.position,
    view: event.view,
    payloadBytes: event.payloadBytes,
    node,
  };
  if (!withPayload) return base;
  const payload = bytesFromBase64(event.payload);
  if (payload === null || payload.length !== event.payloadBytes) return null;
  return { ...base, payload };
}

/** Waits `ms`, or less if `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Where a stream stands: the last place handed out, shared across connections. */
interface FollowState {
  /** The stream resumes after it; anything at or before it is not handed out again. */
  last: { sequence: number; position: number } | null;
}

/** How one connection ended. */
interface ConnectionOutcome {
  /** The node answered with a stream (it may have dropped later). */
  readonly streamed: boolean;
  readonly problem: string;
  /** The reconnection time the node asked for, if it did. */
  readonly retryMs: number | null;
}

/** One connection to `node`: yields its vertices until it drops, then says how it ended. */
async function* connectOnce(
  node: string,
  state: FollowState,
  options: FollowOptions,
  stop: AbortSignal,
): AsyncGenerator<StreamedVertex, ConnectionOutcome, undefined> {
  const withPayload = options.payload === true;
  const url = new URL(`${node}${API_ROUTES.events}`);
  if (withPayload) url.searchParams.set('payload', '1');
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (state.last !== null) headers['last-event-id'] = `${state.last.sequence}.${state.last.position}`;
  else if (options.from !== undefined) url.searchParams.set('from', String(options.from));

  const connection = new AbortController();
  const abortConnection = (): void => connection.abort();
  stop.addEventListener('abort', abortConnection);
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  let idleTimer: NodeJS.Timeout | null = null;
  const resetIdle = (): void => {
    if (idleTimer !== null) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => connection.abort(), idleTimeoutMs);
  };
  try {
    resetIdle();
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: connection.signal });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      return {
        streamed: false,
        problem: `${node} did not answer GET ${API_ROUTES.events} (${cause?.code ?? (error as Error).name})`,
        retryMs: null,
      };
    }
    if (response.status !== 200 || response.body === null) {
      const body = (await response.json().catch(() => null)) as {
        error?: { code?: string; message?: string };
      } | null;
      const apiCode = body?.error?.code;
      const said = `${node} answered ${response.status}${body?.error?.message === undefined ? '' : `: ${body.error.message}`}`;
      // A refusal of what was asked is the same on every node; anything else, try on.
      if (
        response.status >= 400 &&
        response.status < 500 &&
        response.status !== 408 &&
        response.status !== 429
      ) {
        throw new BftClientError('rejected', said, {
          status: response.status,
          ...(apiCode === undefined ? {} : { apiCode }),
        });
      }
      return { streamed: false, problem: said, retryMs: null };
    }
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch {
          break; // dropped, or aborted (idle, or the caller stopped)
        }
        if (chunk.done) break;
        resetIdle();
        for (const event of parser.push(decoder.decode(chunk.value, { stream: true }))) {
          if (event.type === 'error') throw streamError(node, event.data);
          if (event.type !== 'finalized') continue;
          const vertex = vertexOf(event.data, node, withPayload);
          if (vertex === null || event.lastEventId !== `${vertex.sequence}.${vertex.position}`) {
            throw new BftClientError(
              'bad-response',
              `${node} sent a finalized event that is not the API's shape`,
            );
          }
          if (state.last !== null && !isAfter(vertex, state.last)) continue;
          state.last = { sequence: vertex.sequence, position: vertex.position };
          yield vertex;
        }
      }
    } finally {
      reader.cancel().catch(() => undefined);
    }
    return { streamed: true, problem: `${node} closed the stream`, retryMs: parser.retryMs };
  } finally {
    if (idleTimer !== null) clearTimeout(idleTimer);
    stop.removeEventListener('abort', abortConnection);
    connection.abort();
  }
}

/** The error an `error` event ends a stream with (`{ code, message }`, as the node sends it). */
function streamError(node: string, data: string): BftClientError {
  let body: { code?: unknown; message?: unknown } = {};
  try {
    body = JSON.parse(data) as typeof body;
  } catch {
    // Not JSON: the text is the message.
  }
  const message = typeof body.message === 'string' ? body.message : data;
  return new BftClientError('rejected', `${node} ended the stream: ${message}`, {
    status: 410,
    ...(typeof body.code === 'string' ? { apiCode: body.code } : {}),
  });
}

/**
 * The finalized vertices of `nodes`' event streams, from the start `options` give, each once and
 * in order, across reconnections.
 *
 * @throws BftClientError 'misuse' for bad options; 'rejected' when a node refuses the stream
 *   (410 with apiCode 'pruned': the start is older than the node keeps); 'bad-response' for an
 *   event that is not the API's shape; 'unreachable' after `giveUpAfterMs` without a stream.
 */
export async function* followFinalized(
  nodes: readonly string[],
  options: FollowOptions = {},
): AsyncGenerator<StreamedVertex, void, undefined> {
  if (options.from !== undefined && options.after !== undefined) {
    throw new BftClientError('misuse', 'give `from` or `after`, not both');
  }
  if (options.from !== undefined && (!Number.isSafeInteger(options.from) || options.from < 1)) {
    throw new BftClientError(
      'misuse',
      `from must be a sequence (a whole number from 1), got ${options.from}`,
    );
  }
  const { after } = options;
  if (
    after !== undefined &&
    (!Number.isSafeInteger(after.sequence) ||
      after.sequence < 1 ||
      !Number.isSafeInteger(after.position) ||
      after.position < 0)
  ) {
    throw new BftClientError(
      'misuse',
      `after must be { sequence, position } of an event, got ${JSON.stringify(after)}`,
    );
  }
  const candidates = options.node === undefined ? nodes : [options.node.replace(/\/+$/, '')];
  const giveUpAfterMs = options.giveUpAfterMs ?? 60_000;
  const firstDelayMs = options.reconnectDelayMs ?? 250;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) stop.abort();

  const state: FollowState = { last: after === undefined ? null : { ...after } };
  let nodeIndex = 0;
  let delayMs = firstDelayMs;
  let failingSince: number | null = null;
  try {
    while (!stop.signal.aborted) {
      const node = candidates[nodeIndex % candidates.length]!;
      const outcome = yield* connectOnce(node, state, options, stop.signal);
      if (stop.signal.aborted) return;
      if (outcome.streamed) {
        // It worked and dropped: the same node first, after the pause it asked for.
        failingSince = null;
        delayMs = outcome.retryMs ?? firstDelayMs;
        await pause(delayMs, stop.signal);
        continue;
      }
      nodeIndex++;
      const now = performance.now();
      failingSince ??= now;
      if (now - failingSince >= giveUpAfterMs) {
        throw new BftClientError(
          'unreachable',
          `no node gave a finalized stream for ${giveUpAfterMs} ms (last: ${outcome.problem})`,
        );
      }
      await pause(delayMs, stop.signal);
      delayMs = Math.min(RECONNECT_DELAY_MAX_MS, delayMs * 2);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}
