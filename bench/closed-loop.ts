/**
 * A closed-loop load against any system: `clients` callers, each with one request in flight,
 * issuing the next as soon as the previous one is done. It knows nothing of the system: a
 * {@link PutFunction} does one request and resolves when the system has done it, so that
 * `npm run bench:compare` drives etcd and cretoai through the same loop and the same histogram.
 *
 * Closed loop, unlike the open loop of `cretoai-node bench`: a slow answer delays the caller's
 * next request, so the offered rate follows the system. That is what a user with N concurrent
 * callers sees, and it needs no rate to be chosen per system; the latencies are of the requests
 * actually made (no queueing before the send is counted).
 *
 * Time comes from `now` (milliseconds), so that tests run the loop on a virtual clock.
 */

import { type LatencySummary, latencyHistogram, summarizeLatency } from '../src/cli/load.ts';
import { ArgumentError } from '../src/errors.ts';

/**
 * Does one request for caller `client` (its `request`-th, from 0) and resolves once the
 * system has done it; rejects when it failed.
 */
export type PutFunction = (client: number, request: number) => Promise<void>;

/** Options of {@link runClosedLoop}. */
export interface ClosedLoopOptions {
  /** Callers, each with one request in flight. */
  readonly clients: number;
  /** How long callers start requests, warm-up included. */
  readonly durationMs: number;
  /** The first part of the run, not measured. Default 0. */
  readonly warmupMs?: number;
  readonly put: PutFunction;
  /** The clock, in milliseconds. Default `performance.now`. */
  readonly now?: () => number;
  /** Failed requests after which the run stops and rejects. Default 100. */
  readonly failuresMax?: number;
}

/** What a closed-loop run measured. */
export interface ClosedLoopSummary {
  readonly clients: number;
  /** From the end of the warm-up to the end of the run. */
  readonly measuredSeconds: number;
  /** Requests done within the measured window. */
  readonly completed: number;
  /** Requests that failed, over the whole run. */
  readonly failed: number;
  /** `completed` per second of the measured window. */
  readonly opsPerSecond: number;
  /** Of the requests started in the measured window, from start to done. */
  readonly latency: LatencySummary;
}

/** Thrown when more requests failed than the run allows. */
export class TooManyFailuresError extends Error {
  readonly failures: number;

  constructor(failures: number, last: unknown) {
    super(`${failures} requests failed; the last: ${last instanceof Error ? last.message : String(last)}`, {
      cause: last,
    });
    this.name = 'TooManyFailuresError';
    this.failures = failures;
  }
}

/**
 * Runs `clients` closed loops of `put` for `durationMs` and summarizes them. A request started
 * before the end is waited for; one that fails counts as failed, and its caller goes on.
 *
 * @throws TooManyFailuresError once more than `failuresMax` requests failed (after every
 *   caller's request in flight is done).
 */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopSummary> {
  const { clients, durationMs, put } = options;
  const warmupMs = options.warmupMs ?? 0;
  const failuresMax = options.failuresMax ?? 100;
  const now = options.now ?? (() => performance.now());
  if (!Number.isSafeInteger(clients) || clients < 1)
    throw new ArgumentError(`clients must be a positive integer, got ${clients}`);
  if (!(durationMs > 0 && warmupMs >= 0 && warmupMs < durationMs))
    throw new ArgumentError(
      `warmupMs (${warmupMs}) must be at least 0 and less than durationMs (${durationMs})`,
    );

  const histogram = latencyHistogram();
  const start = now();
  const measuredFrom = start + warmupMs;
  const end = start + durationMs;
  let completed = 0;
  let failed = 0;
  let lastFailure: unknown = null;

  const caller = async (client: number): Promise<void> => {
    for (let request = 0; failed <= failuresMax; request++) {
      const startedAt = now();
      if (startedAt >= end) return;
      try {
        await put(client, request);
      } catch (error) {
        failed++;
        lastFailure = error;
        continue;
      }
      const doneAt = now();
      // Done in the window counts towards throughput; started in it, towards latency.
      if (doneAt > measuredFrom && doneAt <= end) completed++;
      if (startedAt >= measuredFrom)
        histogram.recordValue(Math.max(1, Math.round((doneAt - startedAt) * 1000)));
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => caller(client)));
  if (failed > failuresMax) throw new TooManyFailuresError(failed, lastFailure);

  const measuredSeconds = (durationMs - warmupMs) / 1000;
  return {
    clients,
    measuredSeconds,
    completed,
    failed,
    opsPerSecond: completed / measuredSeconds,
    latency: summarizeLatency(histogram),
  };
}
