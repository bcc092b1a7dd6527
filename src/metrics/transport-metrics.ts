/**
 * The consensus transport's Prometheus metrics: what unauthenticated connections and slow or
 * lost peers cost, counted where logs only sample it (the node logs one `handshake-refused`
 * line per interval and a summary; see `src/node/log-limiter.ts`). An alert on
 * `rate(cretoai_transport_handshakes_refused_total[5m])` sees a flood the logs no longer spell
 * out line by line.
 *
 * The transport keeps its own counters (`StreamTransport.stats()`); these metrics read them at
 * scrape time (`collect`), as `cretoai_event_clients_dropped_total` reads the event hub's, so
 * the transport needs no knowledge of Prometheus. Labels are the keys of the transport's
 * counter records, so a refusal code or drop reason the transport adds appears without a
 * change here; every one is exported from the first scrape on, at 0 until it happens, so that
 * `rate()` and `increase()` see the first occurrence.
 *
 * Names are part of the public surface (dashboards and alerts query them): never rename one
 * once released; add a new one instead.
 */
import { Counter, type Registry } from 'prom-client';
import type { StreamTransportStats } from '../transport/stream-transport.ts';

/** What these metrics read of a transport: the counters of `StreamTransport.stats()`. */
export interface TransportStatsSource {
  stats(): Pick<
    StreamTransportStats,
    | 'handshakesRefused'
    | 'handshakeSignatures'
    | 'framesDropped'
    | 'linkFailures'
    | 'misbehaviours'
    | 'duplicateIdentityDetections'
    | 'duplicateConnectionsRefused'
    | 'connectionsEstablished'
    | 'connectionsReplaced'
    | 'connectionsLost'
  >;
}

export interface TransportMetrics {
  /** Connections that never became an authenticated peer, by refusal code. */
  readonly handshakesRefused: Counter<'code'>;
  /** ML-DSA-87 signatures this node made for handshakes. */
  readonly handshakeSignatures: Counter;
  /** Frames the transport dropped, by reason. */
  readonly framesDropped: Counter<'reason'>;
  /** Connections closed for bytes that did not open or frame, by failure; no peer is blamed. */
  readonly linkFailures: Counter<'failure'>;
  /** Authenticated peers disconnected for a frame the engine could not decode. */
  readonly peerMisbehaviours: Counter;
  /** Peer connections established, replaced by a newer one, and lost. */
  readonly connections: Counter<'event'>;
  /** Times two live processes were seen using one validator's key. */
  readonly duplicateIdentityDetections: Counter;
  /** Authenticated connections refused as a detected duplicate of a connected validator. */
  readonly duplicateConnectionsRefused: Counter;
}

/**
 * Registers the transport metrics of `transport` in `registry` and returns them. Call once per
 * registry: a second call on the same registry throws, as prom-client refuses duplicate names.
 */
export function createTransportMetrics(
  registry: Registry,
  transport: TransportStatsSource,
): TransportMetrics {
  const registers = [registry];
  return {
    handshakesRefused: new Counter({
      name: 'cretoai_transport_handshakes_refused_total',
      help: 'Consensus connections refused before they authenticated a validator, on either side, by code (busy: refused unread because too many handshakes were in progress)',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset();
        for (const [code, count] of Object.entries(transport.stats().handshakesRefused))
          this.inc({ code }, count);
      },
    }),
    handshakeSignatures: new Counter({
      name: 'cretoai_transport_handshake_signatures_total',
      help: 'ML-DSA-87 signatures this node made for consensus handshakes (made only after the other side proved its key, so a flood of strangers leaves it flat)',
      registers,
      collect() {
        this.reset();
        this.inc(transport.stats().handshakeSignatures);
      },
    }),
    framesDropped: new Counter({
      name: 'cretoai_transport_frames_dropped_total',
      help: 'Consensus frames dropped by the transport, by reason (queue-full: a peer read too slowly; unreachable: no connection to the peer; disconnected: queued when its connection closed)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(transport.stats().framesDropped))
          this.inc({ reason }, count);
      },
    }),
    linkFailures: new Counter({
      name: 'cretoai_transport_link_failures_total',
      help: 'Consensus connections closed for bytes that did not open under the session key or declared a frame over the bound, by failure (no peer is blamed: anyone on the path could have sent them)',
      labelNames: ['failure'],
      registers,
      collect() {
        this.reset();
        for (const [failure, count] of Object.entries(transport.stats().linkFailures))
          this.inc({ failure }, count);
      },
    }),
    peerMisbehaviours: new Counter({
      name: 'cretoai_transport_peer_misbehaviours_total',
      help: 'Authenticated peers disconnected for a frame that opened under the session key and did not decode',
      registers,
      collect() {
        this.reset();
        this.inc(transport.stats().misbehaviours);
      },
    }),
    connections: new Counter({
      name: 'cretoai_transport_connections_total',
      help: 'Authenticated peer connections, by event (established: a peer connected; replaced: a newer connection of a connected peer took over; lost: a peer connection closed)',
      labelNames: ['event'],
      registers,
      collect() {
        this.reset();
        const stats = transport.stats();
        this.inc({ event: 'established' }, stats.connectionsEstablished);
        this.inc({ event: 'replaced' }, stats.connectionsReplaced);
        this.inc({ event: 'lost' }, stats.connectionsLost);
      },
    }),
    duplicateIdentityDetections: new Counter({
      name: 'cretoai_transport_duplicate_identity_detections_total',
      help: "Times two live processes were seen using one validator's key (an instance replaced by another connected again): stop one of them",
      registers,
      collect() {
        this.reset();
        this.inc(transport.stats().duplicateIdentityDetections);
      },
    }),
    duplicateConnectionsRefused: new Counter({
      name: 'cretoai_transport_duplicate_connections_refused_total',
      help: 'Authenticated consensus connections refused because they came from the later of two live processes with one key',
      registers,
      collect() {
        this.reset();
        this.inc(transport.stats().duplicateConnectionsRefused);
      },
    }),
  };
}
