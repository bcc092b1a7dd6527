/**
 * The open-loop load: vertex k is due at `k / rate` seconds after the load starts, whatever the
 * cluster does; it goes to one node drawn from the seeded generator, in one `POST /v1/vertices`,
 * and is never sent again, whatever the answer. The ledger records every vertex with its
 * outcome: acknowledged (202, with the node and the moment), refused (an error status),
 * unreachable (connection refused: the node never saw it) or uncertain (no answer in time, or
 * the connection broke: the node may have taken it).
 */
import type http from 'node:http';
import { toHex } from '../src/crypto/index.ts';
import { createVertex } from '../src/protocol/index.ts';
import type { Prng } from '../src/sim/prng.ts';
import { CallError, callJson, makeAgent } from './http.ts';

/** What became of one submission. */
export type SubmitOutcome = 'acked' | 'refused' | 'unreachable' | 'uncertain' | 'in-flight' | 'not-sent';

/** One vertex of the load. */
export interface SubmittedVertex {
  readonly k: number;
  readonly hash: string;
  readonly node: number;
  /** Run time (ms) when it was due and sent. */
  readonly sentMs: number;
  outcome: SubmitOutcome;
  /** Run time (ms) of the answer; -1 without one. */
  answeredMs: number;
  /** The HTTP status of a refusal, else 0. */
  status: number;
}

/** Options of {@link OpenLoopLoad}. */
export interface LoadOptions {
  readonly urls: readonly string[];
  readonly ratePerSecond: number;
  readonly prng: Prng;
  /** Makes payloads unique to the run. */
  readonly label: string;
  /** Run time in ms. */
  readonly now: () => number;
  /**
   * The validThrough for a vertex submitted now: the client chooses it, so that it knows the
   * vertex's hash before any answer (an unanswered submission may still have been accepted).
   */
  readonly validThrough: () => number;
  /** How long a submission may wait for its answer. Default 10,000 ms. */
  readonly requestTimeoutMs?: number;
  /** Submissions awaiting an answer at once; a vertex due beyond it is recorded as not sent. Default 8,192. */
  readonly inFlightMax?: number;
}

/** Payload bytes per vertex: the label and number, padded, so every vertex costs the same. */
const PAYLOAD_BYTES = 64;
/** How often the load looks for due vertices. */
const TICK_MS = 5;

export class OpenLoopLoad {
  readonly vertices: SubmittedVertex[] = [];
  /** Answers that make no sense (a 202 naming another hash), for the report. */
  readonly anomalies: string[] = [];
  readonly #options: LoadOptions;
  readonly #agent: http.Agent;
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #startedMs = 0;

  constructor(options: LoadOptions) {
    this.#options = options;
    // A stopped node holds its sockets until it continues; the cap keeps that bounded.
    this.#agent = makeAgent(64);
  }

  /** Starts offering vertices. */
  start(): void {
    this.#startedMs = this.#options.now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** Stops offering vertices and waits for every submission in flight to be answered or time out. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    this.#agent.destroy();
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  #tick(): void {
    const { ratePerSecond, now } = this.#options;
    const due = Math.floor(((now() - this.#startedMs) * ratePerSecond) / 1000);
    while (this.vertices.length < due) this.#submit(this.vertices.length);
  }

  #submit(k: number): void {
    const { urls, prng, label, now } = this.#options;
    const node = prng.int(urls.length);
    const text = `chaos ${label} ${k} `;
    const payload = new TextEncoder().encode(text.padEnd(PAYLOAD_BYTES, '.'));
    const validThrough = this.#options.validThrough();
    const vertex: SubmittedVertex = {
      k,
      hash: toHex(createVertex(payload, { validThrough }).hash),
      node,
      sentMs: now(),
      outcome: 'in-flight',
      answeredMs: -1,
      status: 0,
    };
    this.vertices.push(vertex);
    if (this.#inFlight.size >= (this.#options.inFlightMax ?? 8192)) {
      vertex.outcome = 'not-sent';
      return;
    }
    const sent = callJson(this.#agent, `${urls[node]}/v1/vertices`, {
      method: 'POST',
      body: { payload: Buffer.from(payload).toString('base64'), validThrough },
      timeoutMs: this.#options.requestTimeoutMs ?? 10_000,
    }).then(
      (answer) => {
        vertex.answeredMs = now();
        vertex.status = answer.status;
        if (answer.status !== 202) {
          vertex.outcome = 'refused';
          return;
        }
        const hash = (answer.body as { hash?: unknown } | null)?.hash;
        if (hash !== vertex.hash) {
          this.anomalies.push(`node-${node} acknowledged vertex ${k} as ${String(hash)}, not ${vertex.hash}`);
        }
        vertex.outcome = 'acked';
      },
      (error: unknown) => {
        vertex.outcome = error instanceof CallError && error.kind === 'refused' ? 'unreachable' : 'uncertain';
      },
    );
    const tracked = sent.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }
}
