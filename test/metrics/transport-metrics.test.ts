/**
 * The transport metrics (src/metrics/transport-metrics.ts) read a transport's counters at scrape
 * time: names, labels and values follow its `stats()`, every code and reason from the first
 * scrape on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createTransportMetrics, type TransportStatsSource } from '../../src/metrics/index.ts';
import {
  DROP_REASONS,
  HANDSHAKE_REFUSAL_CODES,
  LINK_FAILURES,
  type StreamTransportStats,
} from '../../src/transport/index.ts';

type Counted = ReturnType<TransportStatsSource['stats']>;

/** A transport that is only its counters, changed by the test. */
function fakeTransport(): { transport: TransportStatsSource; stats: Counted } {
  const stats: Counted = {
    handshakesRefused: Object.fromEntries(HANDSHAKE_REFUSAL_CODES.map((code) => [code, 0])) as Record<
      (typeof HANDSHAKE_REFUSAL_CODES)[number],
      number
    >,
    framesDropped: Object.fromEntries(
      DROP_REASONS.map((reason) => [reason, 0]),
    ) as StreamTransportStats['framesDropped'],
    linkFailures: Object.fromEntries(
      LINK_FAILURES.map((failure) => [failure, 0]),
    ) as StreamTransportStats['linkFailures'],
    handshakeSignatures: 0,
    misbehaviours: 0,
    duplicateIdentityDetections: 0,
    duplicateConnectionsRefused: 0,
    connectionsEstablished: 0,
    connectionsReplaced: 0,
    connectionsLost: 0,
  };
  // stats() answers a copy, as StreamTransport.stats() does.
  const transport = { stats: () => structuredClone(stats) };
  return { transport, stats };
}

/** The samples of one metric, as `{ 'labels': value }`. */
async function samples(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  const { values } = await metric.get();
  return Object.fromEntries(values.map((value) => [JSON.stringify(value.labels), value.value]));
}

test('every refusal code and drop reason is exported at 0 from the first scrape', async () => {
  const registry = new Registry();
  createTransportMetrics(registry, fakeTransport().transport);
  const refused = await samples(registry, 'cretoai_transport_handshakes_refused_total');
  assert.deepEqual(
    refused,
    Object.fromEntries(HANDSHAKE_REFUSAL_CODES.map((code) => [JSON.stringify({ code }), 0])),
  );
  const dropped = await samples(registry, 'cretoai_transport_frames_dropped_total');
  assert.deepEqual(
    dropped,
    Object.fromEntries(DROP_REASONS.map((reason) => [JSON.stringify({ reason }), 0])),
  );
  assert.deepEqual(
    await samples(registry, 'cretoai_transport_link_failures_total'),
    Object.fromEntries(LINK_FAILURES.map((failure) => [JSON.stringify({ failure }), 0])),
  );
  assert.deepEqual(await samples(registry, 'cretoai_transport_peer_misbehaviours_total'), { '{}': 0 });
});

test("the counters are the transport's own at each scrape", async () => {
  const registry = new Registry();
  const { transport, stats } = fakeTransport();
  createTransportMetrics(registry, transport);
  stats.handshakesRefused['bad-signature'] = 48_723;
  stats.handshakesRefused.busy = 12;
  stats.framesDropped['queue-full'] = 7;
  stats.linkFailures['unauthenticated-frame'] = 4;
  stats.handshakeSignatures = 9;
  stats.misbehaviours = 2;
  stats.duplicateIdentityDetections = 3;
  stats.duplicateConnectionsRefused = 5;
  stats.connectionsReplaced = 6;
  const text = await registry.metrics();
  assert.match(text, /^cretoai_transport_connections_total\{event="replaced"\} 6$/m);
  assert.match(text, /^cretoai_transport_duplicate_identity_detections_total 3$/m);
  assert.match(text, /^cretoai_transport_duplicate_connections_refused_total 5$/m);
  assert.match(text, /^cretoai_transport_link_failures_total\{failure="unauthenticated-frame"\} 4$/m);
  assert.match(text, /^cretoai_transport_handshake_signatures_total 9$/m);
  assert.match(text, /^# TYPE cretoai_transport_handshakes_refused_total counter$/m);
  assert.match(text, /^cretoai_transport_handshakes_refused_total\{code="bad-signature"\} 48723$/m);
  assert.match(text, /^cretoai_transport_handshakes_refused_total\{code="busy"\} 12$/m);
  assert.match(text, /^cretoai_transport_handshakes_refused_total\{code="malformed"\} 0$/m);
  assert.match(text, /^# TYPE cretoai_transport_frames_dropped_total counter$/m);
  assert.match(text, /^cretoai_transport_frames_dropped_total\{reason="queue-full"\} 7$/m);
  assert.match(text, /^cretoai_transport_frames_dropped_total\{reason="unreachable"\} 0$/m);
  assert.match(text, /^# TYPE cretoai_transport_peer_misbehaviours_total counter$/m);
  assert.match(text, /^cretoai_transport_peer_misbehaviours_total 2$/m);
  // A later scrape sees the counters as they are then, not added to the last scrape's.
  stats.handshakesRefused['bad-signature'] = 50_000;
  stats.misbehaviours = 3;
  assert.deepEqual(
    (await samples(registry, 'cretoai_transport_handshakes_refused_total'))[
      JSON.stringify({ code: 'bad-signature' })
    ],
    50_000,
  );
  assert.match(
    await registry.getSingleMetricAsString('cretoai_transport_peer_misbehaviours_total'),
    /^cretoai_transport_peer_misbehaviours_total 3$/m,
  );
});

test('a code the transport adds later is exported without a change to the metrics', async () => {
  const registry = new Registry();
  const { transport, stats } = fakeTransport();
  (stats.handshakesRefused as Record<string, number>)['rate-limited'] = 5;
  createTransportMetrics(registry, transport);
  assert.match(
    await registry.getSingleMetricAsString('cretoai_transport_handshakes_refused_total'),
    /^cretoai_transport_handshakes_refused_total\{code="rate-limited"\} 5$/m,
  );
});

test('a registry takes the transport metrics once', () => {
  const registry = new Registry();
  createTransportMetrics(registry, fakeTransport().transport);
  assert.throws(() => createTransportMetrics(registry, fakeTransport().transport), /already been registered/);
});
