/**
 * Transport conformance: the claims every implementation of the engine's Transport must meet,
 * run against TCP, TCP inside TLS, and QUIC.
 *
 * QUIC needs the optional package `@chainsafe/libp2p-quic`. Without it the QUIC suite is
 * skipped (and says so). To run it from a separate install, point CRETOAI_QUIC_MODULES at that
 * install's node_modules directory.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { mlDsa87 } from '../../src/crypto/index.ts';
import { ClusterDiscovery } from '../../src/transport/discovery.ts';
import type { HandshakeRefusal } from '../../src/transport/handshake.ts';
import { importQuicModules, type QuicModules, QuicTransport } from '../../src/transport/quic.ts';
import type { StreamTransport } from '../../src/transport/stream-transport.ts';
import {
  CLUSTER_ID,
  type LoopbackCluster,
  loopbackCluster,
  next,
  numberedFrame,
  sequenceOf,
  type TransportFactory,
  tcpFactory,
  testSeed,
} from './tcp-support.ts';

/** Imports `specifier` (a package or a subpath of one) from the node_modules directory `root`. */
async function importFrom(root: string, specifier: string): Promise<Record<string, unknown>> {
  const parts = specifier.split('/');
  const packageName = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  const subpath = `.${specifier.slice(packageName.length)}`;
  const packageDir = join(root, packageName);
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const entry = manifest.exports?.[subpath];
  const target = typeof entry === 'string' ? entry : (entry?.import ?? entry?.default);
  if (typeof target !== 'string') throw new Error(`cannot resolve ${specifier} in ${root}`);
  return import(pathToFileURL(join(packageDir, target)).href);
}

async function quicModules(): Promise<QuicModules | string> {
  const root = process.env.CRETOAI_QUIC_MODULES;
  try {
    if (root === undefined) return await importQuicModules();
    const [quicModule, keys, multiaddr] = await Promise.all([
      importFrom(root, '@chainsafe/libp2p-quic'),
      importFrom(root, '@libp2p/crypto/keys'),
      importFrom(root, '@multiformats/multiaddr'),
    ]);
    return {
      quic: quicModule.quic as QuicModules['quic'],
      generateKeyPair: keys.generateKeyPair as QuicModules['generateKeyPair'],
      multiaddr: multiaddr.multiaddr as QuicModules['multiaddr'],
    };
  } catch (error) {
    return `@chainsafe/libp2p-quic is not installed (${(error as Error).message})`;
  }
}

const quic = await quicModules();

const IMPLEMENTATIONS: readonly {
  readonly name: string;
  readonly factory: TransportFactory;
  readonly skip: string | false;
}[] = [
  { name: 'TCP', factory: tcpFactory, skip: false },
  {
    name: 'QUIC',
    factory: (options) =>
      new QuicTransport({ ...options, ...(typeof quic === 'string' ? {} : { modules: quic }) }),
    skip: typeof quic === 'string' ? quic : false,
  },
];

const IDS = ['c0', 'c1', 'c2', 'c3'] as const;

for (const { name, factory, skip } of IMPLEMENTATIONS) {
  describe(`Transport conformance: ${name}`, { timeout: 60_000, skip }, () => {
    const clusters: LoopbackCluster[] = [];
    const extra: StreamTransport[] = [];
    after(async () => {
      await Promise.all(extra.map((transport) => transport.stop()));
      await Promise.all(clusters.map((cluster) => cluster.stop()));
    });

    it('four validators form a full mesh, one connection per pair, and exchange frames in order both ways', async () => {
      const cluster = await loopbackCluster(IDS, {}, { factory });
      clusters.push(cluster);
      const perPeer = 100;
      const links = IDS.length * (IDS.length - 1);
      const received = new Map<string, number[]>();
      let total = 0;
      const { promise: allReceived, resolve } = Promise.withResolvers<void>();
      for (const id of IDS)
        cluster.get(id).onFrame((from, frame) => {
          const key = `${from}->${id}`;
          const list = received.get(key) ?? [];
          list.push(sequenceOf(frame));
          received.set(key, list);
          if (++total === links * perPeer) resolve();
        });
      for (let sequence = 0; sequence < perPeer; sequence++)
        for (const id of IDS) {
          const frame = numberedFrame(sequence, 4700);
          if (sequence % 2 === 0) cluster.get(id).broadcast(frame);
          else for (const other of IDS) if (other !== id) cluster.get(id).send(other, frame);
        }
      await allReceived;
      for (const [link, sequences] of received)
        assert.deepEqual(
          sequences,
          Array.from({ length: perPeer }, (_, i) => i),
          link,
        );
      for (const id of IDS) assert.equal(cluster.get(id).connectedPeers().length, IDS.length - 1);
    });

    it('carries frames near the size limit whole, in order, both ways', async () => {
      // Far larger than one read of either transport: a frame arrives in many chunks.
      const cluster = await loopbackCluster(['b0', 'b1'], {}, { factory });
      clusters.push(cluster);
      const count = 6;
      const bytes = (1 << 20) - 64;
      const frameOf = (sequence: number): Uint8Array => {
        const frame = numberedFrame(sequence, bytes);
        for (let i = 4; i < bytes - 1; i++) frame[i] = (i * 31 + sequence) & 0xff;
        return frame;
      };
      const arrivals = (id: string): Promise<Uint8Array[]> => {
        const frames: Uint8Array[] = [];
        const { promise, resolve } = Promise.withResolvers<Uint8Array[]>();
        cluster.get(id).onFrame((_from, frame) => {
          frames.push(frame);
          if (frames.length === count) resolve(frames);
        });
        return promise;
      };
      const atB0 = arrivals('b0');
      const atB1 = arrivals('b1');
      for (let sequence = 0; sequence < count; sequence++) {
        cluster.get('b0').send('b1', frameOf(sequence));
        cluster.get('b1').send('b0', frameOf(count + sequence));
      }
      const [fromB1, fromB0] = await Promise.all([atB0, atB1]);
      for (let sequence = 0; sequence < count; sequence++) {
        assert.deepEqual(fromB0[sequence], frameOf(sequence));
        assert.deepEqual(fromB1[sequence], frameOf(count + sequence));
      }
    });

    it('refuses a key that is not registered', async () => {
      const cluster = await loopbackCluster(['r0', 'r1'], {}, { factory });
      clusters.push(cluster);
      const stranger = mlDsa87.generateKeyPair();
      const refusedAtR0 = next<[{ refusal: HandshakeRefusal; claimedPeer?: string }]>(
        cluster.get('r0'),
        'handshake-refused',
        (event) => event.claimedPeer === 'mallory',
      );
      const intruder = factory({
        nodeId: 'mallory',
        clusterId: CLUSTER_ID,
        privateKey: stranger.privateKey,
        validators: new Map([...cluster.registry, ['mallory', stranger.publicKey]]),
        discovery: new ClusterDiscovery({ r0: `127.0.0.1:${cluster.ports.get('r0')}` }),
        listen: { host: '127.0.0.1', port: 0 },
        maxFrameBytes: 1 << 20,
        clock: cluster.clock,
      });
      extra.push(intruder);
      const refusedAtIntruder = next<[{ refusal: HandshakeRefusal }]>(intruder, 'handshake-refused');
      await intruder.start();
      assert.equal((await refusedAtR0)[0].refusal.code, 'unknown-node');
      assert.equal((await refusedAtIntruder)[0].refusal.code, 'refused-by-peer');
      assert.deepEqual(cluster.get('r0').connectedPeers(), ['r1']);
      await intruder.stop();
    });

    it('closes the link to a peer that sends a frame over the limit, and only that link', async () => {
      // m0 may send 2 MiB frames; the others accept 1 MiB.
      const cluster = await loopbackCluster(
        ['m0', 'm1', 'm2'],
        (id) => ({ maxFrameBytes: id === 'm0' ? 2 << 20 : 1 << 20 }),
        { factory },
      );
      clusters.push(cluster);
      const failed = next<[{ peer: string; failure: string }]>(cluster.get('m1'), 'link-failed');
      cluster.get('m0').send('m1', new Uint8Array((1 << 20) + 1));
      const [event] = await failed;
      assert.deepEqual([event.peer, event.failure], ['m0', 'frame-too-large']);
      assert.deepEqual(cluster.get('m1').connectedPeers(), ['m2']);
    });

    it('reconnects to a peer restarted on the same port, after a back-off on the injected clock', async () => {
      const seed = testSeed(`${name} conformance reconnect`);
      const cluster = await loopbackCluster(
        ['s0', 's1'],
        {},
        { factory, seed, dials: (from) => from === 's0' },
      );
      clusters.push(cluster);
      const s0 = cluster.get('s0');
      const scheduled = next<[{ delayMs: number }]>(s0, 'dial-scheduled');
      await cluster.get('s1').stop();
      const [{ delayMs }] = await scheduled;
      const restarted = factory({
        nodeId: 's1',
        clusterId: CLUSTER_ID,
        privateKey: cluster.keys.get('s1')!.privateKey,
        validators: cluster.registry,
        discovery: new ClusterDiscovery(),
        listen: { host: '127.0.0.1', port: cluster.ports.get('s1')! },
        maxFrameBytes: 1 << 20,
        clock: cluster.clock,
      });
      extra.push(restarted);
      await restarted.start();
      const reconnected = next(s0, 'peer-connected');
      cluster.clock.advance(delayMs);
      await reconnected;
      const { promise: received, resolve } = Promise.withResolvers<number>();
      restarted.onFrame((_from, frame) => resolve(sequenceOf(frame)));
      s0.send('s1', numberedFrame(7, 64));
      assert.equal(await received, 7);
      assert.equal(s0.stats().reconnectAttempts, 1);
    });
  });
}
