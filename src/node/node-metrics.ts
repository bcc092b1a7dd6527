/**
 * The metrics a node exports next to the engine's (`createConsensusMetrics`): the HTTP API, the
 * quorum watch and the store scrub, each made by one factory so that every name, help text and
 * label set is declared in one place. Values that another object already counts are read at
 * scrape time (`collect`) rather than copied on every change.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { QuorumReading } from './quorum-watch.ts';

/** Why the HTTP server refused a connection. */
export const CONNECTION_REFUSALS = Object.freeze(['total', 'per-address'] as const);
export type ConnectionRefusal = (typeof CONNECTION_REFUSALS)[number];

/** Errors a client causes, as counted. */
export const CLIENT_ERROR_KINDS = Object.freeze([
  // The request ended before its answer: the client closed or reset the connection (an
  // aborted body), or sent nothing for `socketIdleTimeoutMs` in the middle of it.
  'aborted',
  // The request head or the whole request took longer than its deadline.
  'timeout',
  // The request head exceeded Node's header size limit.
  'headers-too-large',
  // Bytes that are not HTTP/1.1.
  'malformed',
] as const);
export type ClientErrorKind = (typeof CLIENT_ERROR_KINDS)[number];

/** The HTTP API's metrics. */
export interface HttpMetrics {
  readonly requests: Counter<'route' | 'code'>;
  readonly connectionsRefused: Counter<'reason'>;
  readonly clientErrors: Counter<'kind'>;
}

/** What the HTTP metrics read when scraped. */
export interface HttpMetricSources {
  /** Connections open now. */
  readonly openConnections: () => number;
  /** Event-stream clients dropped so far for reading too slowly. */
  readonly eventClientsDropped: () => number;
}

export function createHttpMetrics(registry: Registry, sources: HttpMetricSources): HttpMetrics {
  const requests = new Counter({
    name: 'cretoai_http_requests_total',
    help: 'HTTP API requests answered, by route and status code',
    labelNames: ['route', 'code'],
    registers: [registry],
  });
  readAtScrape(
    registry,
    'cretoai_event_clients_dropped_total',
    'Event-stream clients disconnected because they read slower than vertices were finalized',
    sources.eventClientsDropped,
  );
  new Gauge({
    name: 'cretoai_http_connections_open',
    help: 'HTTP API connections open now (at most http.connectionsMax)',
    registers: [registry],
    collect() {
      this.set(sources.openConnections());
    },
  });
  const connectionsRefused = new Counter({
    name: 'cretoai_http_connections_refused_total',
    help: 'HTTP API connections closed on arrival: over http.connectionsMax ("total") or http.connectionsPerAddressMax ("per-address")',
    labelNames: ['reason'],
    registers: [registry],
  });
  const clientErrors = new Counter({
    name: 'cretoai_http_client_errors_total',
    help: 'HTTP requests that failed through the client: gone before the answer, too slow, headers too large, not HTTP',
    labelNames: ['kind'],
    registers: [registry],
  });
  // Every series from the start, so that rates and alerts see a zero rather than no data.
  for (const reason of CONNECTION_REFUSALS) connectionsRefused.inc({ reason }, 0);
  for (const kind of CLIENT_ERROR_KINDS) clientErrors.inc({ kind }, 0);
  return { requests, connectionsRefused, clientErrors };
}

/** The quorum watch's metrics: the gauges read the watch when scraped. */
export interface QuorumMetrics {
  readonly losses: Counter;
}

export function createQuorumMetrics(registry: Registry, reading: () => QuorumReading): QuorumMetrics {
  const losses = new Counter({
    name: 'cretoai_quorum_losses_total',
    help: 'Times this node lost sight of a quorum of validators (debounced: each loss lasted quorumDebounceMs)',
    registers: [registry],
  });
  const gauge = (name: string, help: string, value: (reading: QuorumReading) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(reading()));
      },
    });
  };
  gauge(
    'cretoai_validators_reachable',
    'Validators this node reaches: itself and the peers it has a working connection to',
    (now) => now.reachable,
  );
  gauge(
    'cretoai_quorum_reachable',
    'Whether this node reaches a quorum of validators (1) or not (0): without one nothing is finalized',
    (now) => (now.available ? 1 : 0),
  );
  gauge('cretoai_quorum_size', 'Validators needed for a quorum', (now) => now.needed);
  return { losses };
}

/** The background store scrub's counters, read from its running totals. */
export function registerScrubMetrics(
  registry: Registry,
  stats: { readonly records: number; readonly passes: number },
): void {
  readAtScrape(
    registry,
    'cretoai_store_scrub_records_total',
    'Store records the background scrub has read and checked',
    () => stats.records,
  );
  readAtScrape(
    registry,
    'cretoai_store_scrub_passes_total',
    'Full passes of the background scrub over the store that found nothing wrong',
    () => stats.passes,
  );
}

/** A counter whose value another object keeps: set from `total` at each scrape. */
function readAtScrape(registry: Registry, name: string, help: string, total: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(total());
    },
  });
}
