/**
 * The connection handshake in memory: only registered validators of this cluster, proving
 * their ML-DSA-87 key over a transcript of fresh hybrid key shares, get sealed channel keys;
 * every other attempt is refused with a typed reason, and the accepting side never signs for
 * a dialer it has not verified. The TCP tests (`tcp-handshake.test.ts`) run the refusals
 * through a real transport.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { mlDsa87, type SignatureScheme } from '../../src/crypto/index.ts';
import {
  type AcceptOptions,
  acceptHandshake,
  type DialOptions,
  dialHandshake,
  type HandshakeChannel,
  type HandshakeOutcome,
  type HandshakeRefusal,
  NONCE_BYTES,
  NonceLedger,
} from '../../src/transport/handshake.ts';
import {
  decodeHandshakeFrame,
  encodeAnswer,
  encodeAuth,
  encodeOffer,
  encodeRefuse,
  HANDSHAKE_FRAME_BYTES_MAX,
  HANDSHAKE_VERSION,
} from '../../src/transport/handshake-frames.ts';
import { CLUSTER_ID, testSeed, validatorKeys } from './tcp-support.ts';

/** What crosses an in-memory channel pair, and how a test may tamper with it. */
type Tamper = (body: Uint8Array, index: number, from: 'dialer' | 'acceptor') => Uint8Array | null;

/**
 * Two in-memory handshake channels wired to each other. `tamper` sees every frame on the way
 * (returning null drops it). A channel whose peer has finished fails its pending receive as
 * closed, as a socket would.
 */
function channelPair(tamper: Tamper = (body) => body): {
  dialer: HandshakeChannel & { close(): void };
  acceptor: HandshakeChannel & { close(): void };
} {
  let index = 0;
  interface End extends HandshakeChannel {
    deliver(item: Uint8Array | HandshakeRefusal): void;
    close(): void;
    connect(other: End): void;
  }
  const make = (side: 'dialer' | 'acceptor'): End => {
    const inbox: (Uint8Array | HandshakeRefusal)[] = [];
    let waiter: ((body: Uint8Array | HandshakeRefusal) => void) | null = null;
    let peer: End | null = null;
    const deliver = (item: Uint8Array | HandshakeRefusal): void => {
      if (waiter !== null) {
        const wake = waiter;
        waiter = null;
        wake(item);
      } else inbox.push(item);
    };
    return {
      send(body: Uint8Array) {
        const passed = tamper(body.slice(), index++, side);
        if (passed !== null) peer?.deliver(passed);
      },
      receive(): Promise<Uint8Array | HandshakeRefusal> {
        const item = inbox.shift();
        if (item !== undefined) return Promise.resolve(item);
        return new Promise((resolve) => {
          waiter = resolve;
        });
      },
      deliver,
      close() {
        peer?.deliver({ code: 'closed', detail: 'peer finished' });
      },
      connect(other: End) {
        peer = other;
      },
    };
  };
  const dialer = make('dialer');
  const acceptor = make('acceptor');
  dialer.connect(acceptor);
  acceptor.connect(dialer);
  return { dialer, acceptor };
}

const { keys, registry } = validatorKeys(['a', 'b', 'c']);
const stranger = mlDsa87.generateKeyPair();

/** ML-DSA-87 with a count of signatures made, to check who signed for whom. */
function countingScheme(): SignatureScheme & { signatures: number } {
  const scheme: SignatureScheme & { signatures: number } = {
    ...mlDsa87,
    signatures: 0,
    signAsync: (privateKey, message, context) => {
      scheme.signatures++;
      return mlDsa87.signAsync(privateKey, message, context);
    },
  };
  return scheme;
}

function common(nodeId: string) {
  return {
    scheme: mlDsa87,
    clusterId: CLUSTER_ID,
    nodeId,
    privateKey: keys.get(nodeId)?.privateKey ?? stranger.privateKey,
    publicKeyOf: (id: string) => registry.get(id),
    instance: new Uint8Array(16).fill(nodeId.charCodeAt(0)),
    ledger: new NonceLedger(),
  };
}

const dialerOptions = (nodeId: string, peer: string, overrides: Partial<DialOptions> = {}): DialOptions => ({
  ...common(nodeId),
  peer,
  ...overrides,
});
const acceptorOptions = (nodeId: string, overrides: Partial<AcceptOptions> = {}): AcceptOptions => ({
  ...common(nodeId),
  ...overrides,
});

/** Runs both sides; whichever finishes first closes its end, as a socket would. */
async function handshake(
  dialer: DialOptions,
  acceptor: AcceptOptions,
  tamper?: Tamper,
): Promise<[HandshakeOutcome, HandshakeOutcome]> {
  const channels = channelPair(tamper);
  const dialed = dialHandshake(channels.dialer, dialer).then((outcome) => {
    if (!outcome.ok) channels.dialer.close();
    return outcome;
  });
  const accepted = acceptHandshake(channels.acceptor, acceptor).then((outcome) => {
    if (!outcome.ok) channels.acceptor.close();
    return outcome;
  });
  return Promise.all([dialed, accepted]);
}

function refusalCode(outcome: HandshakeOutcome): string | null {
  return outcome.ok ? null : outcome.refusal.code;
}

describe('handshake (in memory)', () => {
  it('authenticates both validators and gives each the keys that open the other’s frames', async () => {
    const [dialer, acceptor] = await handshake(dialerOptions('a', 'b'), acceptorOptions('b'));
    assert.ok(dialer.ok && acceptor.ok);
    assert.deepEqual([dialer.peer, dialer.peerInstance], ['b', '62'.repeat(16)]);
    assert.deepEqual([acceptor.peer, acceptor.peerInstance], ['a', '61'.repeat(16)]);
    const toAcceptor = dialer.sealer.seal(Uint8Array.of(1, 2, 3));
    assert.deepEqual(acceptor.opener.open(toAcceptor), Uint8Array.of(1, 2, 3));
    const toDialer = acceptor.sealer.seal(Uint8Array.of(4, 5));
    assert.deepEqual(dialer.opener.open(toDialer), Uint8Array.of(4, 5));
  });

  it('refuses a dialer of another cluster, and a node id with no registered key', async () => {
    const [other, atB] = await handshake(
      dialerOptions('a', 'b', { clusterId: 'other' }),
      acceptorOptions('b'),
    );
    assert.deepEqual([refusalCode(other), refusalCode(atB)], ['refused-by-peer', 'wrong-cluster']);
    const [zed, atB2] = await handshake(dialerOptions('zed', 'b'), acceptorOptions('b'));
    assert.deepEqual([refusalCode(zed), refusalCode(atB2)], ['refused-by-peer', 'unknown-node']);
  });

  it("verifies the dialer before it signs: a validator's id with another key costs the acceptor no signature", async () => {
    const scheme = countingScheme();
    const [impostor, atB] = await handshake(
      dialerOptions('a', 'b', { privateKey: stranger.privateKey }),
      acceptorOptions('b', { scheme }),
    );
    assert.deepEqual([refusalCode(impostor), refusalCode(atB)], ['refused-by-peer', 'bad-signature']);
    assert.equal(scheme.signatures, 0);
  });

  it('refuses an acceptor that answers for an id it cannot sign for', async () => {
    const [atA, impostor] = await handshake(
      dialerOptions('a', 'b'),
      acceptorOptions('b', { privateKey: stranger.privateKey }),
    );
    assert.deepEqual([refusalCode(atA), refusalCode(impostor)], ['bad-signature', 'refused-by-peer']);
  });

  it('refuses a dialer that meant another node, an answer from another node, and its own id', async () => {
    const [meantC, atB] = await handshake(dialerOptions('a', 'c'), acceptorOptions('b'));
    assert.deepEqual([refusalCode(meantC), refusalCode(atB)], ['refused-by-peer', 'unexpected-peer']);
    const [self] = await handshake(dialerOptions('a', 'a'), acceptorOptions('a'));
    assert.equal(refusalCode(self), 'refused-by-peer');
  });

  it('refuses when the two sides see different channels under the stream (a relay between two QUIC sessions)', async () => {
    const scheme = countingScheme();
    const [, atB] = await handshake(
      dialerOptions('a', 'b', { channelBinding: new Uint8Array(32).fill(1) }),
      acceptorOptions('b', { channelBinding: new Uint8Array(32).fill(2), scheme }),
    );
    // Different transcripts give different keys: the dialer's AUTH does not even open.
    assert.equal(refusalCode(atB), 'malformed');
    assert.equal(scheme.signatures, 0);
  });

  it('refuses a replayed nonce and a reflected one', async () => {
    const ledger = new NonceLedger();
    const nonce = new Uint8Array(NONCE_BYTES).fill(9);
    const [first] = await handshake(dialerOptions('a', 'b', { nonce }), acceptorOptions('b', { ledger }));
    assert.equal(first.ok, true);
    const [, replayed] = await handshake(
      dialerOptions('a', 'b', { nonce }),
      acceptorOptions('b', { ledger }),
    );
    assert.equal(refusalCode(replayed), 'replay');
    const same = new Uint8Array(NONCE_BYTES).fill(5);
    const [, reflected] = await handshake(
      dialerOptions('a', 'b', { nonce: same }),
      acceptorOptions('b', { nonce: same }),
    );
    assert.equal(refusalCode(reflected), 'replay');
  });

  it('lets the acceptor refuse an authenticated dialer it will not sign for (admission), before signing', async () => {
    const scheme = countingScheme();
    const [dialer, atB] = await handshake(
      dialerOptions('a', 'b'),
      acceptorOptions('b', { scheme, admitAuthenticated: () => ({ code: 'busy', detail: 'too many' }) }),
    );
    assert.deepEqual([refusalCode(dialer), refusalCode(atB)], ['refused-by-peer', 'busy']);
    assert.equal(scheme.signatures, 0);
  });

  it('cannot be relayed: two acceptors wired to each other wait for an OFFER that never comes', async () => {
    const channels = channelPair();
    const schemeA = countingScheme();
    const schemeB = countingScheme();
    const both = Promise.all([
      acceptHandshake(channels.dialer, acceptorOptions('a', { scheme: schemeA })),
      acceptHandshake(channels.acceptor, acceptorOptions('b', { scheme: schemeB })),
    ]);
    // The transport's timeout ends them; neither said or signed anything.
    channels.dialer.close();
    channels.acceptor.close();
    const [a, b] = await both;
    assert.deepEqual([refusalCode(a), refusalCode(b)], ['closed', 'closed']);
    assert.equal(schemeA.signatures + schemeB.signatures, 0);
  });

  it("fails on both sides when a bit of OFFER, ANSWER or an AUTH is flipped, and at the acceptor when READY's is (property)", async () => {
    const seed = testSeed('handshake bit flip property');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        async (frame, at, bit) => {
          let flipped = false;
          const [dialer, acceptor] = await handshake(
            dialerOptions('a', 'b'),
            acceptorOptions('b'),
            (body, index) => {
              if (index !== frame || body.length === 0) return body;
              body[at % body.length]! ^= 1 << bit;
              flipped = true;
              return body;
            },
          );
          // Frames 0-3 always cross (OFFER, ANSWER, AUTH, AUTH); READY (4) is the last word.
          assert.ok(flipped || frame === 4);
          if (!flipped) return;
          // The acceptor adopts a connection only on an intact READY. The dialer has finished when
          // it sends READY, so a damaged READY fails only the acceptor, which closes the
          // connection; any earlier damage fails both.
          assert.equal(acceptor.ok, false);
          assert.equal(dialer.ok, frame === 4);
        },
      ),
      { seed, numRuns: 60 },
    );
  });
});

describe('handshake frames', () => {
  const greeting = {
    clusterId: CLUSTER_ID,
    from: 'ü-node',
    to: 'b',
    instance: new Uint8Array(16).fill(2),
    nonce: new Uint8Array(32).fill(1),
  };
  const offer = {
    ...greeting,
    keys: { x25519: new Uint8Array(32).fill(3), mlkemKey: new Uint8Array(1184).fill(4) },
  };
  const answer = {
    ...greeting,
    keys: { x25519: new Uint8Array(32).fill(5), mlkemCiphertext: new Uint8Array(1088).fill(6) },
  };

  it('decodes what it encodes and refuses malformed frames with a code, never a throw', () => {
    assert.deepEqual(decodeHandshakeFrame(encodeOffer(offer)), { ok: true, frame: { kind: 'offer', offer } });
    assert.deepEqual(decodeHandshakeFrame(encodeAnswer(answer)), {
      ok: true,
      frame: { kind: 'answer', answer },
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
    const valid = encodeOffer(offer);
    assert.equal(code(valid.subarray(0, valid.length - 1)), 'malformed');
    assert.equal(code(Uint8Array.of(...valid, 0)), 'malformed');
    assert.equal(code(Uint8Array.of(0x47, 0x45, 0x54, 0x20, 0x2f, 0, 1)), 'malformed');
    const older = valid.slice();
    older[5] = HANDSHAKE_VERSION - 1;
    assert.equal(code(older), 'unsupported-version');
    // Version 2's HELLO kind is retired, never reused.
    const hello = encodeRefuse('busy');
    hello[6] = 1;
    assert.equal(code(hello), 'malformed');
    assert.equal(code(new Uint8Array(HANDSHAKE_FRAME_BYTES_MAX + 1)), 'oversized');
  });

  it('never throws on arbitrary bytes (property)', () => {
    const seed = testSeed('handshake decode property');
    const header = Uint8Array.of(0x43, 0x52, 0x48, 0x53, 0, HANDSHAKE_VERSION);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2400 }), fc.boolean(), (tail, withHeader) => {
        const bytes = withHeader ? Uint8Array.of(...header, ...tail) : tail;
        const result = decodeHandshakeFrame(bytes);
        assert.equal(typeof result.ok, 'boolean');
      }),
      { seed, numRuns: 2000 },
    );
  });
});
