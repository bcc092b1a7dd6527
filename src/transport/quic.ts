/**
 * The QUIC transport: the same {@link StreamTransport} as TCP (the ML-DSA-87 handshake, bounded
 * frames and queues, tie-break, reconnect), over one bidirectional QUIC stream per connection.
 *
 * Node has no built-in QUIC; this uses `@chainsafe/libp2p-quic` (Rust quinn through N-API,
 * installed from prebuilt binaries) standalone, without a libp2p node: its transport is given a
 * pass-through upgrader, since QUIC brings its own encryption (TLS 1.3) and stream muxing. The
 * package is optional: it is loaded on first use, so a node that never runs QUIC does not need
 * it, and a missing package is a clear {@link QuicUnavailableError} at `listen`/`start`.
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

/** The parts of a libp2p message stream (one QUIC stream) used here. */
interface QuicStreamHandle {
  send(data: Uint8Array): boolean;
  onDrain(): Promise<void>;
  close(): Promise<void>;
  abort(error: Error): void;
  pause(): void;
  resume(): void;
  addEventListener(
    type: 'message',
    listener: (event: { readonly data: { subarray(): Uint8Array } }) => void,
  ): void;
  addEventListener(type: 'close' | 'remoteCloseWrite', listener: () => void): void;
}

interface QuicMuxerHandle {
  createStream(): Promise<QuicStreamHandle>;
  addEventListener(type: 'stream', listener: (event: { readonly detail: QuicStreamHandle }) => void): void;
}

interface QuicConnectionHandle {
  readonly remoteAddr: Multiaddr;
  abort(error: Error): void;
}

interface UpgradeOptions {
  readonly remotePeer: { toString(): string };
  readonly muxerFactory: { createStreamMuxer(maConn: QuicConnectionHandle): QuicMuxerHandle };
}

interface Upgraded {
  readonly maConn: QuicConnectionHandle;
  readonly muxer: QuicMuxerHandle;
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
 * A QUIC stream as a Node Duplex, so that the stream transport's code (handshake channel,
 * framing, 'drain' backpressure, cork) runs on it unchanged. Reading pauses the QUIC stream
 * while the Duplex's buffer is full, so QUIC flow control pushes back on the sender.
 */
function duplexOverQuic(stream: QuicStreamHandle, onDestroy: () => void): Duplex {
  let paused = false;
  const send = (bytes: Uint8Array, callback: (error?: Error | null) => void): void => {
    try {
      if (stream.send(bytes)) callback();
      else stream.onDrain().then(() => callback(), callback);
    } catch (error) {
      callback(error as Error);
    }
  };
  const duplex = new Duplex({
    allowHalfOpen: false,
    read() {
      if (paused) {
        paused = false;
        stream.resume();
      }
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
      stream.close().then(() => callback(), callback);
    },
    destroy(error, callback) {
      stream.abort(error ?? new Error('stream closed'));
      onDestroy();
      callback(error);
    },
  });
  stream.addEventListener('message', (event) => {
    if (!duplex.push(event.data.subarray()) && !paused) {
      paused = true;
      stream.pause();
    }
  });
  stream.addEventListener('remoteCloseWrite', () => duplex.push(null));
  stream.addEventListener('close', () => duplex.destroy());
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
    let stream: QuicStreamHandle;
    try {
      stream = await upgraded.muxer.createStream();
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
   * peer's first stream and hands it over; outbound, the dialer opens the stream itself.
   */
  #upgrader(peerId: string, hooks: Pick<ListenHooks, 'onStream'> | null): Upgrader {
    return {
      upgradeOutbound: async (maConn, options) => ({
        maConn,
        muxer: options.muxerFactory.createStreamMuxer(maConn),
        remotePeer: options.remotePeer.toString(),
      }),
      upgradeInbound: async (maConn, options) => {
        const muxer = options.muxerFactory.createStreamMuxer(maConn);
        const remotePeer = options.remotePeer.toString();
        if (hooks !== null) {
          const timer = this.#clock.setTimer(this.#handshakeTimeoutMs, () => {
            this.#waiting.delete(maConn);
            maConn.abort(new Error('no stream opened in time'));
          });
          this.#waiting.set(maConn, timer);
          let taken = false;
          muxer.addEventListener('stream', ({ detail: stream }) => {
            if (taken) {
              stream.abort(new Error('one stream per connection'));
              return;
            }
            taken = true;
            timer.cancel();
            this.#waiting.delete(maConn);
            hooks.onStream(this.#peerStream(stream, maConn, quicChannelBinding(remotePeer, peerId)));
          });
        }
        return { maConn, muxer, remotePeer };
      },
    };
  }

  #peerStream(
    stream: QuicStreamHandle,
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
