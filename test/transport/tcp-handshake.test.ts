/**
 * The connection handshake: only registered validators of this cluster, proving possession of
 * their ML-DSA-87 key over a fresh challenge, get a connection; every other attempt is refused
 * with a typed reason. Unit tests drive `performHandshake` over in-memory channels; the socket
 * tests run the refusals through a real TcpTransport.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { mlDsa87 } from '../../src/crypto/index.ts';
import { ClusterDiscovery } from '../../src/transport/discovery.ts';
import {
  CHALLENGE_BYTES,
  ChallengeLedger,
  decodeHandshakeFrame,
  encodeAuth,
  encodeHello,
  encodeRefuse,
  HANDSHAKE_FRAME_BYTES_MAX,
  HANDSHAKE_VERSION,
  type HandshakeChannel,
  type HandshakeOptions,
  type HandshakeOutcome,
  type HandshakeRefusal,
  performHandshake,
} from '../../src/transport/handshake.ts';
import { TcpTransport } from '../../src/transport/tcp.ts';
import {
  CLUSTER_ID,
  type LoopbackCluster,
  loopbackCluster,
  next,
  rawPeer,
  testSeed,
  validatorKeys,
} from './tcp-support.ts';

/** Two in-memory handshake channels wired to each other. */
function channelPair(): [HandshakeChannel, HandshakeChannel] {
  const make = () => {
    const inbox: Uint8Array[] = [];
    let waiter: ((body: Uint8Array | HandshakeRefusal) => void) | null = null;
    let peer: { deliver(body: Uint8Array): void } | null = null;
    const channel = {
      send(body: Uint8Array) {
        peer?.deliver(body.slice());
      },
      receive(): Promise<Uint8Array | HandshakeRefusal> {
        const body = inbox.shift();
        if (body !== undefined) return Promise.resolve(body);
        return new Promise((resolve) => {
          waiter = resolve;
        });
      },
      deliver(body: Uint8Array) {
        if (waiter !== null) {
          const wake = waiter;
          waiter = null;
          wake(body);
        } else inbox.push(body);
      },
      connect(other: { deliver(body: Uint8Array): void }) {
        peer = other;
      },
    };
    return channel;
  };
  const a = make();
  const b = make();
  a.connect(b);
  b.connect(a);
  return [a, b];
}

const { keys, registry } = validatorKeys(['a', 'b']);
const stranger = mlDsa87.generateKeyPair();

function sideOptions(nodeId: string, overrides: Partial<HandshakeOptions> = {}): HandshakeOptions {
  return {
    scheme: mlDsa87,
    clusterId: CLUSTER_ID,
    nodeId,
    privateKey: keys.get(nodeId)?.privateKey ?? stranger.privateKey,
    publicKeyOf: (id) => registry.get(id),
    instance: new Uint8Array(16).fill(nodeId.charCodeAt(0)),
    ledger: new ChallengeLedger(),
    ...overrides,
  };
}

async function handshake(
  a: HandshakeOptions,
  b: HandshakeOptions,
): Promise<[HandshakeOutcome, HandshakeOutcome]> {
  const [left, right] = channelPair();
  return Promise.all([performHandshake(left, a), performHandshake(right, b)]);
}

function refusalCode(outcome: HandshakeOutcome): string | null {
  return outcome.ok ? null : outcome.refusal.code;
}

describe('handshake (in memory)', () => {
  it('authenticates two registered validators to each other', async () => {
    const [a, b] = await handshake(sideOptions('a', { expectedPeer: 'b' }), sideOptions('b'));
    assert.deepEqual(a, { ok: true, peer: 'b', peerInstance: '62'.repeat(16) });
    assert.deepEqual(b, { ok: true, peer: 'a', peerInstance: '61'.repeat(16) });
  });

  it('refuses a peer of another cluster', async () => {
    const [a, b] = await handshake(sideOptions('a'), sideOptions('b', { clusterId: 'other' }));
    assert.equal(refusalCode(a), 'wrong-cluster');
    assert.equal(refusalCode(b), 'wrong-cluster');
  });

  it('refuses a node id with no registered key', async () => {
    const [a, z] = await handshake(
      sideOptions('a'),
      sideOptions('zed', { publicKeyOf: (id) => (id === 'zed' ? stranger.publicKey : registry.get(id)) }),
    );
    assert.equal(refusalCode(a), 'unknown-node');
    assert.equal(refusalCode(z), 'refused-by-peer');
  });

  it('refuses a registered id whose AUTH is signed with another key', async () => {
    const [a, b] = await handshake(sideOptions('a'), sideOptions('b', { privateKey: stranger.privateKey }));
    assert.equal(refusalCode(a), 'bad-signature');
    assert.equal(refusalCode(b), 'refused-by-peer');
  });

  it('refuses when the two sides see different channels (a relay between two TLS sessions)', async () => {
    const [a, b] = await handshake(
      sideOptions('a', { channelBinding: new Uint8Array(32).fill(1) }),
      sideOptions('b', { channelBinding: new Uint8Array(32).fill(2) }),
    );
    assert.equal(refusalCode(a), 'bad-signature');
    assert.equal(refusalCode(b), 'bad-signature');
  });

  it('refuses a replayed challenge and a reflected one', async () => {
    const ledger = new ChallengeLedger();
    const challenge = new Uint8Array(CHALLENGE_BYTES).fill(9);
    const first = await handshake(sideOptions('a', { ledger }), sideOptions('b', { challenge }));
    assert.equal(first[0].ok, true);
    const replay = await handshake(sideOptions('a', { ledger }), sideOptions('b', { challenge }));
    assert.equal(refusalCode(replay[0]), 'replay');
    const reflected = await handshake(
      sideOptions('a', { challenge: new Uint8Array(CHALLENGE_BYTES).fill(5) }),
      sideOptions('b', { challenge: new Uint8Array(CHALLENGE_BYTES).fill(5) }),
    );
    assert.equal(refusalCode(reflected[0]), 'replay');
  });

  it('refuses its own id and an unexpected peer', async () => {
    const [self] = await handshake(sideOptions('a'), sideOptions('a'));
    assert.equal(refusalCode(self), 'self-connection');
    const [dialer] = await handshake(sideOptions('a', { expectedPeer: 'c' }), sideOptions('b'));
    assert.equal(refusalCode(dialer), 'unexpected-peer');
  });

  it('decodes what it encodes and refuses malformed frames with a code, never a throw', () => {
    const hello = {
      clusterId: CLUSTER_ID,
      nodeId: 'ü-node',
      challenge: new Uint8Array(32).fill(1),
      instance: new Uint8Array(16).fill(2),
    };
    const decoded = decodeHandshakeFrame(encodeHello(hello));
    assert.deepEqual(decoded, {
      ok: true,
      frame: { kind: 'hello', hello: { version: HANDSHAKE_VERSION, ...hello } },
    });
    assert.deepEqual(decodeHandshakeFrame(encodeAuth(new Uint8Array([1, 2, 3]))), {
      ok: true,
      frame: { kind: 'auth', signature: new Uint8Array([1, 2, 3]) },
    });
    assert.deepEqual(decodeHandshakeFrame(encodeRefuse('busy')), {
      ok: true,
      frame: { kind: 'refuse', code: 'busy' },
    });
    const code = (bytes: Uint8Array) => {
      const result = decodeHandshakeFrame(bytes);
      return result.ok ? 'ok' : result.refusal.code;
    };
    const valid = encodeHello(hello);
    assert.equal(code(valid.subarray(0, valid.length - 1)), 'malformed');
    assert.equal(code(Uint8Array.of(...valid, 0)), 'malformed');
    assert.equal(code(Uint8Array.of(0x47, 0x45, 0x54, 0x20, 0x2f, 0, 1)), 'malformed');
    const future = valid.slice();
    future[5] = HANDSHAKE_VERSION + 1;
    assert.equal(code(future), 'unsupported-version');
    assert.equal(code(new Uint8Array(HANDSHAKE_FRAME_BYTES_MAX + 1)), 'oversized');
  });

  it('never throws on arbitrary bytes (property)', () => {
    const seed = testSeed('handshake decode property');
    const header = Uint8Array.of(0x43, 0x52, 0x48, 0x53, 0, 1);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (tail, withHeader) => {
        const bytes = withHeader ? Uint8Array.of(...header, ...tail) : tail;
        const result = decodeHandshakeFrame(bytes);
        assert.equal(typeof result.ok, 'boolean');
      }),
      { seed, numRuns: 2000 },
    );
  });
});

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
  ): Promise<{ transport: TcpTransport; refusal: HandshakeRefusal }> {
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
    return { transport, refusal };
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

  it("refuses a validator's id with a signature by another key (bad-signature)", async () => {
    const atB = refusalAtB();
    await intruder('a', { keyPair: stranger });
    const [event] = await atB;
    assert.equal(event.refusal.code, 'bad-signature');
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
      const socket = net.connect({ host: '127.0.0.1', port: cluster.ports.get('b')! });
      socket.on('error', () => {});
      socket.write(bytes);
      assert.equal((await atB)[0].refusal.code, expected);
      socket.destroy();
    }
  });

  it('refuses a handshake that does not finish in time (timeout on the injected clock)', async () => {
    const atB = refusalAtB();
    const socket = net.connect({ host: '127.0.0.1', port: cluster.ports.get('b')! });
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // b's HELLO arrives: b has accepted and started its handshake clock.
    await new Promise((resolve) => socket.once('data', resolve));
    cluster.clock.advance(4999);
    cluster.clock.advance(1);
    const [event] = await atB;
    assert.equal(event.refusal.code, 'timeout');
    assert.equal(event.side, 'acceptor');
    // b sent REFUSE and closed; the silent client is cut off.
    socket.resume();
    cluster.clock.advance(5000);
    await closed;
    assert.equal(cluster.get('b').stats().handshakesRefused.timeout, 1);
  });

  it('lets the registered key in on a fresh connection (raw peer)', async () => {
    const { socket, outcome } = await rawPeer({
      port: cluster.ports.get('b')!,
      nodeId: 'a',
      keyPair: cluster.keys.get('a')!,
      registry: cluster.registry,
      expectedPeer: 'b',
    });
    assert.equal(outcome.ok, true);
    socket.destroy();
  });
});
