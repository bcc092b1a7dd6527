/**
 * What the QUIC transport does with the streams of a connection before its handshake: it takes
 * the first stream a peer opens, resets any other, and closes a connection that opens none in
 * time. A raw QUIC client (the package's transport, without this project's) plays the peer.
 *
 * Needs the optional package `@chainsafe/libp2p-quic` (see test/support/quic.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { HandshakeRefusal } from '../../src/transport/handshake.ts';
import { importQuicModules, type QuicModules, QuicTransport } from '../../src/transport/quic.ts';
import { skipWithoutQuic } from '../support/quic.ts';
import { type LoopbackCluster, loopbackCluster, next } from './tcp-support.ts';

/** The native stream and connection of the package, as far as these tests use them. */
interface RawStream {
  read(max: number): Promise<Uint8Array | null>;
  write(data: Uint8Array): Promise<void>;
}
interface RawConnection {
  outboundStream(): Promise<RawStream>;
  closed(): Promise<void>;
  abort(): void;
}

const silentLogger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silentLogger,
});

/** A QUIC connection to 127.0.0.1:`port` from a fresh identity, with no stream yet. */
async function rawConnection(
  modules: QuicModules,
  port: number,
): Promise<{ readonly connection: RawConnection; readonly stop: () => Promise<void> }> {
  const privateKey = await modules.generateKeyPair('Ed25519');
  const transport = modules.quic()({
    privateKey,
    logger: { forComponent: () => silentLogger },
  });
  await transport.start();
  let connection: RawConnection | undefined;
  const upgrader = {
    upgradeOutbound: async (
      maConn: unknown,
      options: { muxerFactory: { init?: { connection?: unknown } } },
    ) => {
      connection = options.muxerFactory.init?.connection as RawConnection;
      return { maConn, connection, remotePeer: '' };
    },
    upgradeInbound: async () => {
      throw new Error('this client does not listen');
    },
  };
  await transport.dial(modules.multiaddr(`/ip4/127.0.0.1/udp/${port}/quic-v1`), {
    upgrader: upgrader as never,
    signal: AbortSignal.timeout(10_000),
  });
  assert.ok(connection !== undefined);
  return {
    connection,
    stop: async () => {
      connection?.abort();
      await transport.stop();
    },
  };
}

/** Yields to the event loop until `condition()` holds: for effects of network input. */
async function eventually(condition: () => boolean): Promise<void> {
  for (let turns = 0; !condition(); turns++) {
    if (turns > 1_000_000) throw new Error('condition never held');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A frame prefix declaring a length no transport accepts: refused at once, as 'oversized'. */
const OVERSIZED_PREFIX = new Uint8Array([0xff, 0xff, 0xff, 0xff]);

const skip = await skipWithoutQuic();

describe('QUIC streams before the handshake', { timeout: 60_000, skip }, () => {
  const clusters: LoopbackCluster[] = [];
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    await Promise.all(stops.map((stop) => stop()));
    await Promise.all(clusters.map((cluster) => cluster.stop()));
  });

  async function listener(): Promise<{ cluster: LoopbackCluster; modules: QuicModules; port: number }> {
    const modules = await importQuicModules();
    const cluster = await loopbackCluster(
      ['q0'],
      { handshakeTimeoutMs: 5000 },
      {
        factory: (options) => new QuicTransport({ ...options, modules }),
      },
    );
    clusters.push(cluster);
    return { cluster, modules, port: cluster.ports.get('q0')! };
  }

  it('closes a connection that opens no stream within the handshake timeout', async () => {
    const { cluster, modules, port } = await listener();
    const timersBefore = cluster.clock.pendingTimers;
    const { connection, stop } = await rawConnection(modules, port);
    stops.push(stop);
    let closed = false;
    void connection.closed().then(() => {
      closed = true;
    });
    // The listener arms the timeout once it has the connection.
    await eventually(() => cluster.clock.pendingTimers > timersBefore);
    cluster.clock.advance(4999);
    assert.equal(closed, false);
    cluster.clock.advance(1);
    await connection.closed();
  });

  it('takes the first stream for the handshake and resets any other', async () => {
    const { cluster, modules, port } = await listener();
    const q0 = cluster.get('q0');
    const refusals: HandshakeRefusal[] = [];
    q0.on('handshake-refused', (event: { refusal: HandshakeRefusal }) => refusals.push(event.refusal));
    const { connection, stop } = await rawConnection(modules, port);
    stops.push(stop);
    // The first stream sends one byte of a frame's length prefix: the handshake waits for more.
    const first = await connection.outboundStream();
    await first.write(OVERSIZED_PREFIX.subarray(0, 1));
    // A second stream with a whole oversized prefix: taken for a handshake, it would be refused.
    const second = await connection.outboundStream();
    await second.write(OVERSIZED_PREFIX);
    await assert.rejects(second.read(16));
    assert.deepEqual(refusals, []);
    // The first stream is the one in the handshake: the rest of its prefix is refused.
    const refused = next<[{ refusal: HandshakeRefusal }]>(q0, 'handshake-refused');
    await first.write(OVERSIZED_PREFIX.subarray(1));
    assert.equal((await refused)[0].refusal.code, 'oversized');
    assert.equal(refusals.length, 1);
  });
});
