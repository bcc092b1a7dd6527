/**
 * The QUIC transport: the same {@link StreamTransport} as TCP (the ML-DSA-87 handshake, bounded
 * frames and queues, tie-break, reconnect), over one bidirectional QUIC stream per connection.
 *
 * Node has no built-in QUIC; this uses `@chainsafe/libp2p-quic` (Rust quinn through N-API,
 * installed from prebuilt binaries) standalone, without a libp2p node: its transport is given a
 * pass-through upgrader, since QUIC brings its own encryption (TLS 1.3) and stream muxing, and
 * the connection's one stream is read through the package's native binding, not its libp2p
 * stream (which reads 4 KiB at a time: see {@link duplexOverQuic}). The package is optional:
 * it is loaded on first use, so a node that never runs QUIC does not need it, and a missing
 * package is a clear {@link QuicUnavailableError} at `listen`/`start`.
 *
 * Identity. QUIC's TLS authenticates each endpoint with a libp2p Ed25519 key; this transport
 * makes a fresh one at every start, so it proves nothing about validators by itself. The
 * ML-DSA-87 handshake does that, and it signs both endpoints' libp2p peer ids (which QUIC's TLS
 * authenticated) as its channel binding, so that a machine in the middle, which would have to
 * present its own peer id on each side, cannot relay it.
 *
 * One connection carries one stream; further streams a peer opens are reset, and an inbound
 * connection that opens no stream within the handshake timeout is closed.
 */

import { Duplex } from 'node:stream';
import { sha256 } from '../crypto/digest.ts';
import { CretoaiError } from '../errors.ts';
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';
import type { ResolvedAddress } from './discovery.ts';
import { StreamTransport } from './stream-transport.ts';
import type {
  ListenAddress,
  ListenHooks,
  PeerStream,
  StreamConnector,
  StreamTransportOptions,
} from './stream-types.ts';

/** A libp2p private key: only its public key's string form (the peer id) is used here. */
interface Libp2pPrivateKey {
  readonly publicKey: { toString(): string };
}

/** The parts of a multiaddr used here. */
interface Multiaddr {
  toString(): string;
  getComponents(): readonly { readonly name: string; readonly value?: string }[];
}

/**
 * One QUIC stream of the package's native binding (quinn's send and receive halves). `read`
 * resolves with at most `max` bytes, or null at the peer's end of stream, and rejects once the
 * stream or its connection is reset or closed.
 */
interface NativeQuicStream {
  read(max: number): Promise<Uint8Array | null>;
  write(data: Uint8Array): Promise<void>;
  finishWrite(): unknown;
  resetWrite(): unknown;
  stopRead(): unknown;
}

/** One QUIC connection of the native binding: the streams it opens and accepts. */
interface NativeQuicConnection {
  outboundStream(): Promise<NativeQuicStream>;
  inboundStream(): Promise<NativeQuicStream>;
}

/** The package's connection for libp2p (a multiaddr connection): its address, and closing it. */
interface QuicConnectionHandle {
  readonly remoteAddr: Multiaddr;
  abort(error: Error): void;
}

/**
 * What the package hands an upgrader. Its stream muxer factory keeps the native connection in
 * `init.connection`: this transport reads that connection's one stream directly (see
 * {@link duplexOverQuic} for why) rather than through the package's libp2p stream muxer.
 */
interface UpgradeOptions {
  readonly remotePeer: { toString(): string };
  readonly muxerFactory: { readonly init?: { readonly connection?: unknown } };
}

interface Upgraded {
  readonly maConn: QuicConnectionHandle;
  readonly connection: NativeQuicConnection;
  readonly remotePeer: string;
}

interface Upgrader {
  upgradeInbound(maConn: QuicConnectionHandle, options: UpgradeOptions): Promise<Upgraded>;
  upgradeOutbound(maConn: QuicConnectionHandle, options: UpgradeOptions): Promise<Upgraded>;
}

interface QuicListenerHandle {
  listen(address: Multiaddr): Promise<void>;
  getAddrs(): readonly Multiaddr[];
  close(): Promise<void>;
}

interface Libp2pQuicTransport {
  dial(
    address: Multiaddr,
    options: { readonly upgrader: Upgrader; readonly signal: AbortSignal },
  ): Promise<Upgraded>;
  createListener(options: { readonly upgrader: Upgrader }): QuicListenerHandle;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A no-op libp2p logger: the transport reports through its own events and counters. */
interface Libp2pLogger {
  (...args: unknown[]): void;
  error(...args: unknown[]): void;
  trace(...args: unknown[]): void;
  enabled: boolean;
  newScope(name: string): Libp2pLogger;
}

/** What this module needs from `@chainsafe/libp2p-quic` and its dependencies. */
export interface QuicModules {
  /** `quic` of `@chainsafe/libp2p-quic`. */
  readonly quic: (
    options?: Readonly<Record<string, unknown>>,
  ) => (components: {
    readonly privateKey: Libp2pPrivateKey;
    readonly logger: unknown;
  }) => Libp2pQuicTransport;
  /** `generateKeyPair` of `@libp2p/crypto/keys`. */
  readonly generateKeyPair: (type: 'Ed25519') => Promise<Libp2pPrivateKey>;
  /** `multiaddr` of `@multiformats/multiaddr`. */
  readonly multiaddr: (text: string) => Multiaddr;
}

/** `@chainsafe/libp2p-quic` (or a dependency of it) could not be loaded. */
export class QuicUnavailableError extends CretoaiError {
  readonly code = 'quic-unavailable';
  constructor(options?: ErrorOptions) {
    super(
      'the QUIC transport needs the optional package @chainsafe/libp2p-quic 2.x (npm install --no-save @chainsafe/libp2p-quic@^2.1.1)',
      options,
    );
    this.name = 'QuicUnavailableError';
  }
}

// Held in variables so that the type checker does not require the optional packages.
const QUIC_PACKAGE: string = '@chainsafe/libp2p-quic';
const KEYS_PACKAGE: string = '@libp2p/crypto/keys';
const MULTIADDR_PACKAGE: string = '@multiformats/multiaddr';

/**
 * Loads `@chainsafe/libp2p-quic`, `@libp2p/crypto/keys` and `@multiformats/multiaddr` (the
 * latter two are dependencies of the first).
 *
 * @throws QuicUnavailableError when they are not installed.
 */
export async function importQuicModules(): Promise<QuicModules> {
  try {
    const [quicModule, keysModule, multiaddrModule] = await Promise.all([
      import(QUIC_PACKAGE),
      import(KEYS_PACKAGE),
      import(MULTIADDR_PACKAGE),
    ]);
    return {
      quic: quicModule.quic,
      generateKeyPair: keysModule.generateKeyPair,
      multiaddr: multiaddrModule.multiaddr,
    };
  } catch (cause) {
    throw new QuicUnavailableError({ cause });
  }
}

/** The QUIC transport's options: the common ones and QUIC's own. */
export interface QuicTransportOptions extends StreamTransportOptions {
  /** The libp2p QUIC modules, or how to load them. Default `importQuicModules`. */
  readonly modules?: QuicModules | (() => Promise<QuicModules>);
  /**
   * Options of `@chainsafe/libp2p-quic` (`maxIdleTimeout`, `keepAliveInterval`,
   * `maxStreamData`, ...). Its defaults: idle timeout 10 s, keep-alive 5 s.
   */
  readonly quic?: Readonly<Record<string, unknown>>;
}

const noop = (): void => {};
const silentLogger: Libp2pLogger = Object.assign((..._args: unknown[]) => {}, {
  error: noop,
  trace: noop,
  enabled: false,
  newScope: (): Libp2pLogger => silentLogger,
});
const componentLogger = Object.freeze({ forComponent: (): Libp2pLogger => silentLogger });

const BINDING_TAG = 'cretoai-consensus/quic-binding/v1';
const encoder = new TextEncoder();

/** The channel binding both ends compute from the two QUIC-authenticated peer ids. */
function quicChannelBinding(dialerPeerId: string, acceptorPeerId: string): Uint8Array {
  return sha256(encoder.encode(`${BINDING_TAG}\u0000${dialerPeerId}\u0000${acceptorPeerId}`));
}

function hostPortOf(address: Multiaddr): {
  readonly host: string | undefined;
  readonly port: number | undefined;
} {
  const components = address.getComponents();
  const host = components.find((c) => c.name === 'ip4' || c.name === 'ip6')?.value;
  const port = components.find((c) => c.name === 'udp')?.value;
  return { host, port: port === undefined ? undefined : Number(port) };
}

function quicAddress(host: string, port: number): string {
  return `/${host.includes(':') ? 'ip6' : 'ip4'}/${host}/udp/${port}/quic-v1`;
}

/**
 * The most bytes one read takes from a QUIC stream. Each read is a round trip between the
 * binding's thread and the event loop, so a large frame (a batch) arrives in as many turns as
 * it has reads; the package's own streams read 4 KiB at a time, which slowed rounds under load
 * (docs/benchmarks.md).
 */
const QUIC_READ_BYTES_MAX = 64 * 1024;

/**
 * The native connection inside the package's muxer factory, or an error naming the version
 * this transport needs when a release of the package keeps it elsewhere.
 */
function nativeConnectionOf(options: UpgradeOptions): NativeQuicConnection {
  const connection = options.muxerFactory.init?.connection as Partial<NativeQuicConnection> | undefined;
  if (typeof connection?.outboundStream !== 'function' || typeof connection.inboundStream !== 'function') {
    throw new QuicUnavailableError({
      cause: new Error(
        'this release of @chainsafe/libp2p-quic keeps its native connection elsewhere (2.1 is tested)',
      ),
    });
  }
  return connection as NativeQuicConnection;
}

/** Ends both halves of a native stream; errors are moot, the stream is being dropped. */
function resetStream(stream: NativeQuicStream): void {
  for (const end of [() => stream.resetWrite(), () => stream.stopRead()]) {
    try {
      Promise.resolve(end()).catch(() => {});
    } catch {
      // Already closed.
    }
  }
}

/**
 * A native QUIC stream as a Node Duplex, so that the stream transport's code (handshake
 * channel, framing, 'drain' backpressure, cork) runs on it unchanged. Reads of up to
 * QUIC_READ_BYTES_MAX follow one another while the Duplex's buffer has room and stop while it
 * is full, so QUIC flow control pushes back on the sender; a write completes once quinn took
 * its bytes.
 */
function duplexOverQuic(stream: NativeQuicStream, onDestroy: () => void): Duplex {
  let reading = false;
  const pump = async (): Promise<void> => {
    reading = true;
    try {
      for (;;) {
        const chunk = await stream.read(QUIC_READ_BYTES_MAX);
        if (chunk === null) {
          duplex.push(null);
          return;
        }
        if (!duplex.push(chunk)) return;
      }
    } catch (error) {
      duplex.destroy(error as Error);
    } finally {
      reading = false;
    }
  };
  const send = (bytes: Uint8Array, callback: (error?: Error | null) => void): void => {
    // A binding that throws rather than rejects (a stream it already dropped) fails this link,
    // not the process: the Duplex's write path does not catch.
    try {
      stream.write(bytes).then(() => callback(), callback);
    } catch (error) {
      callback(error as Error);
    }
  };
  const duplex = new Duplex({
    allowHalfOpen: false,
    read() {
      if (!reading) void pump();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      send(chunk, callback);
    },
    writev(chunks, callback) {
      let total = 0;
      for (const { chunk } of chunks) total += (chunk as Uint8Array).length;
      const joined = new Uint8Array(total);
      let at = 0;
      for (const { chunk } of chunks) {
        joined.set(chunk as Uint8Array, at);
        at += (chunk as Uint8Array).length;
      }
      send(joined, callback);
    },
    final(callback) {
      Promise.resolve(stream.finishWrite()).then(() => callback(), callback);
    },
    destroy(error, callback) {
      resetStream(stream);
      onDestroy();
      callback(error);
    },
  });
  return duplex;
}

/** Makes QUIC streams: the {@link StreamConnector} of {@link QuicTransport}. */
class QuicConnector implements StreamConnector {
  readonly #options: QuicTransportOptions;
  readonly #clock: Clock;
  readonly #handshakeTimeoutMs: number;
  #ready: Promise<{
    readonly modules: QuicModules;
    readonly transport: Libp2pQuicTransport;
    readonly peerId: string;
  }> | null = null;
  #listener: QuicListenerHandle | null = null;
  /** Dials in progress, aborted by `close`. */
  #dials = new AbortController();
  /** Inbound connections that have not opened their stream yet. */
  readonly #waiting = new Map<QuicConnectionHandle, Timer>();

  constructor(options: QuicTransportOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
  }

  async listen(host: string, port: number, hooks: ListenHooks): Promise<ListenAddress> {
    const { modules, transport, peerId } = await this.#start();
    const upgrader = this.#upgrader(peerId, hooks);
    const listener = transport.createListener({ upgrader });
    await listener.listen(modules.multiaddr(quicAddress(host, port)));
    this.#listener = listener;
    const bound = listener.getAddrs()[0];
    const boundPort = bound === undefined ? undefined : hostPortOf(bound).port;
    if (boundPort === undefined) throw new Error('the QUIC listener reported no address');
    return { address: host, port: boundPort };
  }

  async connect(address: ResolvedAddress): Promise<PeerStream> {
    const { modules, transport, peerId } = await this.#start();
    const signal = AbortSignal.any([this.#dials.signal, AbortSignal.timeout(this.#handshakeTimeoutMs)]);
    const upgraded = await transport.dial(modules.multiaddr(quicAddress(address.ip, address.port)), {
      upgrader: this.#upgrader(peerId, null),
      signal,
    });
    let stream: NativeQuicStream;
    try {
      stream = await upgraded.connection.outboundStream();
    } catch (error) {
      upgraded.maConn.abort(error as Error);
      throw error;
    }
    return this.#peerStream(stream, upgraded.maConn, quicChannelBinding(peerId, upgraded.remotePeer));
  }

  async close(): Promise<void> {
    this.#dials.abort(new Error('transport stopping'));
    this.#dials = new AbortController();
    for (const [maConn, timer] of this.#waiting) {
      timer.cancel();
      maConn.abort(new Error('transport stopping'));
    }
    this.#waiting.clear();
    const listener = this.#listener;
    this.#listener = null;
    await listener?.close();
    const ready = this.#ready;
    this.#ready = null;
    if (ready !== null) await (await ready.catch(() => null))?.transport.stop();
  }

  /** Loads the modules and makes a fresh QUIC identity, once per start. */
  #start(): Promise<{ modules: QuicModules; transport: Libp2pQuicTransport; peerId: string }> {
    if (this.#ready === null) {
      const ready = (async () => {
        const given = this.#options.modules ?? importQuicModules;
        const modules = typeof given === 'function' ? await given() : given;
        const privateKey = await modules.generateKeyPair('Ed25519');
        const transport = modules.quic(this.#options.quic)({ privateKey, logger: componentLogger });
        // Version 1 of the package has no start(): say which version is needed, not a TypeError.
        if (typeof transport.start !== 'function') throw new QuicUnavailableError();
        await transport.start();
        return { modules, transport, peerId: privateKey.publicKey.toString() };
      })();
      this.#ready = ready;
      ready.catch(() => {
        if (this.#ready === ready) this.#ready = null;
      });
    }
    return this.#ready;
  }

  /**
   * The pass-through upgrader: QUIC already encrypts and multiplexes. Inbound, it waits for the
   * peer's first stream, hands it over, and resets any further one; outbound, the dialer opens
   * the stream itself.
   */
  #upgrader(peerId: string, hooks: Pick<ListenHooks, 'onStream'> | null): Upgrader {
    return {
      upgradeOutbound: async (maConn, options) => ({
        maConn,
        connection: nativeConnectionOf(options),
        remotePeer: options.remotePeer.toString(),
      }),
      upgradeInbound: async (maConn, options) => {
        const connection = nativeConnectionOf(options);
        const remotePeer = options.remotePeer.toString();
        if (hooks !== null) {
          const timer = this.#clock.setTimer(this.#handshakeTimeoutMs, () => {
            this.#waiting.delete(maConn);
            maConn.abort(new Error('no stream opened in time'));
          });
          this.#waiting.set(maConn, timer);
          const binding = quicChannelBinding(remotePeer, peerId);
          void (async () => {
            let taken = false;
            // Ends when the connection does: accepting then rejects.
            for (;;) {
              const stream = await connection.inboundStream();
              if (taken) {
                resetStream(stream);
                continue;
              }
              taken = true;
              timer.cancel();
              this.#waiting.delete(maConn);
              hooks.onStream(this.#peerStream(stream, maConn, binding));
            }
          })().catch(() => {});
        }
        return { maConn, connection, remotePeer };
      },
    };
  }

  #peerStream(
    stream: NativeQuicStream,
    maConn: QuicConnectionHandle,
    channelBinding: Uint8Array,
  ): PeerStream {
    const remote = hostPortOf(maConn.remoteAddr);
    const duplex = duplexOverQuic(stream, () => maConn.abort(new Error('connection closed')));
    return { duplex, remoteAddress: remote.host, remotePort: remote.port, channelBinding };
  }
}

/**
 * The engine's transport over QUIC: a {@link StreamTransport} whose streams are QUIC streams.
 * Everything above the byte stream (the handshake, frames, queues, tie-break, reconnect, events
 * and counters) is the TCP transport's, so both pass the same conformance tests.
 */
export class QuicTransport extends StreamTransport {
  /** @throws ArgumentError on a bound that is not a positive integer, or a node id that is not a validator. */
  constructor(options: QuicTransportOptions) {
    super(options, new QuicConnector(options));
  }
}
