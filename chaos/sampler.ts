/**
 * Samples every node's `GET /v1/status` about every 250 ms, each node on its own loop (a stopped
 * node's sample waits out its deadline without delaying the others'), for the view timelines
 * and the progress of the cluster.
 */
import type http from 'node:http';
import type { StatusResponse } from '../src/client/api.ts';
import { callJson, makeAgent } from './http.ts';

/** One answered sample. */
export interface StatusSample {
  readonly atMs: number;
  readonly view: number;
  readonly viewActive: boolean;
  readonly leader: string;
  readonly sequence: number;
  readonly durableSequence: number;
  readonly chainDigest: string;
  readonly pendingProposals: number;
}

export const SAMPLE_INTERVAL_MS = 250;
const SAMPLE_TIMEOUT_MS = 1000;

/** The fields the harness keeps from a status answer. */
export function sampleOf(status: StatusResponse, atMs: number): StatusSample {
  return {
    atMs,
    view: status.view,
    viewActive: status.viewActive,
    leader: status.leader,
    sequence: status.sequence,
    durableSequence: status.durableSequence,
    chainDigest: status.chainDigest,
    pendingProposals: status.pendingProposals,
  };
}

/** Fetches one node's status; null when it does not answer in time. */
export async function fetchStatus(
  agent: http.Agent,
  url: string,
  timeoutMs = SAMPLE_TIMEOUT_MS,
): Promise<StatusResponse | null> {
  try {
    const answer = await callJson(agent, `${url}/v1/status`, { timeoutMs });
    return answer.status === 200 ? (answer.body as StatusResponse) : null;
  } catch {
    return null;
  }
}

export class StatusSampler {
  /** Per node, every answered sample in time order. */
  readonly samples: StatusSample[][];
  readonly agent: http.Agent;
  readonly #urls: readonly string[];
  readonly #now: () => number;
  readonly #onSample: (sample: StatusSample, node: number) => void;
  readonly #timers: (NodeJS.Timeout | null)[];
  #closed = false;

  constructor(options: {
    readonly urls: readonly string[];
    readonly now: () => number;
    readonly onSample: (sample: StatusSample, node: number) => void;
  }) {
    this.#urls = options.urls;
    this.#now = options.now;
    this.#onSample = options.onSample;
    this.samples = options.urls.map(() => []);
    this.#timers = options.urls.map(() => null);
    this.agent = makeAgent(4);
  }

  start(): void {
    for (let node = 0; node < this.#urls.length; node++) void this.#loop(node);
  }

  /** The latest sample of `node`, if any. */
  latest(node: number): StatusSample | undefined {
    return this.samples[node]!.at(-1);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) if (timer !== null) clearTimeout(timer);
    this.agent.destroy();
  }

  async #loop(node: number): Promise<void> {
    if (this.#closed) return;
    const started = this.#now();
    const status = await fetchStatus(this.agent, this.#urls[node]!);
    if (this.#closed) return;
    if (status !== null) {
      const sample = sampleOf(status, this.#now());
      this.samples[node]!.push(sample);
      this.#onSample(sample, node);
    }
    const waitMs = Math.max(0, SAMPLE_INTERVAL_MS - (this.#now() - started));
    this.#timers[node] = setTimeout(() => void this.#loop(node), waitMs);
  }
}
