/**
 * The TCP transport on loopback: a full mesh of authenticated connections, frames in both
 * directions in order, one connection per pair, and a peer that breaks framing cut off alone.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import { SEAL_OVERHEAD_BYTES } from '../../src/transport/channel-crypto.ts';
import { encodeFrame } from '../../src/wire/frame.ts';
import {
  type LoopbackCluster,
  loopbackCluster,
  next,
  numberedFrame,
  rawPeer,
  sequenceOf,
  until,
} from './tcp-support.ts';

const IDS = ['n0', 'n1', 'n2', 'n3'] as const;
/** An ML-DSA-87-signed vote is about 4.7 KB on the wire. */
const FRAME_BYTES = 4700;

describe('TcpTransport: four validators on loopback', { timeout: 60_000 }, () => {
  let cluster: LoopbackCluster;
  after(() => cluster?.stop());

  it('forms a full mesh with exactly one connection per pair, dialed by the smaller id', async () => {
    cluster = await loopbackCluster(IDS);
    for (const id of IDS) {
      const transport = cluster.get(id);
      assert.deepEqual(
        [...transport.connectedPeers()].sort(),
        IDS.filter((other) => other !== id),
      );
      for (const other of IDS) {
        if (other === id) continue;
        const info = transport.peerInfo(other)!;
        assert.equal(info.dialedBy, [id, other].sort()[0]);
        // Both ends of a pair kept the same TCP connection.
        assert.equal(cluster.get(other).peerInfo(id)!.dialedBy, info.dialedBy);
      }
    }
  });

  it('delivers frames in both directions, each connection in send order, to the right handler', async () => {
    const perPeer = 200;
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
    // Every node sends numbered frames to each peer, interleaving point-to-point sends and
    // broadcasts so that both paths share one ordered connection.
    for (let sequence = 0; sequence < perPeer; sequence++)
      for (const id of IDS) {
        const frame = numberedFrame(sequence, FRAME_BYTES);
        if (sequence % 2 === 0) cluster.get(id).broadcast(frame);
        else for (const other of IDS) if (other !== id) cluster.get(id).send(other, frame);
      }
    await allReceived;
    assert.equal(received.size, links);
    for (const [link, sequences] of received)
      assert.deepEqual(
        sequences,
        Array.from({ length: perPeer }, (_, i) => i),
        `${link} out of order`,
      );
    for (const id of IDS) {
      const stats = cluster.get(id).stats();
      assert.equal(stats.framesSent, perPeer * 3);
      assert.equal(stats.framesReceived, perPeer * 3);
      // Every frame is sealed: the tag rides behind the body, after the length prefix.
      assert.equal(stats.bytesSent, perPeer * 3 * (FRAME_BYTES + 4 + SEAL_OVERHEAD_BYTES));
      assert.equal(stats.framesDropped['queue-full'], 0);
    }
  });

  it('closes a link whose bytes declare a frame over maxFrameBytes or fail to open, without blaming the peer', async () => {
    const victim = cluster.get('n1');
    const reported: string[] = [];
    victim.onPeerMisbehaved((peer) => reported.push(peer));
    // n0 runs with a larger bound than n1 (a misconfigured or Byzantine peer).
    assert.throws(() => cluster.get('n0').send('n1', new Uint8Array((1 << 20) + 1)), ArgumentError);
    for (const [garbage, failure] of [
      // 2^32 - 1 bytes declared: garbage where a length should be.
      [Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3), 'frame-too-large'],
      // A well-framed record that was not sealed under this connection's key.
      [Uint8Array.of(0, 0, 0, 20, ...new Uint8Array(20).fill(9)), 'unauthenticated-frame'],
    ] as const) {
      const before = victim.stats();
      const adopted = until(
        [victim],
        ['peer-connected', 'peer-connection-replaced'],
        () => victim.peerInfo('n3')?.peerInstance === '07'.repeat(16),
      );
      const failed = next<[{ peer: string; failure: string }]>(victim, 'link-failed');
      const { socket, outcome } = await rawPeer({
        port: cluster.ports.get('n1')!,
        nodeId: 'n3',
        keyPair: cluster.keys.get('n3')!,
        registry: cluster.registry,
        peer: 'n1',
      });
      assert.equal(outcome.ok, true);
      // The raw peer (a newer instance of n3) is n3's connection now; then bytes that no
      // sealer made arrive on it, as an attacker on the path could inject them.
      await adopted;
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(garbage);
      const [event] = await failed;
      assert.deepEqual([event.peer, event.failure], ['n3', failure]);
      await closed;
      const after = victim.stats();
      assert.equal(after.linkFailures[failure], before.linkFailures[failure] + 1);
      // Not the peer's misbehaviour: the bytes may come from anyone on the path.
      assert.equal(after.misbehaviours, before.misbehaviours);
      assert.deepEqual(reported, []);
      // The other connections of n1 are untouched.
      assert.ok(victim.connectedPeers().includes('n0'));
      assert.ok(victim.connectedPeers().includes('n2'));
    }
  });

  it('disconnects a peer the engine reports for an undecodable frame (disconnectPeer)', async () => {
    const transport = cluster.get('n2');
    const misbehaved = next<[{ peer: string; code: string }]>(transport, 'peer-misbehaved');
    assert.equal(transport.disconnectPeer('n0', 'truncated', 'REQUEST body ends early'), true);
    const [event] = await misbehaved;
    assert.deepEqual([event.peer, event.code], ['n0', 'truncated']);
    assert.ok(!transport.connectedPeers().includes('n0'));
    assert.equal(transport.disconnectPeer('n0', 'truncated'), false);
    // A frame to a peer without a connection is dropped and counted, not queued.
    const dropped = transport.stats().framesDropped.unreachable;
    transport.send('n0', encodeFrame(new Uint8Array(8)));
    assert.equal(transport.stats().framesDropped.unreachable, dropped + 1);
  });

  it('closes every connection and the listener on stop', async () => {
    await cluster.stop();
    for (const id of IDS) assert.deepEqual(cluster.get(id).connectedPeers(), []);
  });
});
