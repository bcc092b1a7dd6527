/**
 * The chaos harness's link proxy (`chaos/proxy.ts`) over real loopback sockets, on a manual
 * clock: it forwards both ways, holds every chunk for the delay and keeps the stream in order,
 * and resets connections during a loss window.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { LinkProxy } from '../../chaos/proxy.ts';
import { ManualClock } from '../../src/shell/clock.ts';
import { Prng } from '../../src/sim/prng.ts';

/** Turns of the event loop (not time) until `condition` holds; socket I/O needs a few. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

/** An echo server behind a proxy on a manual clock, and a client connected through it. */
async function setUp(t: TestContext): Promise<{
  clock: ManualClock;
  proxy: LinkProxy;
  client: net.Socket;
  received: () => string;
}> {
  const server = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const clock = new ManualClock();
  const proxy = new LinkProxy({
    host: '127.0.0.1',
    port: 0,
    targetHost: '127.0.0.1',
    targetPort: (server.address() as net.AddressInfo).port,
    clock,
    prng: new Prng(5),
  });
  const port = await proxy.listen();
  const client = net.connect({ host: '127.0.0.1', port });
  client.on('error', () => undefined);
  let text = '';
  client.setEncoding('utf8');
  client.on('data', (chunk: string) => {
    text += chunk;
  });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  t.after(async () => {
    client.destroy();
    await proxy.close();
    await new Promise((resolve) => server.close(resolve));
  });
  return { clock, proxy, client, received: () => text };
}

describe('link proxy', () => {
  it('forwards both ways at once without a fault', async (t) => {
    const { client, received } = await setUp(t);
    client.write('hello');
    await until(() => received() === 'hello', 'the echo');
  });

  it('holds every chunk for the delay, in order, then lets it through when the delay ends', async (t) => {
    const { clock, proxy, client, received } = await setUp(t);
    proxy.setDelay(100, 30);
    const sent = Array.from({ length: 50 }, (_, i) => `<${i}>`).join('');
    for (let i = 0; i < 50; i++) client.write(`<${i}>`);
    await until(() => proxy.stats.bytes >= sent.length, 'the chunks reach the proxy');
    assert.equal(received(), '', 'nothing passes before its delay');
    clock.advance(99);
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(proxy.stats.bytes, sent.length, 'nothing reached the server before 100 ms');
    clock.advance(31);
    // Every chunk went on by 130 ms; the echo comes back through the proxy and is held again.
    await until(() => proxy.stats.bytes >= 2 * sent.length, 'the echo reaches the proxy');
    assert.equal(received(), '');
    proxy.setDelay(0, 0);
    clock.advance(1000);
    await until(() => received().length === sent.length, 'everything arrives');
    assert.equal(received(), sent, 'in the order it was sent');
    assert.ok(proxy.stats.chunksDelayed > 0);
  });

  it('resets connections during a loss window, and no more after it', async (t) => {
    const { clock, proxy, client } = await setUp(t);
    let closed = false;
    client.on('close', () => {
      closed = true;
    });
    await until(() => proxy.openConnections === 1, 'the connection through the proxy');
    proxy.setLoss(10);
    clock.advance(60_000);
    await until(() => closed, 'the reset reaches the client');
    assert.equal(proxy.stats.resets, 1);
    proxy.setLoss(0);
    assert.equal(clock.pendingTimers, 0, 'no reset is armed once the window ends');
  });
});
