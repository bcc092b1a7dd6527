/**
 * One fuzz run: a seeded fast-check property over inputs applied to a long-lived cluster
 * (state carries over between inputs, which is where the bugs are; a fresh cluster every
 * `resetEvery` inputs revisits the start). Shrinking makes no sense with carried-over state,
 * so the first failure ends the run and the seed replays it.
 */
import fc from 'fast-check';
import { FuzzCluster, type FuzzOutcomes } from './cluster.ts';
import { applyInput, fuzzInputArbitrary } from './inputs.ts';

export interface FuzzOptions {
  readonly runs: number;
  readonly seed: number;
  readonly resetEvery: number;
  readonly onProgress?: (done: number) => void;
  /** Test-only: rewires each fresh cluster, to show that a broken target is caught. */
  readonly alterCluster?: (cluster: FuzzCluster) => void;
}

export interface FuzzReport {
  readonly failure: string | null;
  readonly outcomes: FuzzOutcomes;
  readonly highestFinalized: number;
  readonly clusters: number;
  readonly footprint: Record<string, { readonly size: number; readonly bound: number }>;
  readonly seconds: number;
  readonly heapMiB: number;
}

export function runFuzz(options: FuzzOptions): FuzzReport {
  const outcomes: FuzzOutcomes = { malformed: 0, invalidSignature: 0, accepted: 0, ignored: 0, rejected: 0 };
  const footprint: Record<string, { size: number; bound: number }> = {};
  const freshCluster = (): FuzzCluster => {
    const fresh = new FuzzCluster();
    options.alterCluster?.(fresh);
    return fresh;
  };
  let cluster = freshCluster();
  let clusters = 1;
  let done = 0;
  let highestFinalized = 0;
  let failure: string | null = null;
  const started = performance.now();

  const retire = (): void => {
    for (const key of Object.keys(outcomes) as (keyof FuzzOutcomes)[]) outcomes[key] += cluster.outcomes[key];
    highestFinalized = Math.max(highestFinalized, cluster.highestFinalized);
  };
  const checkFootprint = (): void => {
    for (const [name, entry] of Object.entries(cluster.footprint())) {
      const seen = footprint[name];
      if (seen === undefined || entry.size > seen.size) footprint[name] = { ...entry };
      if (entry.size > entry.bound)
        throw new Error(`state map '${name}' holds ${entry.size}, over its bound ${entry.bound}`);
    }
  };

  try {
    fc.assert(
      fc.property(fuzzInputArbitrary(), (input) => {
        if (done > 0 && done % options.resetEvery === 0) {
          retire();
          cluster = freshCluster();
          clusters++;
        }
        applyInput(cluster, input);
        done++;
        if (done % 500 === 0) {
          checkFootprint();
          options.onProgress?.(done);
        }
      }),
      { seed: options.seed, numRuns: options.runs, endOnFailure: true },
    );
    checkFootprint();
  } catch (error) {
    failure = describeFailure(error);
  }
  retire();
  return {
    failure,
    outcomes,
    highestFinalized,
    clusters,
    footprint,
    seconds: (performance.now() - started) / 1000,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

/** fast-check's report (seed, path, counterexample, trimmed) and the error the target threw. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const [summary = '', where = '', counterexample = ''] = error.message.split('\n');
  const cause =
    error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : String(error.cause ?? '');
  const shortExample = counterexample.length > 600 ? `${counterexample.slice(0, 600)}...` : counterexample;
  return [summary, where, shortExample, cause.split('\n').slice(0, 8).join('\n')].filter(Boolean).join('\n');
}
