/**
 * A node under a flood of unauthenticated connections: its log gets one `handshake-refused`
 * line per interval and a summary with the exact count, and its metrics count every refusal.
 * The log limiter runs on a ManualClock, so the interval ends when the test says.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/shell/clock.ts';
import { call, clusterDir, startNode } from './support.ts';

/**
 * Connections at once. Admission lets a few of them from one stranger address in and refuses
 * the rest as busy before reading them; either way each is refused once.
 */
const BATCH_CONNECTIONS = 25;

describe('a node flooded with connections that do not authenticate', { timeout: 60_000 }, () => {
  it('logs one line and a summary with the exact counts, and counts every refusal in its metrics', async (t) => {
    const cluster = await clusterDir(t, 1);
    const clock = new ManualClock();
    const { node, log, url } = await startNode(t, cluster, 0, { limitedLog: { clock, intervalMs: 10_000 } });
    const port = node.consensusPort;
    let refused = 0;
    node.transport.on('handshake-refused', () => refused++);
    const waitForRefusals = (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (refused >= count) {
            node.transport.off('handshake-refused', check);
            resolve();
          }
        };
        node.transport.on('handshake-refused', check);
        check();
      });

    // Each connection sends what no validator sends (an HTTP request) and is refused.
    const total = 8 * BATCH_CONNECTIONS;
    for (let sent = 0; sent < total; sent += BATCH_CONNECTIONS) {
      for (let i = 0; i < BATCH_CONNECTIONS; i++) {
        const socket = net.connect(port, '127.0.0.1', () => socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.on('error', () => {});
      }
      await waitForRefusals(sent + BATCH_CONNECTIONS);
    }
    assert.equal(refused, total);

    const lines = (event: string) => log.filter((line) => line.event === event);
    assert.equal(lines('handshake-refused').length, 1);
    assert.equal(lines('handshake-refused-summary').length, 0);
    const first = lines('handshake-refused')[0]!;
    assert.equal(first.level, 'warn');
    assert.equal(first.side, 'acceptor');
    clock.advance(10_000);
    const summaries = lines('handshake-refused-summary');
    assert.equal(summaries.length, 1);
    const summary = summaries[0]!;
    assert.equal(summary.level, 'warn');
    assert.equal(summary.count, total);
    assert.equal(summary.suppressed, total - 1);
    assert.equal(first.code, 'oversized');
    assert.deepEqual(summary.addresses, { [first.remoteAddress as string]: total });
    assert.equal(lines('handshake-refused').length, 1);

    const stats = node.transport.stats();
    // The summary has the transport's exact counts: the burst admission let in was read and
    // refused as oversized (an HTTP request read as a length), the rest refused unread.
    const counted = Object.fromEntries(
      Object.entries(stats.handshakesRefused).filter(([, count]) => count > 0),
    );
    assert.deepEqual(summary.byCode, counted);
    assert.ok(stats.handshakesRefused.busy > 0, 'admission refused part of the flood from one address');
    const metrics = await call(`${url}/metrics`);
    for (const [code, count] of Object.entries(stats.handshakesRefused)) {
      assert.match(
        metrics.text,
        new RegExp(`^cretoai_transport_handshakes_refused_total\\{code="${code}"\\} ${count}$`, 'm'),
      );
    }
    assert.equal(stats.handshakesRefused.oversized + stats.handshakesRefused.busy, total);
    assert.match(metrics.text, /^cretoai_transport_peer_misbehaviours_total 0$/m);
    assert.match(metrics.text, /^cretoai_transport_frames_dropped_total\{reason="queue-full"\} 0$/m);
  });

  it('a summary held back when the node stops is logged as it stops', async (t) => {
    const cluster = await clusterDir(t, 1);
    const clock = new ManualClock();
    const { node, log } = await startNode(t, cluster, 0, { limitedLog: { clock } });
    let refused = 0;
    const done = new Promise<void>((resolve) =>
      node.transport.on('handshake-refused', () => {
        if (++refused === 3) resolve();
      }),
    );
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(node.consensusPort, '127.0.0.1', () => socket.end('not a handshake'));
      socket.on('error', () => {});
    }
    await done;
    await node.stop();
    const events = log.map((line) => line.event);
    const summaryAt = events.indexOf('handshake-refused-summary');
    assert.ok(summaryAt > 0 && summaryAt < events.indexOf('node-stopped'), events.join(', '));
    assert.equal(log[summaryAt]!.count, 3);
    assert.equal(clock.pendingTimers, 0);
  });
});
