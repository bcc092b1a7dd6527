/**
 * What `GET /v1/status` reports beyond the engine's present state, for the status page: recent
 * view changes (a small ring fed by the engine's events), finality quantiles over a recent
 * window, and the running count of finalized vertices.
 *
 * Finality is computed from the node's `consensus_finality_time_seconds` histogram, not from a
 * second record of every vertex: each status request snapshots the histogram's cumulative bucket
 * counts, and the quantiles are those of the difference between now and the snapshot taken about
 * {@link FINALITY_WINDOW_MS} earlier. The snapshots are a bounded ring, taken only when someone
 * asks, so an idle node keeps nothing and runs no timer.
 */
import type { Registry } from 'prom-client';
import type { FinalityQuantiles, ViewChangeRecord } from '../client/api.ts';
import type { BftEngine } from '../engine/index.ts';
import { primaryOf } from '../protocol/index.ts';

/** The view changes kept for the status page. */
export const RECENT_VIEW_CHANGES_MAX = 16;
/** The window finality quantiles cover. */
export const FINALITY_WINDOW_MS = 10_000;
/** Snapshots closer together than this replace each other, so that many callers cost no memory. */
const SNAPSHOT_SPACING_MS = 250;
/** A bound on the ring, whatever the window and spacing. */
const SNAPSHOTS_MAX = 64;

const FINALITY_METRIC = 'consensus_finality_time_seconds';
const FINALIZED_METRIC = 'consensus_vertices_finalized_total';

/** Cumulative bucket counts of the finality histogram at one moment. */
interface HistogramSnapshot {
  readonly atMs: number;
  /** Per finite upper bound (ascending), observations at or below it. */
  readonly cumulative: readonly number[];
  readonly count: number;
}

/** What prom-client's `Metric.get()` answers, as far as this file reads it. */
interface MetricValues {
  readonly values: readonly {
    readonly value: number;
    readonly metricName?: string;
    readonly labels: Readonly<Record<string, string | number>>;
  }[];
}

export class StatusHistory {
  readonly #registry: Registry;
  readonly #nowMs: () => number;
  readonly #startedAtMs: number;
  readonly #viewChanges: ViewChangeRecord[] = [];
  #snapshots: HistogramSnapshot[] = [];
  #bounds: readonly number[] | null = null;

  constructor(options: { engine: BftEngine; registry: Registry; nowMs?: () => number }) {
    const { engine } = options;
    this.#registry = options.registry;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#startedAtMs = this.#nowMs();
    const leaderOf = (view: number): string =>
      engine.config.validators[primaryOf(engine.config.replica, view)]!;
    engine.on('view-change', ({ view, reason }) => {
      this.#record(view, leaderOf(view), { reason, startedAt: this.#isoNow() });
    });
    engine.on('view-entered', ({ view, leader }) => {
      this.#record(view, leader, { enteredAt: this.#isoNow() });
    });
  }

  /** The latest view changes, oldest first. */
  recentViewChanges(): readonly ViewChangeRecord[] {
    return this.#viewChanges.map((record) => ({ ...record }));
  }

  /** The finality quantiles over about the last {@link FINALITY_WINDOW_MS}, and the finalized count. */
  async sample(): Promise<{ finality: FinalityQuantiles; finalizedTotal: number }> {
    const finalized = this.#registry.getSingleMetric(FINALIZED_METRIC);
    const finalizedTotal =
      finalized === undefined ? 0 : (((await finalized.get()) as MetricValues).values[0]?.value ?? 0);
    const snapshot = await this.#snapshot();
    if (snapshot === null) return { finality: emptyFinality(0), finalizedTotal };
    const baseline: HistogramSnapshot =
      this.#snapshots[0] !== snapshot
        ? this.#snapshots[0]!
        : { atMs: this.#startedAtMs, cumulative: snapshot.cumulative.map(() => 0), count: 0 };
    const count = snapshot.count - baseline.count;
    const windowSeconds = Math.round((snapshot.atMs - baseline.atMs) / 100) / 10;
    if (count <= 0) return { finality: emptyFinality(windowSeconds), finalizedTotal };
    const bounds = this.#bounds!;
    const cumulative = snapshot.cumulative.map((value, i) => value - baseline.cumulative[i]!);
    const quantile = (q: number): number | null => histogramQuantile(q, bounds, cumulative, count);
    return {
      finality: { p50: quantile(0.5), p99: quantile(0.99), p999: quantile(0.999), count, windowSeconds },
      finalizedTotal,
    };
  }

  /** Takes a snapshot of the finality histogram into the ring; null if it is not registered. */
  async #snapshot(): Promise<HistogramSnapshot | null> {
    const metric = this.#registry.getSingleMetric(FINALITY_METRIC);
    if (metric === undefined) return null;
    const { values } = (await metric.get()) as MetricValues;
    const buckets: [number, number][] = [];
    let count = 0;
    for (const value of values) {
      if (value.metricName === `${FINALITY_METRIC}_count`) count = value.value;
      else if (value.metricName === `${FINALITY_METRIC}_bucket` && value.labels.le !== '+Inf')
        buckets.push([Number(value.labels.le), value.value]);
    }
    buckets.sort((a, b) => a[0] - b[0]);
    this.#bounds ??= buckets.map(([bound]) => bound);
    const snapshot: HistogramSnapshot = {
      atMs: this.#nowMs(),
      cumulative: buckets.map(([, cumulative]) => cumulative),
      count,
    };
    const ring = this.#snapshots;
    const newest = ring.at(-1);
    if (newest !== undefined && snapshot.atMs - newest.atMs < SNAPSHOT_SPACING_MS && ring.length > 1)
      ring.pop();
    ring.push(snapshot);
    // Keep the newest snapshot at or before the window's start as the baseline, and what follows.
    while (ring.length > 2 && ring[1]!.atMs <= snapshot.atMs - FINALITY_WINDOW_MS) ring.shift();
    if (ring.length > SNAPSHOTS_MAX) ring.shift();
    return snapshot;
  }

  #record(view: number, leader: string, fields: Partial<ViewChangeRecord>): void {
    const ring = this.#viewChanges;
    const index = ring.findIndex((record) => record.view === view);
    if (index >= 0) {
      ring[index] = { ...ring[index]!, ...fields };
      return;
    }
    ring.push({ view, leader, reason: null, startedAt: null, enteredAt: null, ...fields });
    ring.sort((a, b) => a.view - b.view);
    while (ring.length > RECENT_VIEW_CHANGES_MAX) ring.shift();
  }

  #isoNow(): string {
    return new Date(this.#nowMs()).toISOString();
  }
}

function emptyFinality(windowSeconds: number): FinalityQuantiles {
  return { p50: null, p99: null, p999: null, count: 0, windowSeconds };
}

/**
 * The `q` quantile of a histogram as Prometheus's `histogram_quantile` estimates it: find the
 * bucket holding the rank `q * count` and interpolate linearly inside it (the first bucket starts
 * at 0). A rank beyond the last finite bound answers that bound. Null for an empty histogram.
 *
 * @param bounds - the finite upper bounds, ascending.
 * @param cumulative - per bound, the observations at or below it.
 * @param count - all observations (the +Inf bucket).
 */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  cumulative: readonly number[],
  count: number,
): number | null {
  if (count <= 0 || bounds.length === 0) return null;
  const rank = q * count;
  for (let i = 0; i < bounds.length; i++) {
    const atOrBelow = cumulative[i]!;
    if (atOrBelow < rank) continue;
    const below = i === 0 ? 0 : cumulative[i - 1]!;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    const inBucket = atOrBelow - below;
    if (inBucket <= 0) return lower;
    return lower + ((bounds[i]! - lower) * (rank - below)) / inBucket;
  }
  return bounds.at(-1)!;
}
