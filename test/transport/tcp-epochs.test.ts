/**
 * The TCP transport across an epoch boundary (`setPeers`): a validator added is dialed and
 * admitted; a rotated validator is let in under either key for an epoch, then under its new
 * key only; and a removed validator is disconnected and neither dialed nor admitted again.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { mlDsa87, type PublicKey } from '../../src/crypto/index.ts';
import { type LoopbackCluster, loopbackCluster, rawPeer, settledMesh, until } from './tcp-support.ts';

describe('TcpTransport.setPeers: validators change at an epoch boundary', { timeout: 60_000 }, () => {
  let cluster: LoopbackCluster;
  /** The validators' keys as the last test left them. */
  let keys: Map<string, PublicKey>;
  after(() => cluster?.stop());
  const connected = (from: string, to: string): boolean => cluster.get(from).connectedPeers().includes(to);
  const events = (): ReturnType<LoopbackCluster['get']>[] => [...cluster.transports.values()];

  it('admits a validator added, which was refused before', async () => {
    // n3 knows everyone; n0..n2 do not know n3 yet, so its handshakes are refused.
    const ids = ['n0', 'n1', 'n2', 'n3'];
    // Redials wait on the manual clock: each is let go as soon as it is scheduled. Back-offs
    // stay far below the handshake timeout, which the same clock times.
    cluster = await loopbackCluster(
      ids,
      { reconnectMaxDelayMs: 200, handshakeTimeoutMs: 60_000 },
      { waitForMesh: false },
    );
    for (const transport of events())
      transport.on('dial-scheduled', ({ delayMs }) => setImmediate(() => cluster.clock.advance(delayMs)));
    const before = new Map([...cluster.registry].filter(([id]) => id !== 'n3'));
    for (const id of ['n0', 'n1', 'n2']) cluster.get(id).setPeers(before);
    await until(events(), ['peer-connected', 'peer-disconnected', 'handshake-refused'], () =>
      ['n0', 'n1', 'n2'].every((a) => ['n0', 'n1', 'n2'].every((b) => a === b || connected(a, b))),
    );
    assert.equal(connected('n0', 'n3'), false);
    keys = new Map(cluster.registry);
    for (const id of ['n0', 'n1', 'n2']) cluster.get(id).setPeers(keys);
    // Every pair ends up on one connection, n3's included.
    await settledMesh(cluster);
    assert.deepEqual([...cluster.get('n3').connectedPeers()].sort(), ['n0', 'n1', 'n2']);
  });

  it('keeps a rotated validator connected under either key for an epoch, then under the new one only', async () => {
    const old = keys.get('n1')!;
    const rotated = mlDsa87.generateKeyPair();
    const lost: string[] = [];
    cluster.get('n0').on('peer-disconnected', ({ peer, reason }) => lost.push(`${peer}: ${reason}`));
    // The epoch of the rotation: n1 signs with its new key, and the others take either.
    const either = new Map<string, PublicKey | PublicKey[]>(keys);
    either.set('n1', [old, rotated.publicKey]);
    cluster.get('n1').setPeers(either, rotated.privateKey);
    for (const id of ['n0', 'n2', 'n3']) cluster.get(id).setPeers(either);
    assert.deepEqual(lost, [], 'the links authenticated under a key still listed stay up');
    // A new connection authenticates n1 under its new key.
    cluster.get('n0').disconnectPeer('n1', 'test', 'make n1 authenticate again');
    await until(events(), ['peer-connected'], () => connected('n0', 'n1') && connected('n1', 'n0'));
    // Handshakes still under way settle first: one of them could otherwise land later.
    await settledMesh(cluster);
    // The epoch after: the old key alone no longer authenticates n1.
    keys.set('n1', rotated.publicKey);
    for (const id of ['n0', 'n2', 'n3']) cluster.get(id).setPeers(keys);
    const impostor = await rawPeer({
      port: cluster.ports.get('n0')!,
      nodeId: 'n1',
      keyPair: cluster.keys.get('n1')!,
      registry: keys,
      peer: 'n0',
    });
    impostor.socket.destroy();
    assert.equal(impostor.outcome.ok, false);
    // n0 refused it: its AUTH does not verify under the one key n1 has now.
    assert.equal(!impostor.outcome.ok && impostor.outcome.refusal.code, 'refused-by-peer');
    assert.match(!impostor.outcome.ok ? impostor.outcome.refusal.detail : '', /bad-signature/);
    assert.ok(connected('n0', 'n1'), 'n1 itself, under its new key, stays connected');
  });

  it('disconnects a removed validator and neither dials nor admits it again', async () => {
    keys.delete('n3');
    for (const id of ['n0', 'n1', 'n2']) cluster.get(id).setPeers(keys);
    await until(events(), ['peer-disconnected'], () =>
      ['n0', 'n1', 'n2'].every((id) => !connected(id, 'n3')),
    );
    // n3 keeps dialing; every handshake it makes is refused, and nobody dials it.
    const refused: string[] = [];
    cluster.get('n0').on('handshake-refused', ({ claimedPeer }) => refused.push(String(claimedPeer)));
    await until(events(), ['handshake-refused'], () => refused.includes('n3'));
    assert.equal(connected('n0', 'n3'), false);
    assert.deepEqual([...cluster.get('n0').connectedPeers()].sort(), ['n1', 'n2']);
  });
});
