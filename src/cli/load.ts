/**
 * The load driver of `cretoai-node bench` and `up --load`: an open-loop load over the HTTP API,
 * with finality measured from the event stream.
 *
 * Open loop: vertex k is due at `start + k / rate` whatever the cluster does, and its finality
 * time counts from that moment, not from when it was sent. A cluster that falls behind therefore
 * shows its queueing in the percentiles instead of slowing the load down to what it can take
 * (coordinated omission). With `rate: 'max'` the driver keeps up to `window` vertices in flight
 * instead, as many as the cluster admits (see {@link InFlightLimit}).
 *
 * Vertices go out to the nodes in turn, in runs (see {@link RunDealer}), many per request (a
 * binary vertex list, `src/wire/vertex-list.ts`), at most a few requests in flight per node.
 * Finality is the moment the watched node's `GET /v1/events` reports the vertex. A 429 drops
 * the vertices it refused (they are not retried) and counts them as rejected.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import * as hdr from 'hdr-histogram-js';
import type { SubmitVerticesResponse } from '../client/api.ts';
import { readServerSentEvents } from '../client/sse.ts';
import { ArgumentError } from '../errors.ts';
import { createVertex, vertexKey } from '../protocol/index.ts';
import { encodeVertexList, VERTEX_LIST_MEDIA_TYPE } from '../wire/vertex-list.ts';

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Where vertices are submitted, in turn. */
  readonly nodes: readonly string[];
  /** The node whose event stream decides when a vertex is final. Default the first. */
  readonly watch?: string;
  /** Vertices offered per second, or 'max' to keep `window` in flight. */
  readonly rate: number | 'max';
  /** How long vertices are offered, warm-up included. */
  readonly durationMs: number;
  /** The first part of the run, not measured. Default 0. */
  readonly warmupMs?: number;
  /** Payload bytes per vertex. Default 128. */
  readonly payloadBytes?: number;
  /**
   * Vertices in flight with rate 'max', at most. Default {@link MAX_WINDOW_PER_NODE_DEFAULT} for
   * each of `nodes`.
   */
  readonly window?: number;
  /** Vertices per request. Default 1,024. */
  readonly requestVerticesMax?: number;
  /** Requests in flight per node. Default 4. */
  readonly requestsPerNodeMax?: number;
  /** How long to wait, after the last vertex is offered, for the rest to become final. Default 20,000 ms. */
  readonly drainTimeoutMs?: number;
  /** Called about once a second. */
  readonly onProgress?: (progress: LoadProgress) => void;
  /**
   * Stops the run at once when aborted (Ctrl-C): nothing more is offered, nothing is waited
   * for, and the report covers what happened until then.
   */
  readonly signal?: AbortSignal;
}

/** Where a run stands. */
export interface LoadProgress {
  readonly elapsedMs: number;
  readonly offered: number;
  readonly finalized: number;
  readonly rejected: number;
  readonly inFlight: number;
  /** Over the last progress interval. */
  readonly offeredPerSecond: number;
  readonly finalizedPerSecond: number;
  /** Over the measured vertices so far. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** What a run measured. */
export interface LoadReport {
  readonly rate: number | 'max';
  readonly payloadBytes: number;
  /** The measured window: from the end of the warm-up to the last vertex offered. */
  readonly measuredSeconds: number;
  readonly offered: number;
  /** Vertices offered in the measured window. */
  readonly measuredOffered: number;
  readonly accepted: number;
  /** Refused by the node it was offered to (a 429 when it is full, or another refusal). */
  readonly rejected: number;
  /** The refusals by the node's code for them (`full`, `expired`, ...), for a run that had any. */
  readonly rejectedByCode: Readonly<Record<string, number>>;
  /** Lost to a failed request (a node unreachable or answering 5xx). */
  readonly failed: number;
  /** The failed requests' vertices by cause: `HTTP <status>`, or the socket error's code. */
  readonly failedByCause: Readonly<Record<string, number>>;
  /** Accepted and final within the drain timeout. */
  readonly finalized: number;
  /** Accepted and not final when the drain timeout ran out. */
  readonly unfinished: number;
  /** Vertices offered per second in the measured window. */
  readonly offeredPerSecond: number;
  /** Vertices that became final per second in the measured window. */
  readonly finalizedPerSecond: number;
  /**
   * The watched node closed its event stream during the run (it stopped, or found this client
   * too slow): vertices final after that are counted as unfinished.
   */
  readonly eventStreamLost: boolean;
  /** Finality times of the measured vertices, milliseconds. */
  readonly latency: LatencySummary;
}

/** Percentiles of a latency histogram, milliseconds; all 0 when it holds no value. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/**
 * A histogram for latencies in microseconds, from 1 us to an hour at 3 significant digits: the
 * same resolution for every driver, so that their percentiles compare.
 */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/**
 * The percentiles of a {@link latencyHistogram}, in milliseconds. A percentile reads as the top
 * of its bucket, which can lie above the largest value recorded: it is capped at that value, so
 * that no percentile exceeds the maximum printed beside it.
 */
export function summarizeLatency(histogram: hdr.Histogram): LatencySummary {
  const empty = histogram.totalCount === 0;
  const maxMs = empty ? 0 : histogram.maxValue / 1000;
  const percentile = (p: number): number =>
    empty ? 0 : Math.min(maxMs, histogram.getValueAtPercentile(p) / 1000);
  return {
    count: histogram.totalCount,
    p50Ms: percentile(50),
    p90Ms: percentile(90),
    p99Ms: percentile(99),
    p999Ms: percentile(99.9),
    maxMs,
    meanMs: empty ? 0 : histogram.mean / 1000,
  };
}

const PROGRESS_MS = 1000;
/** How often a 'max' load tops its window up, and the longest a fixed-rate load sleeps. */
const TICK_MS = 5;

/**
 * How many vertices of an open-loop load at `rate` per second are due `elapsedMs` into a run of
 * `durationMs`: vertex k is due at k / rate, so vertex 0 is due at once and the last is the one
 * due before the end. Offering vertex k only once k + 1 were due would add a whole interval
 * (10 ms at 100/s) to every latency measured from the due time.
 */
export function verticesDue(elapsedMs: number, rate: number, durationMs: number): number {
  const total = Math.ceil((durationMs * rate) / 1000);
  if (elapsedMs >= durationMs) return total;
  return Math.min(total, Math.floor((elapsedMs * rate) / 1000) + 1);
}

/**
 * How long a fixed-rate load sleeps before its next offer: until vertex `next` is due, but at
 * least 1 ms (the timers' resolution) and at most one tick. Waking on the due time rather than
 * on a fixed tick keeps the driver's own lateness, which counts in every latency, near 1 ms.
 */
export function sleepBeforeNext(elapsedMs: number, next: number, rate: number): number {
  const untilDue = (next * 1000) / rate - elapsedMs;
  return Math.min(TICK_MS, Math.max(1, Math.ceil(untilDue)));
}

/**
 * Which node each vertex of a tick goes to: runs of the tick's share per node, but at least
 * `runMin` vertices, the first run to the next node in turn. Dealing vertices one by one sent
 * every node a request of a few vertices every tick: at 10,000/s, 800 requests a second of 12
 * vertices each where 200 of 50 carry the same load, and the HTTP cost of the surplus, on the
 * nodes and in the driver alike, competed with consensus for the same cores.
 */
export class RunDealer {
  readonly #nodes: number;
  readonly #runMin: number;
  #next = 0;
  #current = 0;
  #left = 0;
  #run: number;

  constructor(nodes: number, runMin = 64) {
    this.#nodes = nodes;
    this.#runMin = runMin;
    this.#run = runMin;
  }

  /** A tick is about to offer `count` vertices. */
  startTick(count: number): void {
    this.#run = Math.max(this.#runMin, Math.ceil(count / this.#nodes));
    this.#left = 0;
  }

  /** The node of the next vertex. */
  next(): number {
    if (this.#left === 0) {
      this.#current = this.#next;
      this.#next = (this.#next + 1) % this.#nodes;
      this.#left = this.#run;
    }
    this.#left--;
    return this.#current;
  }
}

/**
 * The vertices a 'max' load keeps in flight by default, for each node it submits to: a node
 * configured by `cretoai-node init` (the clusters of `up` and `bench`) admits 5,000 pending
 * vertices of its own clients (`pendingProposalsMax`), so a share no larger keeps every node
 * busy, and {@link InFlightLimit} backs off from a node that admits fewer. One window of 5,000
 * for four nodes left each a quarter, and a leader never saw the full batch wait at which it
 * pipelines (`pipelineFillVertices`).
 */
export const MAX_WINDOW_PER_NODE_DEFAULT = 5000;

/**
 * How many vertices a 'max' load keeps in flight: up to its window, but no more than the cluster
 * admits. A refusal as `full` lowers the limit below what the cluster held then (seven eighths),
 * and every tick without one raises it by a 1,024th, back toward the window, so that the driver
 * probes the cluster's admission about once a second. Offering the refused again at once, a
 * tick later, had the driver post tens of thousands of vertices a second only to be refused, on
 * the cores the cluster shares.
 */
export class InFlightLimit {
  readonly #window: number;
  readonly #floor: number;
  #limit: number;
  #refused = false;

  constructor(window: number, floor = 64) {
    this.#window = window;
    this.#floor = Math.min(floor, window);
    this.#limit = window;
  }

  /** The vertices to keep in flight now. */
  get limit(): number {
    return this.#limit;
  }

  /** A node refused vertices as `full` while `inFlight` others were in flight. */
  refused(inFlight: number): void {
    this.#limit = Math.max(this.#floor, Math.min(this.#limit, Math.floor((inFlight * 7) / 8)));
    this.#refused = true;
  }

  /** A tick begins: the limit grows unless a node refused since the last tick. */
  tick(): number {
    if (!this.#refused) this.#limit = Math.min(this.#window, this.#limit + Math.ceil(this.#limit / 1024));
    this.#refused = false;
    return this.#limit;
  }
}

/** Runs one load and reports what it measured. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const payloadBytes = options.payloadBytes ?? 128;
  if (!Number.isSafeInteger(payloadBytes) || payloadBytes < 16)
    throw new ArgumentError('payloadBytes must be at least 16');
  const warmupMs = options.warmupMs ?? 0;
  const perRequest = options.requestVerticesMax ?? 1024;
  const requestsPerNode = options.requestsPerNodeMax ?? 4;
  const limit = new InFlightLimit(options.window ?? MAX_WINDOW_PER_NODE_DEFAULT * options.nodes.length);
  const histogram = latencyHistogram();

  // Each vertex's payload: a run id, a counter, and filler, so that no two are alike.
  const runId = randomBytes(8);
  const filler = randomBytes(payloadBytes);
  const makePayload = (counter: number): Uint8Array => {
    const payload = Buffer.allocUnsafe(payloadBytes);
    filler.copy(payload);
    runId.copy(payload, 0);
    payload.writeDoubleBE(counter, 8);
    return payload;
  };

  /** Vertices offered and not yet final or dropped: hash -> due time. */
  const inFlight = new Map<string, number>();
  const queues: { payload: Uint8Array; validThrough: number; hash: string; due: number }[][] =
    options.nodes.map(() => []);
  const active = options.nodes.map(() => 0);
  let offered = 0;
  let measuredOffered = 0;
  let accepted = 0;
  let rejected = 0;
  const rejectedByCode: Record<string, number> = {};
  let failed = 0;
  const failedByCause: Record<string, number> = {};
  const fail = (batch: readonly { readonly hash: string }[], cause: string): void => {
    failed += batch.length;
    failedByCause[cause] = (failedByCause[cause] ?? 0) + batch.length;
    for (const entry of batch) inFlight.delete(entry.hash);
  };
  let finalized = 0;
  let finalizedInWindow = 0;
  const dealer = new RunDealer(options.nodes.length);

  // Each vertex is valid for half the horizon past the latest sequence seen final: the other
  // half leaves room for a node that lags behind the watched one.
  const watched = options.watch ?? options.nodes[0]!;
  const { sequence: startSequence, dedupHorizonSequences: horizon } = await fetchStatus(watched);
  let latestSequence = startSequence;
  const stream = await openEventStream(watched, (hash, sequence) => {
    if (sequence > latestSequence) latestSequence = sequence;
    const due = inFlight.get(hash);
    if (due === undefined) return;
    inFlight.delete(hash);
    finalized++;
    const now = performance.now();
    const sinceStart = now - start;
    if (sinceStart >= warmupMs && sinceStart <= options.durationMs) finalizedInWindow++;
    if (due - start >= warmupMs) histogram.recordValue(Math.max(1, Math.round((now - due) * 1000)));
    if (inFlight.size === 0) drained?.();
  });

  const send = (node: number): void => {
    const queue = queues[node]!;
    while (active[node]! < requestsPerNode && queue.length > 0) {
      const batch = queue.splice(0, perRequest);
      active[node]!++;
      postVertices(
        options.nodes[node]!,
        batch.map((entry) => ({ payload: entry.payload, validThrough: entry.validThrough })),
      ).then(
        (answer) => {
          active[node]!--;
          if (typeof answer === 'number') {
            fail(batch, `HTTP ${answer}`);
          } else {
            const refused = new Set(answer.rejected.map((entry) => entry.index));
            accepted += batch.length - refused.size;
            rejected += refused.size;
            for (const { code } of answer.rejected) rejectedByCode[code] = (rejectedByCode[code] ?? 0) + 1;
            for (const index of refused) inFlight.delete(batch[index]!.hash);
            if (answer.rejected.some((entry) => entry.code === 'full')) limit.refused(inFlight.size);
          }
          if (inFlight.size === 0) drained?.();
          send(node);
        },
        (error: unknown) => {
          active[node]!--;
          fail(batch, failureCause(error));
          if (inFlight.size === 0) drained?.();
          send(node);
        },
      );
    }
  };

  const offer = (due: number): void => {
    const validThrough = latestSequence + Math.max(1, Math.floor(horizon / 2));
    const vertex = createVertex(makePayload(offered), { validThrough });
    const hash = vertexKey(vertex);
    offered++;
    if (due - start >= warmupMs) measuredOffered++;
    inFlight.set(hash, due);
    queues[dealer.next()]!.push({ payload: vertex.payload, validThrough, hash, due });
  };

  let drained: (() => void) | null = null;
  const start = performance.now();
  let lastProgress = { at: start, offered: 0, finalized: 0 };
  const progress = (): void => {
    const now = performance.now();
    const seconds = (now - lastProgress.at) / 1000;
    options.onProgress?.({
      elapsedMs: now - start,
      offered,
      finalized,
      rejected,
      inFlight: inFlight.size,
      offeredPerSecond: (offered - lastProgress.offered) / seconds,
      finalizedPerSecond: (finalized - lastProgress.finalized) / seconds,
      p50Ms: histogram.totalCount === 0 ? 0 : histogram.getValueAtPercentile(50) / 1000,
      p99Ms: histogram.totalCount === 0 ? 0 : histogram.getValueAtPercentile(99) / 1000,
    });
    lastProgress = { at: now, offered, finalized };
  };
  const progressTimer = setInterval(progress, PROGRESS_MS);

  try {
    // Offer until the duration ends: each wake offers every vertex due by now.
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const stop = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', stop);
        resolve();
      };
      options.signal?.addEventListener('abort', stop, { once: true });
      const wake = (): void => {
        const now = performance.now();
        const elapsed = Math.min(now - start, options.durationMs);
        if (options.rate === 'max') {
          const inFlightMax = limit.tick();
          dealer.startTick(inFlightMax - inFlight.size);
          while (inFlight.size < inFlightMax) offer(now);
        } else {
          const due = verticesDue(elapsed, options.rate, options.durationMs);
          dealer.startTick(due - offered);
          while (offered < due) offer(start + (offered * 1000) / options.rate);
        }
        for (let node = 0; node < queues.length; node++) send(node);
        if (now - start >= options.durationMs) {
          stop();
          return;
        }
        const sleep = options.rate === 'max' ? TICK_MS : sleepBeforeNext(elapsed, offered, options.rate);
        timer = setTimeout(wake, sleep);
      };
      if (options.signal?.aborted) stop();
      else wake();
    });
    // Drain: wait for what is in flight, or the timeout (or the abort).
    if (inFlight.size > 0 && options.signal?.aborted !== true) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, options.drainTimeoutMs ?? 20_000);
        drained = done;
        options.signal?.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    clearInterval(progressTimer);
    stream.close();
  }
  progress();

  const measuredSeconds = Math.max(0.001, (options.durationMs - warmupMs) / 1000);
  return {
    rate: options.rate,
    payloadBytes,
    measuredSeconds,
    offered,
    measuredOffered,
    accepted,
    rejected,
    rejectedByCode,
    failed,
    failedByCause,
    finalized,
    unfinished: inFlight.size,
    eventStreamLost: stream.ended,
    offeredPerSecond: measuredOffered / measuredSeconds,
    finalizedPerSecond: finalizedInWindow / measuredSeconds,
    latency: summarizeLatency(histogram),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/**
 * POSTs vertices as a binary list (JSON would cost base64 and parsing on both sides, on the
 * cores the cluster shares); resolves with the node's answer (202 or 429), or null on another
 * status.
 */
function postVertices(
  node: string,
  vertices: readonly { readonly payload: Uint8Array; readonly validThrough: number }[],
): Promise<SubmitVerticesResponse | number> {
  const body = encodeVertexList(
    vertices.map(({ payload, validThrough }) => ({ payload, parents: [], validThrough })),
  );
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${node}/v1/vertices`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': VERTEX_LIST_MEDIA_TYPE, 'content-length': body.byteLength },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          if (response.statusCode !== 202 && response.statusCode !== 429) {
            resolve(response.statusCode ?? 0);
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as SubmitVerticesResponse);
          } catch (error) {
            reject(error);
          }
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** What a failed request's error says: its code (`ECONNRESET`, ...) or its message. */
export function failureCause(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

/** The node's sequence and validity horizon, from `GET /v1/status`. */
function fetchStatus(node: string): Promise<{ sequence: number; dedupHorizonSequences: number }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${node}/v1/status`, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          const status = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            sequence: number;
            dedupHorizonSequences: number;
          };
          resolve(status);
        } catch (error) {
          reject(error);
        }
      });
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/**
 * Opens `GET /v1/events` and calls `onFinal` with each finalized vertex's hash and sequence;
 * resolves once the stream is open.
 */
export function openEventStream(
  node: string,
  onFinal: (hash: string, sequence: number) => void,
): Promise<{ close(): void; readonly ended: boolean }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${node}/v1/events`, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${node} refused the event stream (${response.statusCode})`));
        return;
      }
      readServerSentEvents(response, (event) => {
        if (event.type !== 'finalized') return;
        const final = JSON.parse(event.data) as { hash: string; sequence: number };
        onFinal(final.hash, final.sequence);
      });
      let ended = false;
      let closing = false;
      response.on('error', () => undefined);
      response.on('close', () => {
        if (!closing) ended = true;
      });
      resolve({
        close: () => {
          closing = true;
          request.destroy();
        },
        get ended() {
          return ended;
        },
      });
    });
    request.on('error', reject);
  });
}
