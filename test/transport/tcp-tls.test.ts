/**
 * TLS mode: the same authenticated mesh inside TLS 1.3, with the post-quantum hybrid key
 * exchange X25519MLKEM768 preferred, and no way in for a peer that does not speak TLS.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ClusterDiscovery } from '../../src/transport/discovery.ts';
import type { HandshakeRefusal } from '../../src/transport/handshake.ts';
import { availableTlsGroups, DEFAULT_TLS_GROUPS, TcpTransport } from '../../src/transport/tcp.ts';
import {
  CLUSTER_ID,
  type LoopbackCluster,
  loopbackCluster,
  next,
  numberedFrame,
  sequenceOf,
  TEST_TLS,
} from './tcp-support.ts';

const IDS = ['t0', 't1', 't2'] as const;

describe('TcpTransport over TLS', { timeout: 60_000 }, () => {
  const clusters: LoopbackCluster[] = [];
  const others: TcpTransport[] = [];
  after(async () => {
    await Promise.all(others.map((transport) => transport.stop()));
    await Promise.all(clusters.map((cluster) => cluster.stop()));
  });

  it('offers only the groups this OpenSSL has, most preferred first', () => {
    assert.equal(availableTlsGroups('NO-SUCH-GROUP:X25519'), 'X25519');
    assert.throws(() => availableTlsGroups('NO-SUCH-GROUP'), RangeError);
    // Node 24 links OpenSSL 3.5, which has the hybrid group.
    assert.equal(availableTlsGroups(), DEFAULT_TLS_GROUPS);
  });

  it('forms a mesh over TLS 1.3 and negotiates X25519MLKEM768', async () => {
    const cluster = await loopbackCluster(IDS, { tls: TEST_TLS });
    clusters.push(cluster);
    for (const id of IDS)
      for (const other of IDS) {
        if (other === id) continue;
        const info = cluster.get(id).peerInfo(other)!;
        assert.equal(info.tls?.protocol, 'TLSv1.3');
        // OpenSSL reports the group to the client only: the dialer knows it.
        assert.equal(info.tls?.group, info.dialedBy === id ? 'X25519MLKEM768' : null);
      }
    const info = cluster.get('t0').peerInfo('t1')!;
    console.log(`# negotiated: ${info.tls?.protocol} ${info.tls?.cipher} group ${info.tls?.group}`);

    const count = 100;
    const sequences: number[] = [];
    const { promise: done, resolve } = Promise.withResolvers<void>();
    cluster.get('t2').onFrame((from, frame) => {
      if (from !== 't0') return;
      sequences.push(sequenceOf(frame));
      if (sequences.length === count) resolve();
    });
    for (let sequence = 0; sequence < count; sequence++)
      cluster.get('t0').broadcast(numberedFrame(sequence, 4700));
    await done;
    assert.deepEqual(
      sequences,
      Array.from({ length: count }, (_, i) => i),
    );
  });

  it('negotiates the group the operator restricts it to', async () => {
    const cluster = await loopbackCluster(['u0', 'u1'], { tls: { ...TEST_TLS, groups: 'X25519' } });
    clusters.push(cluster);
    assert.equal(cluster.get('u0').peerInfo('u1')!.tls?.group, 'X25519');
  });

  it('lets no plain-TCP peer in', async () => {
    const cluster = await loopbackCluster(['v0', 'v1'], (id) => (id === 'v0' ? { tls: TEST_TLS } : {}), {
      waitForMesh: false,
      dials: (from) => from === 'v1',
    });
    clusters.push(cluster);
    // v1 speaks plain TCP to v0, which expects a TLS ClientHello.
    const [event] = await next<[{ refusal: HandshakeRefusal }]>(cluster.get('v1'), 'handshake-refused');
    assert.equal(event.refusal.code, 'closed');
    assert.deepEqual(cluster.get('v0').connectedPeers(), []);
    assert.equal(cluster.get('v0').stats().handshakesRefused.malformed, 1);
  });

  it('is refused by a plain-TCP node it dials', async () => {
    const cluster = await loopbackCluster(['w0'], {}, { waitForMesh: false });
    clusters.push(cluster);
    const dialer = new TcpTransport({
      nodeId: 'w1',
      clusterId: CLUSTER_ID,
      privateKey: cluster.keys.get('w0')!.privateKey,
      validators: new Map([...cluster.registry, ['w1', cluster.registry.get('w0')!]]),
      discovery: new ClusterDiscovery({ w0: `127.0.0.1:${cluster.ports.get('w0')}` }),
      listen: { host: '127.0.0.1', port: 0 },
      maxFrameBytes: 1 << 20,
      tls: TEST_TLS,
      clock: cluster.clock,
    });
    others.push(dialer);
    const failed = next(dialer, 'dial-failed');
    await dialer.start();
    await failed;
    assert.deepEqual(dialer.connectedPeers(), []);
  });
});
