/**
 * Reconnect: a peer that restarts (on the same port, or at a new address behind the same DNS
 * name) is dialed again with exponential back-off and full jitter, on the injected clock and
 * random source, so the test checks every delay exactly and never sleeps.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../../src/shell/clock.ts';
import { Prng } from '../../src/sim/prng.ts';
import { ClusterDiscovery, type LookupFunction } from '../../src/transport/discovery.ts';
import { TcpTransport } from '../../src/transport/tcp.ts';
import {
  CLUSTER_ID,
  type LoopbackCluster,
  loopbackCluster,
  next,
  numberedFrame,
  sequenceOf,
  testSeed,
  validatorKeys,
} from './tcp-support.ts';

type Scheduled = [{ peer: string; delayMs: number; failures: number }];

describe('TcpTransport reconnect', { timeout: 60_000 }, () => {
  let cluster: LoopbackCluster | undefined;
  const extra: TcpTransport[] = [];
  after(async () => {
    await cluster?.stop();
    await Promise.all(extra.map((transport) => transport.stop()));
  });

  it('redials a restarted peer on the same port with capped full-jitter back-off', async () => {
    const seed = testSeed('reconnect back-off');
    const baseMs = 100;
    const capMs = 400;
    // Only a dials, so the reconnect is a's doing alone.
    cluster = await loopbackCluster(
      ['a', 'b'],
      { reconnectBaseDelayMs: baseMs, reconnectMaxDelayMs: capMs },
      { seed, dials: (from) => from === 'a' },
    );
    const a = cluster.get('a');
    const jitter = new Prng(seed);
    const expectedDelay = (failures: number): number =>
      Math.floor(jitter.float() * Math.min(capMs, baseMs * 2 ** failures));

    let scheduled = next<Scheduled>(a, 'dial-scheduled');
    const lost = next(a, 'peer-disconnected');
    await cluster.get('b').stop();
    await lost;
    let [event] = await scheduled;
    assert.deepEqual(event, { peer: 'b', failures: 0, delayMs: expectedDelay(0) });

    // While b is down every dial is refused, and the bound doubles up to the cap.
    for (let failures = 1; failures <= 4; failures++) {
      const failed = next(a, 'dial-failed');
      scheduled = next<Scheduled>(a, 'dial-scheduled');
      // One millisecond early, nothing happens; at the delay, the dial goes out.
      if (event.delayMs > 0) cluster.clock.advance(event.delayMs - 1);
      assert.equal(a.stats().reconnectAttempts, failures - 1);
      cluster.clock.advance(event.delayMs > 0 ? 1 : 0);
      assert.equal(a.stats().reconnectAttempts, failures);
      await failed;
      [event] = await scheduled;
      assert.deepEqual(event, { peer: 'b', failures, delayMs: expectedDelay(failures) });
      assert.ok(event.delayMs < Math.min(capMs, baseMs * 2 ** failures));
    }

    // b comes back on the same port: a new process, a new instance.
    const b2 = new TcpTransport({
      nodeId: 'b',
      clusterId: CLUSTER_ID,
      privateKey: cluster.keys.get('b')!.privateKey,
      validators: cluster.registry,
      discovery: new ClusterDiscovery(),
      listen: { host: '127.0.0.1', port: cluster.ports.get('b')! },
      maxFrameBytes: 1 << 20,
      clock: cluster.clock,
    });
    extra.push(b2);
    await b2.start();
    const reconnected = next(a, 'peer-connected');
    cluster.clock.advance(event.delayMs);
    await reconnected;
    const stats = a.stats();
    assert.equal(stats.reconnectAttempts, 5);
    assert.equal(stats.connectionsEstablished, 2);
    assert.equal(stats.connectionsLost, 1);

    // The new connection carries frames, and the back-off starts afresh on the next loss.
    const { promise: received, resolve } = Promise.withResolvers<[string, Uint8Array]>();
    b2.onFrame((from, frame) => resolve([from, frame]));
    a.send('b', numberedFrame(42, 100));
    const [from, frame] = await received;
    assert.deepEqual([from, sequenceOf(frame)], ['a', 42]);
    scheduled = next<Scheduled>(a, 'dial-scheduled');
    await b2.stop();
    [event] = await scheduled;
    assert.deepEqual(event, { peer: 'b', failures: 0, delayMs: expectedDelay(0) });
    await cluster.stop();
    cluster = undefined;
  });

  it('resolves a DNS name again at each reconnect and follows the peer to its new address', async () => {
    const seed = testSeed('reconnect DNS');
    const prng = new Prng(seed);
    let answer: string | null = '127.0.0.1';
    const lookups: string[] = [];
    const lookup: LookupFunction = async (hostname) => {
      lookups.push(hostname);
      if (answer === null)
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return [{ address: answer, family: 4 }];
    };
    const { keys, registry } = validatorKeys(['a', 'b']);
    const clock = new ManualClock();
    const transport = (nodeId: string, host: string, port: number, discovery: ClusterDiscovery) =>
      new TcpTransport({
        nodeId,
        clusterId: CLUSTER_ID,
        privateKey: keys.get(nodeId)!.privateKey,
        validators: registry,
        discovery,
        listen: { host, port },
        maxFrameBytes: 1 << 20,
        clock,
        random: () => prng.float(),
      });

    const b1 = transport('b', '127.0.0.1', 0, new ClusterDiscovery());
    extra.push(b1);
    const port = (await b1.listen()).port;
    await b1.start();
    // The cluster file names b by a headless-service DNS name.
    const a = transport(
      'a',
      '127.0.0.1',
      0,
      new ClusterDiscovery({ b: `node-b.cretoai.svc:${port}` }, { lookup }),
    );
    extra.push(a);
    let connected = next(a, 'peer-connected');
    await a.start();
    await connected;
    assert.equal(a.peerInfo('b')!.remoteAddress, '127.0.0.1');
    assert.deepEqual(lookups, ['node-b.cretoai.svc']);

    // b's pod goes away and DNS has no record for a while.
    answer = null;
    let scheduled = next<Scheduled>(a, 'dial-scheduled');
    await b1.stop();
    let [event] = await scheduled;
    const failed = next<[{ reason: string }]>(a, 'dial-failed');
    scheduled = next<Scheduled>(a, 'dial-scheduled');
    clock.advance(event.delayMs);
    const [failure] = await failed;
    assert.match(failure.reason, /^dns-failure/);
    [event] = await scheduled;
    assert.equal(lookups.length, 2);

    // It is rescheduled at a new IP under the same name (and port).
    const b2 = transport('b', '127.0.0.2', port, new ClusterDiscovery());
    extra.push(b2);
    await b2.start();
    answer = '127.0.0.2';
    connected = next(a, 'peer-connected');
    clock.advance(event.delayMs);
    await connected;
    assert.equal(lookups.length, 3);
    assert.equal(a.peerInfo('b')!.remoteAddress, '127.0.0.2');
  });
});
