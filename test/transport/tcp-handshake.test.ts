/**
 * The handshake through a real TcpTransport: strangers and impostors are refused with a typed
 * reason that the logs and counters see, a silent connection times out on the injected clock,
 * and admission bounds what unauthenticated addresses can hold: a few handshakes per address,
 * a pool for strangers, and reserved room for the validators' own addresses.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { mlDsa87 } from '../../src/crypto/index.ts';
import { ClusterDiscovery } from '../../src/transport/discovery.ts';
import type { HandshakeRefusal } from '../../src/transport/handshake.ts';
import { TcpTransport } from '../../src/transport/tcp.ts';
import { CLUSTER_ID, type LoopbackCluster, loopbackCluster, next, rawPeer } from './tcp-support.ts';

const stranger = mlDsa87.generateKeyPair();

/** Resolves once `condition()` holds, checking after each turn of the event loop (no timers). */
async function eventually(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/** A socket to `port` from `localAddress`, connected. */
async function socketFrom(port: number, localAddress: string): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

describe('handshake over TCP: refusals', { timeout: 60_000 }, () => {
  let cluster: LoopbackCluster;
  before(async () => {
    cluster = await loopbackCluster(['a', 'b'], { handshakeTimeoutMs: 5000 });
  });
  after(() => cluster.stop());

  /** The next refusal on the acceptor `b`. */
  const refusalAtB = () =>
    next<[{ side: string; refusal: HandshakeRefusal; claimedPeer?: string }]>(
      cluster.get('b'),
      'handshake-refused',
    );

  /** A transport that dials `b` with options of its own. */
  async function intruder(
    nodeId: string,
    options: { clusterId?: string; keyPair?: typeof stranger; registered?: boolean },
  ): Promise<{ refusal: HandshakeRefusal }> {
    const keyPair = options.keyPair ?? stranger;
    const validators = new Map(cluster.registry);
    if (options.registered !== false) validators.set(nodeId, keyPair.publicKey);
    const transport = new TcpTransport({
      nodeId,
      clusterId: options.clusterId ?? CLUSTER_ID,
      privateKey: keyPair.privateKey,
      validators,
      discovery: new ClusterDiscovery({ b: `127.0.0.1:${cluster.ports.get('b')}` }),
      listen: { host: '127.0.0.1', port: 0 },
      maxFrameBytes: 1 << 20,
      clock: cluster.clock,
    });
    const refused = next<[{ refusal: HandshakeRefusal }]>(transport, 'handshake-refused');
    await transport.start();
    const [{ refusal }] = await refused;
    await transport.stop();
    return { refusal };
  }

  it('refuses a key that is not registered (unknown-node), and the intruder hears why', async () => {
    const atB = refusalAtB();
    const { refusal } = await intruder('mallory', {});
    const [event] = await atB;
    assert.equal(event.refusal.code, 'unknown-node');
    assert.equal(event.claimedPeer, 'mallory');
    assert.equal(refusal.code, 'refused-by-peer');
    assert.deepEqual(cluster.get('b').connectedPeers(), ['a']);
  });

  it('refuses a peer of another cluster (wrong-cluster)', async () => {
    const atB = refusalAtB();
    await intruder('a', { clusterId: 'another-cluster', keyPair: cluster.keys.get('a')! });
    assert.equal((await atB)[0].refusal.code, 'wrong-cluster');
  });

  it("refuses a validator's id proven with another key (bad-signature), and a's link stays", async () => {
    const atB = refusalAtB();
    const signedBefore = cluster.get('b').stats().handshakeSignatures;
    await intruder('a', { keyPair: stranger });
    const [event] = await atB;
    assert.equal(event.refusal.code, 'bad-signature');
    // b verified before it signed: the impostor got no signature out of it.
    assert.equal(cluster.get('b').stats().handshakeSignatures, signedBefore);
    // The claimed id is not authenticated, so it is reported as claimed and a is still connected.
    assert.equal(event.claimedPeer, 'a');
    assert.deepEqual(cluster.get('b').connectedPeers(), ['a']);
  });

  it('refuses a stranger speaking another protocol (malformed) and an oversized handshake frame', async () => {
    for (const [bytes, expected] of [
      // A framed body that is not a handshake frame.
      [Uint8Array.of(0, 0, 0, 7, ...new TextEncoder().encode('HELLO?!')), 'malformed'],
      // HTTP: 'GET ' read as a length prefix declares 1.2 GB.
      [new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'oversized'],
      [Uint8Array.of(0x00, 0x10, 0x00, 0x00), 'oversized'],
    ] as const) {
      const atB = refusalAtB();
      const socket = await socketFrom(cluster.ports.get('b')!, '127.0.0.1');
      socket.write(bytes);
      assert.equal((await atB)[0].refusal.code, expected);
      socket.destroy();
    }
  });

  it('refuses a handshake that does not finish in time (timeout on the injected clock)', async () => {
    const b = cluster.get('b');
    const atB = refusalAtB();
    const timeoutsBefore = b.stats().handshakesRefused.timeout;
    const socket = await socketFrom(cluster.ports.get('b')!, '127.0.0.1');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // b has accepted the connection and started its handshake clock.
    await eventually(() => b.admissionState().pending === 1);
    cluster.clock.advance(4999);
    cluster.clock.advance(1);
    const [event] = await atB;
    assert.equal(event.refusal.code, 'timeout');
    assert.equal(event.side, 'acceptor');
    // b ended the connection; the silent client is cut off.
    socket.resume();
    cluster.clock.advance(5000);
    await closed;
    assert.equal(b.stats().handshakesRefused.timeout, timeoutsBefore + 1);
  });

  it('lets the registered key in on a fresh connection (raw peer)', async () => {
    const { socket, outcome } = await rawPeer({
      port: cluster.ports.get('b')!,
      nodeId: 'a',
      keyPair: cluster.keys.get('a')!,
      registry: cluster.registry,
      peer: 'b',
    });
    assert.equal(outcome.ok, true);
    socket.destroy();
  });
});

describe('handshake admission over TCP', { timeout: 60_000 }, () => {
  let cluster: LoopbackCluster;
  const sockets: net.Socket[] = [];
  before(async () => {
    // x dials y from 127.0.0.1 (its listen address), so 127.0.0.1 is a validator address at y.
    cluster = await loopbackCluster(['x', 'y'], {
      handshakeTimeoutMs: 5000,
      admission: {
        strangerPendingMax: 6,
        strangerPendingPerAddressMax: 2,
        strangerStartsPerSecondPerAddress: 100,
      },
    });
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await cluster.stop();
  });

  it('bounds pending handshakes per stranger address and in all, and keeps room for the validators', async () => {
    const y = cluster.get('y');
    const port = cluster.ports.get('y')!;
    const busy = () => y.stats().handshakesRefused.busy;
    // Two silent connections from 127.0.0.2 are admitted; the third is refused at once.
    for (let i = 0; i < 2; i++) sockets.push(await socketFrom(port, '127.0.0.2'));
    await eventually(() => y.admissionState().strangerPending === 2);
    const refusedBefore = busy();
    const third = await socketFrom(port, '127.0.0.2');
    await new Promise((resolve) => third.once('close', resolve));
    assert.equal(busy(), refusedBefore + 1);
    // Strangers from other addresses fill the pool of six; the seventh is refused too.
    for (const ip of ['127.0.0.3', '127.0.0.3', '127.0.0.4', '127.0.0.4'])
      sockets.push(await socketFrom(port, ip));
    await eventually(() => y.admissionState().strangerPending === 6);
    const seventh = await socketFrom(port, '127.0.0.5');
    await new Promise((resolve) => seventh.once('close', resolve));
    assert.equal(busy(), refusedBefore + 2);
    // The validator's address is not in the strangers' pool: x's key still gets in at once.
    const { socket, outcome } = await rawPeer({
      port,
      nodeId: 'x',
      keyPair: cluster.keys.get('x')!,
      registry: cluster.registry,
      peer: 'y',
      localAddress: '127.0.0.1',
    });
    sockets.push(socket);
    assert.equal(outcome.ok, true);
    // Held slots are released when their handshakes time out.
    cluster.clock.advance(5000);
    await eventually(() => y.admissionState().strangerPending === 0);
    assert.ok(y.admissionState().addressesTracked <= 5);
  });

  it('rate-limits handshake starts per stranger address on the injected clock', async () => {
    const limited = await loopbackCluster(['p', 'q'], {
      admission: { strangerStartsPerSecondPerAddress: 2, strangerPendingPerAddressMax: 100 },
    });
    try {
      const q = limited.get('q');
      const port = limited.ports.get('q')!;
      const before = q.stats().handshakesRefused.busy;
      // A burst of twice the rate passes; the fifth start within the same instant does not.
      const opened: net.Socket[] = [];
      for (let i = 0; i < 5; i++) opened.push(await socketFrom(port, '127.0.0.9'));
      await eventually(() => q.stats().handshakesRefused.busy === before + 1);
      assert.equal(q.admissionState().strangerPending, 4);
      // Half a second later one more token has arrived.
      limited.clock.advance(500);
      opened.push(await socketFrom(port, '127.0.0.9'));
      await eventually(() => q.admissionState().strangerPending === 5);
      for (const socket of opened) socket.destroy();
    } finally {
      await limited.stop();
    }
  });
});
