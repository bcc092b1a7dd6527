/**
 * The HTTP API's connection limits on a real node: the total and per-address caps close extra
 * connections at once and count them, the API answers again once they are gone, the head,
 * request, keep-alive and socket idle deadlines end the connections they should, event streams
 * outlive the idle timeout, and client-caused errors are counted with one log line per interval.
 *
 * Connections come from several loopback addresses (127.0.0.1, .2, .3: Linux routes all of
 * 127/8 to lo). Deadlines are configured short, and the tests wait on the sockets' own events;
 * no wait is longer than a second.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, clusterDir, editConfig, postJson, readEvents, startNode, type TestNode } from './support.ts';

const hooks = (cleanups: (() => Promise<void> | void)[]) => ({
  after: (fn: () => Promise<void> | void) => cleanups.push(fn),
});

/** A raw TCP connection to the node, with what it received and when it closed. */
interface RawConnection {
  readonly socket: net.Socket;
  /** Everything the node sent. */
  received(): string;
  /** Resolves when the node (or the test) closed it, with the milliseconds since it opened. */
  readonly closed: Promise<number>;
}

function connect(url: string, localAddress: string): Promise<RawConnection> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const opened = performance.now();
    const socket = net.connect({ port: Number(port), host: hostname, localAddress });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    const closed = new Promise<number>((done) =>
      socket.once('close', () => done(performance.now() - opened)),
    );
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** Reads /metrics over one kept-alive connection from `localAddress`, so scraping adds exactly one. */
function scraper(url: string, localAddress: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
  const text = (): Promise<string> =>
    new Promise((resolve, reject) => {
      http
        .get(`${url}/metrics`, { agent }, (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
  const value = async (series: string): Promise<number> => {
    const found = (await text()).split('\n').find((line) => line.startsWith(`${series} `));
    assert.ok(found !== undefined, `no ${series} in /metrics`);
    return Number(found.slice(series.length + 1));
  };
  /** Polls until `series` has the value `expected` (within `timeoutMs`). */
  const until = async (series: string, expected: number, timeoutMs = 5_000): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    let seen = await value(series);
    while (seen !== expected) {
      if (performance.now() > deadline) assert.fail(`${series} is ${seen}, awaited ${expected}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      seen = await value(series);
    }
  };
  return { value, until, close: () => agent.destroy() };
}

/** GET over a connection of its own that closes after the answer (fetch would keep it open). */
function getOnce(url: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, localAddress }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode!));
      })
      .on('error', reject);
  });
}

const OPEN = 'cretoai_http_connections_open';
const REFUSED_PER_ADDRESS = 'cretoai_http_connections_refused_total{reason="per-address"}';
const REFUSED_TOTAL = 'cretoai_http_connections_refused_total{reason="total"}';

describe('HTTP connection caps', { timeout: 60_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let node: TestNode;
  before(async () => {
    const cluster = await clusterDir(hooks(cleanups), 1);
    editConfig(cluster, 0, (config) => {
      config.http = {
        ...(config.http as object),
        connectionsMax: 6,
        connectionsPerAddressMax: 4,
        eventClientsMax: 2,
      };
    });
    node = await startNode(hooks(cleanups), cluster, 0);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('the connection over connectionsPerAddressMax, then the one over connectionsMax, is closed unanswered and counted; the API answers once they are gone', async () => {
    const metrics = scraper(node.url, '127.0.0.2');
    const held: RawConnection[] = [];
    try {
      for (let i = 0; i < 4; i++) held.push(await connect(node.url, '127.0.0.1'));
      // The four from 127.0.0.1 and the scraper's own.
      await metrics.until(OPEN, 5);
      assert.equal(await metrics.value(REFUSED_PER_ADDRESS), 0);

      const fifth = await connect(node.url, '127.0.0.1');
      fifth.socket.write('GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n');
      await fifth.closed;
      assert.equal(fifth.received(), '', 'closed before any answer');
      await metrics.until(REFUSED_PER_ADDRESS, 1);

      // Another address still gets in, up to the total.
      held.push(await connect(node.url, '127.0.0.2'));
      await metrics.until(OPEN, 6);
      const overTotal = await connect(node.url, '127.0.0.3');
      await overTotal.closed;
      assert.equal(overTotal.received(), '');
      await metrics.until(REFUSED_TOTAL, 1);
      assert.equal(await metrics.value(REFUSED_PER_ADDRESS), 1);

      for (const connection of held) connection.socket.destroy();
      await Promise.all(held.map((connection) => connection.closed));
      await metrics.until(OPEN, 1);
      assert.equal(await getOnce(`${node.url}/healthz`, '127.0.0.1'), 200);
    } finally {
      for (const connection of held) connection.socket.destroy();
      metrics.close();
    }
  });

  it('a flood of refused connections is counted one by one and logged once per interval', async () => {
    const metrics = scraper(node.url, '127.0.0.2');
    const held: RawConnection[] = [];
    try {
      const before = await metrics.value(REFUSED_PER_ADDRESS);
      for (let i = 0; i < 4; i++) held.push(await connect(node.url, '127.0.0.1'));
      await metrics.until(OPEN, 5);
      const refused = await Promise.all(Array.from({ length: 50 }, () => connect(node.url, '127.0.0.1')));
      await Promise.all(refused.map((connection) => connection.closed));
      await metrics.until(REFUSED_PER_ADDRESS, before + 50);
      // This test and the one before refused within one interval (10 s): one line for all.
      const lines = node.log.filter((line) => line.event === 'http-connection-refused');
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0]!.level, 'warn');
      for (const connection of held) connection.socket.destroy();
      await Promise.all(held.map((connection) => connection.closed));
      await metrics.until(OPEN, 1);
      assert.equal(await getOnce(`${node.url}/healthz`, '127.0.0.1'), 200);
    } finally {
      for (const connection of held) connection.socket.destroy();
      metrics.close();
    }
  });
});

describe('HTTP deadlines: request head, whole request, keep-alive', { timeout: 60_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let node: TestNode;
  before(async () => {
    const cluster = await clusterDir(hooks(cleanups), 1);
    editConfig(cluster, 0, (config) => {
      config.http = {
        ...(config.http as object),
        headersTimeoutMs: 200,
        requestTimeoutMs: 300,
        keepAliveTimeoutMs: 200,
        socketIdleTimeoutMs: 5_000,
      };
    });
    node = await startNode(hooks(cleanups), cluster, 0);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('a connection that sends nothing, and one that never finishes its head, get 408 and are closed after headersTimeoutMs', async () => {
    const silent = await connect(node.url, '127.0.0.1');
    const partial = await connect(node.url, '127.0.0.1');
    partial.socket.write('GET /healthz HTTP/1.1\r\nHost: node\r\n');
    for (const connection of [silent, partial]) {
      const ms = await connection.closed;
      assert.match(connection.received(), /^HTTP\/1\.1 408 /);
      // The deadline, plus at most one check period (as long as the deadline here).
      assert.ok(ms >= 150 && ms < 900, `closed after ${Math.round(ms)} ms`);
    }
  });

  it('a body that does not arrive within requestTimeoutMs gets 408; the timeouts are counted, and logged once', async () => {
    const slow = await connect(node.url, '127.0.0.1');
    slow.socket.write(
      'POST /v1/vertices HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"pay',
    );
    const ms = await slow.closed;
    assert.match(slow.received(), /^HTTP\/1\.1 408 /);
    assert.ok(ms >= 250 && ms < 900, `closed after ${Math.round(ms)} ms`);
    const metrics = await call(`${node.url}/metrics`);
    assert.match(metrics.text, /^cretoai_http_client_errors_total\{kind="timeout"\} 3$/m);
    // The request the deadline cut is not also counted as abandoned by its client.
    assert.match(metrics.text, /^cretoai_http_client_errors_total\{kind="aborted"\} 0$/m);
    const lines = node.log.filter((line) => line.event === 'http-client-error');
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(node.log.filter((line) => line.event === 'http-handler-failed').length, 0);
  });

  it('an idle keep-alive connection is closed soon after keepAliveTimeoutMs', async () => {
    // A raw socket: Node's client agent would close it itself, told `Keep-Alive: timeout=0`.
    const connection = await connect(node.url, '127.0.0.1');
    const answered = new Promise<number>((resolve) =>
      connection.socket.once('data', () => resolve(performance.now())),
    );
    connection.socket.write('GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n');
    const at = await answered;
    await connection.closed;
    const idleMs = performance.now() - at;
    assert.match(connection.received(), /^HTTP\/1\.1 200 [\s\S]*\r\nConnection: keep-alive\r\n/i);
    // 200 ms and a margin of a quarter of it.
    assert.ok(idleMs >= 150 && idleMs < 900, `closed after ${Math.round(idleMs)} ms idle`);
  });
});

describe('HTTP socket idle timeout', { timeout: 60_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let node: TestNode;
  before(async () => {
    const cluster = await clusterDir(hooks(cleanups), 1);
    editConfig(cluster, 0, (config) => {
      config.http = {
        ...(config.http as object),
        headersTimeoutMs: 5_000,
        requestTimeoutMs: 5_000,
        socketIdleTimeoutMs: 200,
      };
    });
    node = await startNode(hooks(cleanups), cluster, 0);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('a request that stalls mid-body is closed after socketIdleTimeoutMs without traffic, and counted as aborted', async () => {
    const stalled = await connect(node.url, '127.0.0.1');
    stalled.socket.write(
      'POST /v1/vertices HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"pay',
    );
    const ms = await stalled.closed;
    assert.equal(stalled.received(), '', 'cut without an answer');
    assert.ok(ms >= 150 && ms < 900, `closed after ${Math.round(ms)} ms`);
    const metrics = await call(`${node.url}/metrics`);
    assert.match(metrics.text, /^cretoai_http_client_errors_total\{kind="aborted"\} 1$/m);
  });

  it('an event stream outlives the idle timeout and still delivers', async () => {
    const events = await readEvents(node.url);
    try {
      // Three idle timeouts with nothing on the stream (its heartbeat comes every 15 s).
      await new Promise((resolve) => setTimeout(resolve, 600));
      const answer = await postJson(`${node.url}/v1/vertices`, {
        payload: Buffer.from('after a quiet while').toString('base64'),
      });
      assert.equal(answer.status, 202);
      await events.until((seen) => seen.some((event) => event.hash === answer.body.hash), 10_000);
    } finally {
      events.close();
    }
  });
});

describe('HTTP client errors', { timeout: 60_000 }, () => {
  it('aborted request bodies are counted one by one and logged once per interval, not once each', async (t) => {
    const cluster = await clusterDir(t, 1);
    const node = await startNode(t, cluster, 0);
    for (let i = 0; i < 30; i++) {
      const connection = await connect(node.url, '127.0.0.1');
      // With `Expect: 100-continue`, the node's "100 Continue" says the handler has the request.
      const continued = new Promise((resolve) => connection.socket.once('data', resolve));
      connection.socket.write(
        'POST /v1/vertices HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n',
      );
      await continued;
      assert.match(connection.received(), /^HTTP\/1\.1 100 Continue/);
      connection.socket.write('{"payload": "');
      // Then the client goes away in the middle of the body.
      connection.socket.resetAndDestroy();
      await connection.closed;
    }
    const deadline = performance.now() + 5_000;
    let text = '';
    while (performance.now() < deadline) {
      text = (await call(`${node.url}/metrics`)).text;
      if (/^cretoai_http_client_errors_total\{kind="aborted"\} 30$/m.test(text)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.match(text, /^cretoai_http_client_errors_total\{kind="aborted"\} 30$/m);
    const lines = node.log.filter((line) => line.event === 'http-client-error');
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]!.kind, 'aborted');
    assert.equal(node.log.filter((line) => line.event === 'http-handler-failed').length, 0);
    // Malformed requests: answered 400 as Node does, counted, and not logged again this interval.
    const garbage = await connect(node.url, '127.0.0.1');
    garbage.socket.write('NOT HTTP AT ALL\r\n\r\n');
    await garbage.closed;
    assert.match(garbage.received(), /^HTTP\/1\.1 400 /);
    assert.match(
      (await call(`${node.url}/metrics`)).text,
      /^cretoai_http_client_errors_total\{kind="malformed"\} 1$/m,
    );
    assert.equal(node.log.filter((line) => line.event === 'http-client-error').length, 1);
  });
});
