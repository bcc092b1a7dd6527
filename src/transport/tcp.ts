/**
 * The TCP transport: the engine's {@link Transport} over `node:net`, optionally inside TLS 1.3
 * (`node:tls`), with every connection authenticated by the ML-DSA-87 handshake
 * (`handshake.ts`) before a single consensus frame is accepted.
 *
 * Connections. Every node dials every validator that has an address (`discovery.ts`) and
 * accepts connections from every registered validator, so a restarted node reconnects at once
 * without waiting for its peers' back-off. When two connections to the same peer end up
 * authenticated (both dialed at once), both sides keep the same one by a deterministic rule:
 * a connection from a newer instance of the peer (it restarted) replaces the older one;
 * between connections of the same instance, the one dialed by the smaller node id (by string
 * order) wins, and of two dialed by the same node the newer wins. The loser is closed.
 *
 * Frames. Each frame is a u32 big-endian length and the body (`wire/frame.ts`). A peer that
 * declares a frame longer than `maxFrameBytes` is disconnected and reported through the
 * `peer-misbehaved` event (the engine feeds it to its Byzantine detector); so is a peer the
 * engine reports with {@link TcpTransport.disconnectPeer} for an undecodable body.
 *
 * Send queues and the drop policy. A frame is written to the socket at once while the socket
 * accepts writes (`socket.write` returned true). Once it returns false, frames wait in the
 * peer's queue until 'drain'; the queue is bounded by frames and by bytes, and when a new frame
 * does not fit, the OLDEST queued frames are dropped until it does (counted as `queue-full`).
 * Dropping the oldest rather than the newest is deliberate: PBFT messages are superseded by
 * later ones (a newer vote, a checkpoint, a status), the protocol retransmits what a peer still
 * needs, and a slow peer is better served by recent messages than by a backlog it will have to
 * discard. Frames are never queued for a peer without a connection: `send` drops them at once
 * (`unreachable`), as the {@link Transport} contract says, and a connection that closes drops
 * its queue (`disconnected`).
 *
 * Reconnect. A lost or failed connection is dialed again after a delay drawn with full jitter,
 * uniform in [0, min(reconnectMaxDelayMs, reconnectBaseDelayMs x 2^failures)), from an
 * injectable random source, on an injectable clock: tests drive it with a `ManualClock` and a
 * seeded PRNG. The address is resolved again before every dial.
 *
 * TLS. Authentication is the ML-DSA-87 handshake, so the certificate is not checked
 * (self-signed certificates are fine): TLS adds confidentiality, and the handshake signs keying
 * material exported from the TLS session, so a machine in the middle holding its own
 * certificate cannot relay the authentication. The key exchange prefers the hybrid
 * post-quantum group X25519MLKEM768 (OpenSSL 3.5), so the confidentiality of recorded traffic
 * does not rest on elliptic curves alone.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { mlDsa87 } from '../crypto/ml-dsa.ts';
import type { PrivateKey, PublicKey, SignatureScheme } from '../crypto/scheme.ts';
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';
import type { DecodeError } from '../wire/errors.ts';
import { encodeFrame, FRAME_PREFIX_BYTES, FrameDecoder } from '../wire/frame.ts';
import type { Discovery, ResolvedAddress } from './discovery.ts';
import {
  ChallengeLedger,
  HANDSHAKE_REFUSAL_CODES,
  type HandshakeRefusal,
  type HandshakeRefusalCode,
  INSTANCE_BYTES,
  performHandshake,
  StreamHandshakeChannel,
} from './handshake.ts';
import type { FrameHandler, NodeId, Transport } from './transport.ts';

/** The TLS key-exchange groups offered by default, most preferred first. */
export const DEFAULT_TLS_GROUPS = 'X25519MLKEM768:X25519:P-256';

/** The RFC 5705 exporter label of the channel binding the handshake signs. */
const CHANNEL_BINDING_LABEL = 'EXPORTER-cretoai-consensus-handshake-v1';
const CHANNEL_BINDING_BYTES = 32;

/** TLS settings. The certificate only has to be well-formed: it is not used to authenticate. */
export interface TcpTlsOptions {
  /** PEM private key of the certificate. */
  readonly key: string | Buffer;
  /** PEM certificate (self-signed is fine). */
  readonly cert: string | Buffer;
  /**
   * Key-exchange groups in order of preference (OpenSSL group list). Default
   * {@link DEFAULT_TLS_GROUPS}; groups this OpenSSL lacks are skipped.
   */
  readonly groups?: string;
}

/**
 * What every stream transport needs (TCP here, QUIC in `quic.ts`); fields with defaults may be
 * left out.
 */
export interface StreamTransportOptions {
  /** This node's id: a key of `validators`. */
  readonly nodeId: NodeId;
  /** The cluster id: a peer of another cluster is refused at the handshake. */
  readonly clusterId: string;
  /** This node's ML-DSA-87 private key, which signs the handshake. */
  readonly privateKey: PrivateKey;
  /** Every validator's registered public key (this node's included). Nobody else may connect. */
  readonly validators: ReadonlyMap<NodeId, PublicKey>;
  /** Where the peers are. */
  readonly discovery: Discovery;
  /** Where to accept connections; port 0 lets the OS choose (see {@link StreamTransport.listen}). */
  readonly listen: { readonly host: string; readonly port: number };
  /** The largest frame body sent or accepted, in bytes (as the engine's `maxFrameBytes`). */
  readonly maxFrameBytes: number;
  /** The handshake's signature scheme. Default ML-DSA-87. */
  readonly scheme?: SignatureScheme;
  /** Frames queued per peer behind a full socket. Default 8,192. */
  readonly sendQueueFramesMax?: number;
  /** Bytes queued per peer behind a full socket. Default 64 MiB. */
  readonly sendQueueBytesMax?: number;
  /** Time a connection has to authenticate. Default 5,000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Unauthenticated connections at once; more are refused as `busy`. Default 64. */
  readonly pendingHandshakesMax?: number;
  /** The first reconnect delay bound. Default 100 ms. */
  readonly reconnectBaseDelayMs?: number;
  /** The reconnect delay cap. Default 10,000 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** Timers for back-off and handshake timeouts. Default: the system clock. */
  readonly clock?: Clock;
  /** A uniform random number in [0, 1) for jitter. Default `Math.random`; tests pass a seeded PRNG. */
  readonly random?: () => number;
}

/** The TCP transport's options: the common ones, TLS and keep-alive. */
export interface TcpTransportOptions extends StreamTransportOptions {
  /** TLS settings; without them connections are plain TCP. */
  readonly tls?: TcpTlsOptions;
  /** TCP keep-alive probe delay, to notice a peer that vanished. Default 10,000 ms. */
  readonly keepAliveMs?: number;
}

/** Every reason a frame was dropped, listed once. */
export const DROP_REASONS = Object.freeze(['queue-full', 'unreachable', 'disconnected'] as const);
export type DropReason = (typeof DROP_REASONS)[number];

/** What the transport has done since it was created (counters only grow). */
export interface StreamTransportStats {
  framesSent: number;
  /** Bytes handed to sockets, length prefixes included (TLS overhead not). */
  bytesSent: number;
  framesReceived: number;
  /** Bytes of received frames, length prefixes included. */
  bytesReceived: number;
  framesDropped: Record<DropReason, number>;
  /** Dials made by back-off after a lost or failed connection. */
  reconnectAttempts: number;
  /** Connections that passed the handshake and became a peer's connection. */
  connectionsEstablished: number;
  /** Peer connections lost (closed by either side, superseded ones not counted). */
  connectionsLost: number;
  /** Handshakes that failed, by reason, on either side. */
  handshakesRefused: Record<HandshakeRefusalCode, number>;
  /** Authenticated peers disconnected for a bad frame. */
  misbehaviours: number;
  /** The largest number of frames any one peer's queue has held. */
  sendQueueFramesPeak: number;
}

/** TLS parameters of a connection. */
export interface TlsInfo {
  /** 'TLSv1.3'. */
  readonly protocol: string | null;
  readonly cipher: string;
  /**
   * The negotiated key-exchange group (for example 'X25519MLKEM768'). OpenSSL reports it to the
   * client only, so it is null on connections this node accepted.
   */
  readonly group: string | null;
}

/** What is known about a peer's current connection. */
export interface PeerConnectionInfo {
  readonly peer: NodeId;
  /** The node that dialed this connection. */
  readonly dialedBy: NodeId;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly tls: TlsInfo | null;
  /** Frames and bytes waiting in this peer's send queue. */
  readonly queuedFrames: number;
  readonly queuedBytes: number;
}

/** Why a peer was disconnected for misbehaviour. */
export interface PeerMisbehaviour {
  readonly peer: NodeId;
  /** The decode error code ('frame-too-large'), or the engine's code given to `disconnectPeer`. */
  readonly code: string;
  readonly detail: string;
}

/** The transport's events. */
export interface StreamTransportEvents {
  /** A peer passed the handshake and is connected. */
  'peer-connected': [PeerConnectionInfo];
  /**
   * A second connection to a connected peer won the tie-break and replaced the first; the peer
   * stayed connected throughout.
   */
  'peer-connection-replaced': [PeerConnectionInfo];
  /** A peer's connection closed. */
  'peer-disconnected': [{ readonly peer: NodeId; readonly reason: string }];
  /** An authenticated peer sent what no honest peer sends; it was disconnected. */
  'peer-misbehaved': [PeerMisbehaviour];
  /**
   * A handshake failed. `claimedPeer` is the id the other side claimed, if it got that far: it
   * is NOT authenticated (anyone can claim an id), so it must not be used to penalise a peer.
   */
  'handshake-refused': [
    {
      readonly side: 'dialer' | 'acceptor';
      readonly remoteAddress: string | undefined;
      readonly claimedPeer: NodeId | undefined;
      readonly refusal: HandshakeRefusal;
    },
  ];
  /** A redial of `peer` is scheduled `delayMs` from now, after `failures` consecutive failures. */
  'dial-scheduled': [{ readonly peer: NodeId; readonly delayMs: number; readonly failures: number }];
  /** A dial failed before the handshake (no address, refused, unreachable). */
  'dial-failed': [{ readonly peer: NodeId; readonly address: string | undefined; readonly reason: string }];
}

/** The TCP transport's counters. */
export type TcpTransportStats = StreamTransportStats;
/** The TCP transport's events. */
export type TcpTransportEvents = StreamTransportEvents;

/** Where a transport accepts connections. */
export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * A byte stream to a peer, before authentication: a TCP or TLS socket, or one QUIC stream.
 * The transport owns it from the moment it is handed over, and destroys it when done.
 */
export interface PeerStream {
  readonly duplex: Duplex;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /**
   * Bytes both ends derive from the secure channel under the stream (TLS exported keying
   * material, QUIC's authenticated endpoint ids), which the handshake signs so that it cannot be
   * relayed into another channel; empty for plain TCP.
   */
  readonly channelBinding: Uint8Array;
  /** TLS parameters, where the stream runs over TLS. */
  readonly tls: TlsInfo | null;
}

/** How a stream transport makes and accepts byte streams: what TCP and QUIC do differently. */
export interface StreamConnector {
  /**
   * Starts accepting. Each inbound stream ready for bytes goes to `onStream`; a connection
   * refused below the stream (a failed TLS handshake) is reported to `onRefused`.
   */
  listen(
    host: string,
    port: number,
    hooks: {
      readonly onStream: (stream: PeerStream) => void;
      readonly onRefused: (code: HandshakeRefusalCode) => void;
    },
  ): Promise<ListenAddress>;
  /** Opens a stream to `address`; rejects when it cannot. */
  connect(address: ResolvedAddress): Promise<PeerStream>;
  /**
   * Stops accepting and abandons dials in progress. Streams already handed over are the
   * transport's to close (it does so first).
   */
  close(): Promise<void>;
}

/** A bounded FIFO of encoded frames with O(1) push and shift. */
class FrameQueue {
  #items: (Uint8Array | undefined)[] = [];
  #head = 0;
  bytes = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(frame: Uint8Array): void {
    this.#items.push(frame);
    this.bytes += frame.length;
  }

  shift(): Uint8Array | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const frame = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (frame !== undefined) this.bytes -= frame.length;
    // Compact once the consumed prefix dominates, so memory follows the live length.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return frame;
  }

  clear(): number {
    const dropped = this.length;
    this.#items = [];
    this.#head = 0;
    this.bytes = 0;
    return dropped;
  }
}

/** An authenticated connection to a peer. */
class Connection {
  readonly socket: Duplex;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly peer: NodeId;
  readonly peerInstance: string;
  readonly dialedBy: NodeId;
  readonly tls: TlsInfo | null;
  readonly decoder: FrameDecoder;
  readonly queue = new FrameQueue();
  /** `socket.write` returned false: wait for 'drain' before writing more. */
  blocked = false;
  /** Writes of this turn are corked, to leave the socket in one writev. */
  corked = false;
  closed = false;

  constructor(
    stream: PeerStream,
    peer: NodeId,
    peerInstance: string,
    dialedBy: NodeId,
    maxFrameBytes: number,
  ) {
    this.socket = stream.duplex;
    this.remoteAddress = stream.remoteAddress;
    this.remotePort = stream.remotePort;
    this.peer = peer;
    this.peerInstance = peerInstance;
    this.dialedBy = dialedBy;
    this.tls = stream.tls;
    this.decoder = new FrameDecoder(maxFrameBytes);
  }
}

/** What this node knows about one peer. */
interface PeerLink {
  readonly peer: NodeId;
  connection: Connection | null;
  /** A dial (lookup, connect or handshake) is in flight. */
  dialing: boolean;
  retryTimer: Timer | null;
  /** Consecutive failed dials since the last established connection. */
  failures: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

/**
 * The groups of `preferred` that this OpenSSL knows, as an OpenSSL group list: each is tried on
 * its own, so an unknown name is left out rather than failing the whole list.
 */
export function availableTlsGroups(preferred: string = DEFAULT_TLS_GROUPS): string {
  const groups = preferred.split(':').filter((group) => {
    try {
      tls.createSecureContext({ ecdhCurve: group });
      return true;
    } catch {
      return false;
    }
  });
  if (groups.length === 0) throw new RangeError(`none of the TLS groups ${preferred} is available`);
  return groups.join(':');
}

/**
 * The engine's transport over authenticated byte streams: the connection rules, the drop
 * policy and reconnect of the module comment, whatever makes the streams (a
 * {@link StreamConnector}). {@link TcpTransport} and `QuicTransport` are this class with
 * their connector.
 *
 * Besides {@link Transport}: {@link StreamTransport.listen} (bind early and learn the port),
 * {@link StreamTransport.disconnectPeer}, {@link StreamTransport.onPeerMisbehaved},
 * {@link StreamTransport.stats}, {@link StreamTransport.peerInfo} and the events of
 * {@link StreamTransportEvents}.
 */
export class StreamTransport extends EventEmitter<StreamTransportEvents> implements Transport {
  readonly nodeId: NodeId;
  readonly #options: StreamTransportOptions;
  readonly #connector: StreamConnector;
  readonly #scheme: SignatureScheme;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #maxFrameBytes: number;
  readonly #queueFramesMax: number;
  readonly #queueBytesMax: number;
  readonly #handshakeTimeoutMs: number;
  readonly #pendingHandshakesMax: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #links = new Map<NodeId, PeerLink>();
  readonly #ledger = new ChallengeLedger();
  /** Every stream handed over by the connector and not yet closed, so that `stop` closes them all. */
  readonly #streams = new Set<Duplex>();
  #pendingHandshakes = 0;
  #instance: Uint8Array = new Uint8Array(randomBytes(INSTANCE_BYTES));
  #listening: Promise<ListenAddress> | null = null;
  #running = false;
  /** Incremented by `stop`, so that a dial or handshake of an earlier run does nothing. */
  #epoch = 0;
  #handler: FrameHandler | null = null;
  readonly #stats: StreamTransportStats = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    framesDropped: zeroCounts(DROP_REASONS),
    reconnectAttempts: 0,
    connectionsEstablished: 0,
    connectionsLost: 0,
    handshakesRefused: zeroCounts(HANDSHAKE_REFUSAL_CODES),
    misbehaviours: 0,
    sendQueueFramesPeak: 0,
  };

  /** @throws RangeError on a bound that is not a positive integer, or a node id that is not a validator. */
  constructor(options: StreamTransportOptions, connector: StreamConnector) {
    super();
    this.nodeId = options.nodeId;
    this.#options = options;
    this.#connector = connector;
    this.#scheme = options.scheme ?? mlDsa87;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#maxFrameBytes = positiveInteger('maxFrameBytes', options.maxFrameBytes);
    this.#queueFramesMax = positiveInteger('sendQueueFramesMax', options.sendQueueFramesMax ?? 8192);
    this.#queueBytesMax = positiveInteger('sendQueueBytesMax', options.sendQueueBytesMax ?? 64 << 20);
    this.#handshakeTimeoutMs = handshakeTimeoutOf(options);
    this.#pendingHandshakesMax = positiveInteger('pendingHandshakesMax', options.pendingHandshakesMax ?? 64);
    this.#baseDelayMs = positiveInteger('reconnectBaseDelayMs', options.reconnectBaseDelayMs ?? 100);
    this.#maxDelayMs = positiveInteger('reconnectMaxDelayMs', options.reconnectMaxDelayMs ?? 10_000);
    if (!options.validators.has(options.nodeId))
      throw new RangeError(`node id ${options.nodeId} is not one of the validators`);
    for (const peer of options.validators.keys())
      if (peer !== options.nodeId)
        this.#links.set(peer, { peer, connection: null, dialing: false, retryTimer: null, failures: 0 });
  }

  /**
   * Starts accepting connections (once; later calls return the same address). `start` calls
   * it; call it first to learn the port the OS chose for port 0.
   */
  listen(): Promise<ListenAddress> {
    if (this.#listening !== null) return this.#listening;
    const listening = this.#connector.listen(this.#options.listen.host, this.#options.listen.port, {
      onStream: (stream) => this.#accept(stream),
      onRefused: (code) => {
        this.#stats.handshakesRefused[code]++;
      },
    });
    this.#listening = listening;
    listening.catch(() => {
      if (this.#listening === listening) this.#listening = null;
    });
    return listening;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    await this.listen();
    this.#running = true;
    for (const link of this.#links.values()) this.#dial(link);
  }

  async stop(): Promise<void> {
    if (!this.#running && this.#listening === null) return;
    this.#running = false;
    this.#epoch++;
    for (const link of this.#links.values()) {
      link.retryTimer?.cancel();
      link.retryTimer = null;
      link.failures = 0;
      link.dialing = false;
      if (link.connection !== null) this.#close(link.connection, 'stopping');
    }
    for (const stream of this.#streams) stream.destroy();
    this.#streams.clear();
    const listening = this.#listening;
    this.#listening = null;
    if (listening !== null) {
      await listening.catch(() => {});
      await this.#connector.close();
    }
    // A later start is a new instance to the peers: their stale connections to this one lose.
    this.#instance = new Uint8Array(randomBytes(INSTANCE_BYTES));
  }

  send(to: NodeId, frame: Uint8Array): void {
    this.#checkFrame(frame);
    const link = this.#links.get(to);
    if (link === undefined) return;
    this.#sendFramed(link, encodeFrame(frame));
  }

  broadcast(frame: Uint8Array): void {
    this.#checkFrame(frame);
    // One encoding for every peer: sockets only read the buffer.
    const framed = encodeFrame(frame);
    for (const link of this.#links.values()) this.#sendFramed(link, framed);
  }

  onFrame(handler: FrameHandler): void {
    this.#handler = handler;
  }

  connectedPeers(): readonly NodeId[] {
    const peers: NodeId[] = [];
    for (const link of this.#links.values()) if (link.connection !== null) peers.push(link.peer);
    return peers;
  }

  /** Calls `handler` whenever a peer is disconnected for misbehaviour (the `peer-misbehaved` event). */
  onPeerMisbehaved(handler: (peer: NodeId, reason: PeerMisbehaviour) => void): void {
    this.on('peer-misbehaved', (reason) => handler(reason.peer, reason));
  }

  /**
   * Closes the connection to `peer` because it sent something no honest peer sends (the engine
   * calls this for a frame body that does not decode), and reports it as `peer-misbehaved`.
   * Returns false when there was no connection. The peer may reconnect; banning is the
   * engine's decision.
   */
  disconnectPeer(peer: NodeId, code: string, detail = ''): boolean {
    const connection = this.#links.get(peer)?.connection;
    if (connection == null) return false;
    this.#misbehaved(connection, { peer, code, detail });
    return true;
  }

  /** A copy of the counters. */
  stats(): StreamTransportStats {
    return {
      ...this.#stats,
      framesDropped: { ...this.#stats.framesDropped },
      handshakesRefused: { ...this.#stats.handshakesRefused },
    };
  }

  /** The current connection to `peer`, or undefined. */
  peerInfo(peer: NodeId): PeerConnectionInfo | undefined {
    const connection = this.#links.get(peer)?.connection;
    return connection == null ? undefined : this.#infoOf(connection);
  }

  // ---- sending ----

  #checkFrame(frame: Uint8Array): void {
    // The engine sizes maxFrameBytes for the largest message it sends, so a longer frame is a
    // local bug; a peer would disconnect this node for it.
    if (frame.length > this.#maxFrameBytes)
      throw new RangeError(`a frame of ${frame.length} bytes exceeds maxFrameBytes ${this.#maxFrameBytes}`);
  }

  #sendFramed(link: PeerLink, framed: Uint8Array): void {
    const connection = link.connection;
    if (!this.#running || connection === null) {
      this.#stats.framesDropped.unreachable++;
      return;
    }
    if (!connection.blocked) {
      this.#write(connection, framed);
      return;
    }
    if (framed.length > this.#queueBytesMax) {
      this.#stats.framesDropped['queue-full']++;
      return;
    }
    const queue = connection.queue;
    queue.push(framed);
    while (queue.length > this.#queueFramesMax || queue.bytes > this.#queueBytesMax) {
      queue.shift();
      this.#stats.framesDropped['queue-full']++;
    }
    if (queue.length > this.#stats.sendQueueFramesPeak) this.#stats.sendQueueFramesPeak = queue.length;
  }

  #write(connection: Connection, framed: Uint8Array): void {
    const socket = connection.socket;
    if (!connection.corked) {
      // Frames sent in one turn of the event loop leave in one writev.
      connection.corked = true;
      socket.cork();
      process.nextTick(() => {
        connection.corked = false;
        socket.uncork();
      });
    }
    this.#stats.framesSent++;
    this.#stats.bytesSent += framed.length;
    if (!socket.write(framed)) connection.blocked = true;
  }

  #onDrain(connection: Connection): void {
    connection.blocked = false;
    const queue = connection.queue;
    while (!connection.blocked && !connection.closed) {
      const framed = queue.shift();
      if (framed === undefined) break;
      this.#write(connection, framed);
    }
  }

  // ---- receiving ----

  #onData(connection: Connection, chunk: Uint8Array): void {
    if (connection.closed) return;
    const result = connection.decoder.push(chunk);
    if (!result.ok) {
      this.#misbehaved(connection, misbehaviourOf(connection.peer, result.error));
      return;
    }
    for (const frame of result.frames) {
      this.#stats.framesReceived++;
      this.#stats.bytesReceived += FRAME_PREFIX_BYTES + frame.length;
      if (this.#running) this.#handler?.(connection.peer, frame);
      // The handler may have closed this connection (disconnectPeer) or stopped the transport.
      if (connection.closed) return;
    }
  }

  #misbehaved(connection: Connection, misbehaviour: PeerMisbehaviour): void {
    if (connection.closed) return;
    this.#stats.misbehaviours++;
    this.#close(connection, `misbehaved: ${misbehaviour.code}`);
    this.emit('peer-misbehaved', misbehaviour);
  }

  // ---- connections ----

  #track(stream: PeerStream): void {
    const duplex = stream.duplex;
    this.#streams.add(duplex);
    // Stream errors are followed by 'close', where they are handled; without a listener an
    // 'error' would crash the process.
    duplex.on('error', () => {});
    duplex.once('close', () => this.#streams.delete(duplex));
  }

  #accept(stream: PeerStream): void {
    this.#track(stream);
    if (!this.#running || this.#pendingHandshakes >= this.#pendingHandshakesMax) {
      this.#stats.handshakesRefused.busy++;
      stream.duplex.destroy();
      return;
    }
    void this.#authenticate(stream, 'acceptor', undefined);
  }

  #dial(link: PeerLink): void {
    if (!this.#running || link.connection !== null || link.dialing) return;
    if (!this.#options.discovery.dials(link.peer)) return;
    link.dialing = true;
    void this.#dialResolved(link);
  }

  async #dialResolved(link: PeerLink): Promise<void> {
    const epoch = this.#epoch;
    const current = (): boolean => this.#running && this.#epoch === epoch;
    const fail = (address: string | undefined, reason: string): void => {
      if (!current()) return;
      link.dialing = false;
      this.emit('dial-failed', { peer: link.peer, address, reason });
      this.#scheduleRedial(link);
    };
    const resolved = await this.#options.discovery.resolve(link.peer);
    if (!current()) return;
    if (!resolved.ok) {
      fail(undefined, `${resolved.code}: ${resolved.detail}`);
      return;
    }
    // Rotate through the addresses a name resolves to, one per attempt.
    const address = resolved.addresses[link.failures % resolved.addresses.length]!;
    const where = address.family === 6 ? `[${address.ip}]:${address.port}` : `${address.ip}:${address.port}`;
    let stream: PeerStream;
    try {
      stream = await this.#connector.connect(address);
    } catch (error) {
      fail(where, error instanceof Error ? error.message : 'connection failed');
      return;
    }
    if (!current()) {
      stream.duplex.destroy();
      return;
    }
    this.#track(stream);
    void this.#authenticate(stream, 'dialer', link);
  }

  /**
   * Runs the handshake on a new stream and, on success, makes it the peer's connection.
   * `link` is the peer dialed, on the dialing side: it is redialed after a refusal.
   */
  async #authenticate(stream: PeerStream, side: 'dialer' | 'acceptor', link?: PeerLink): Promise<void> {
    const epoch = this.#epoch;
    const socket = stream.duplex;
    this.#pendingHandshakes++;
    const channel = new StreamHandshakeChannel(socket);
    const timeout = this.#clock.setTimer(this.#handshakeTimeoutMs, () =>
      channel.fail({ code: 'timeout', detail: `no handshake within ${this.#handshakeTimeoutMs} ms` }),
    );
    const outcome = await performHandshake(channel, {
      scheme: this.#scheme,
      clusterId: this.#options.clusterId,
      nodeId: this.nodeId,
      privateKey: this.#options.privateKey,
      publicKeyOf: (nodeId) => this.#options.validators.get(nodeId),
      instance: this.#instance,
      ledger: this.#ledger,
      channelBinding: stream.channelBinding,
      ...(link === undefined ? {} : { expectedPeer: link.peer }),
    });
    timeout.cancel();
    this.#pendingHandshakes--;
    const current = this.#running && this.#epoch === epoch;
    // Before adopting: a connection that fails at once must find the link free to redial.
    if (link !== undefined && current) link.dialing = false;
    if (!outcome.ok || !current || socket.destroyed) {
      const refusal: HandshakeRefusal = outcome.ok
        ? { code: 'closed', detail: 'closed or stopped as the handshake finished' }
        : outcome.refusal;
      this.#stats.handshakesRefused[refusal.code]++;
      this.emit('handshake-refused', {
        side,
        remoteAddress: stream.remoteAddress,
        claimedPeer: outcome.ok ? outcome.peer : outcome.claimedPeer,
        refusal,
      });
      channel.detach();
      // Let the REFUSE frame leave, then close.
      this.#endGracefully(socket);
      if (link !== undefined && current) this.#scheduleRedial(link);
      return;
    }
    const rest = channel.detach();
    const connection = new Connection(
      stream,
      outcome.peer,
      outcome.peerInstance,
      side === 'dialer' ? this.nodeId : outcome.peer,
      this.#maxFrameBytes,
    );
    socket.on('data', (chunk: Uint8Array) => this.#onData(connection, chunk));
    socket.on('drain', () => this.#onDrain(connection));
    socket.once('close', () => this.#close(connection, 'connection closed'));
    this.#adopt(connection);
    if (rest.length > 0) this.#onData(connection, rest);
    socket.resume();
  }

  /**
   * Ends `socket` after what was written to it has left, discarding what arrives; a peer that
   * does not close in turn is cut off after the handshake timeout.
   */
  #endGracefully(socket: Duplex): void {
    socket.removeAllListeners('data');
    socket.resume();
    socket.end();
    const cutOff = this.#clock.setTimer(this.#handshakeTimeoutMs, () => socket.destroy());
    socket.once('close', () => cutOff.cancel());
  }

  /** Makes `connection` its peer's connection, unless an existing one wins the tie-break. */
  #adopt(connection: Connection): void {
    const link = this.#links.get(connection.peer)!;
    const existing = link.connection;
    if (existing !== null) {
      if (!this.#replaces(connection, existing)) {
        // The loser is closed without touching the link: the peer stays connected. It is ended
        // rather than destroyed, so that the READY this side sent still reaches the peer, which
        // then finishes its handshake and drops the same connection by the same rule, instead
        // of reporting a handshake cut short.
        connection.closed = true;
        this.#endGracefully(connection.socket);
        return;
      }
      existing.closed = true;
      this.#stats.framesDropped.disconnected += existing.queue.clear();
      existing.socket.destroy();
    }
    link.connection = connection;
    link.failures = 0;
    link.retryTimer?.cancel();
    link.retryTimer = null;
    if (existing === null) {
      this.#stats.connectionsEstablished++;
      this.emit('peer-connected', this.#infoOf(connection));
    } else {
      this.emit('peer-connection-replaced', this.#infoOf(connection));
    }
  }

  /** Whether `candidate` should replace `existing` as the connection to the same peer. */
  #replaces(candidate: Connection, existing: Connection): boolean {
    // The peer restarted: its old connection is stale even if this side has not noticed yet.
    if (candidate.peerInstance !== existing.peerInstance) return true;
    // Both dialed by the same node: that node dialed again because it lost the old one.
    if (candidate.dialedBy === existing.dialedBy) return true;
    // Both sides dialed at once: both keep the one dialed by the smaller node id.
    const [smaller] = [this.nodeId, candidate.peer].sort();
    return candidate.dialedBy === smaller;
  }

  #close(connection: Connection, reason: string): void {
    if (connection.closed) return;
    connection.closed = true;
    this.#stats.framesDropped.disconnected += connection.queue.clear();
    connection.socket.destroy();
    const link = this.#links.get(connection.peer)!;
    if (link.connection !== connection) return;
    link.connection = null;
    this.#stats.connectionsLost++;
    this.emit('peer-disconnected', { peer: connection.peer, reason });
    if (this.#running) this.#scheduleRedial(link);
  }

  /** Dials `link` again after a full-jitter exponential back-off. */
  #scheduleRedial(link: PeerLink): void {
    if (!this.#running || link.connection !== null || link.dialing || link.retryTimer !== null) return;
    if (!this.#options.discovery.dials(link.peer)) return;
    const failures = link.failures;
    link.failures = Math.min(failures + 1, 32);
    const boundMs = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** failures);
    const delayMs = Math.floor(this.#random() * boundMs);
    this.emit('dial-scheduled', { peer: link.peer, delayMs, failures });
    link.retryTimer = this.#clock.setTimer(delayMs, () => {
      link.retryTimer = null;
      if (!this.#running || link.connection !== null || link.dialing) return;
      this.#stats.reconnectAttempts++;
      this.#dial(link);
    });
  }

  #infoOf(connection: Connection): PeerConnectionInfo {
    return {
      peer: connection.peer,
      dialedBy: connection.dialedBy,
      remoteAddress: connection.remoteAddress,
      remotePort: connection.remotePort,
      tls: connection.tls,
      queuedFrames: connection.queue.length,
      queuedBytes: connection.queue.bytes,
    };
  }
}

function handshakeTimeoutOf(options: StreamTransportOptions): number {
  return positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 5000);
}

function misbehaviourOf(peer: NodeId, error: DecodeError): PeerMisbehaviour {
  return { peer, code: error.code, detail: error.detail };
}

/** Makes TCP (or TLS) streams: the {@link StreamConnector} of {@link TcpTransport}. */
class TcpConnector implements StreamConnector {
  readonly #tls: TcpTlsOptions | undefined;
  readonly #tlsGroups: string | null;
  readonly #keepAliveMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #exporterContext: Buffer;
  /** Sockets not yet handed to the transport (dials, TLS handshakes), closed by `close`. */
  readonly #pending = new Set<net.Socket>();
  #server: net.Server | null = null;

  constructor(options: TcpTransportOptions) {
    this.#tls = options.tls;
    this.#tlsGroups = options.tls === undefined ? null : availableTlsGroups(options.tls.groups);
    this.#keepAliveMs = positiveInteger('keepAliveMs', options.keepAliveMs ?? 10_000);
    this.#handshakeTimeoutMs = handshakeTimeoutOf(options);
    // The cluster id as the exporter context: both sides of a handshake that can succeed agree on it.
    this.#exporterContext = Buffer.from(options.clusterId, 'utf8');
  }

  get tlsGroups(): string | null {
    return this.#tlsGroups;
  }

  listen(
    host: string,
    port: number,
    hooks: {
      readonly onStream: (stream: PeerStream) => void;
      readonly onRefused: (code: HandshakeRefusalCode) => void;
    },
  ): Promise<ListenAddress> {
    const server = this.#createServer(hooks);
    this.#server = server;
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        if (this.#server === server) this.#server = null;
        reject(error);
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        // Accept errors after listening are per-connection and reported there.
        server.on('error', () => {});
        const bound = server.address() as net.AddressInfo;
        resolve({ address: bound.address, port: bound.port });
      });
    });
  }

  connect(address: ResolvedAddress): Promise<PeerStream> {
    const socket =
      this.#tls === undefined
        ? net.connect({ host: address.ip, port: address.port, noDelay: true })
        : tls.connect({
            host: address.ip,
            port: address.port,
            // The certificate authenticates nothing here (the ML-DSA handshake does), so it is not checked.
            rejectUnauthorized: false,
            ecdhCurve: this.#tlsGroups!,
            minVersion: 'TLSv1.3',
          });
    this.#pending.add(socket);
    socket.on('error', () => {});
    return new Promise((resolve, reject) => {
      const onClose = (): void => {
        this.#pending.delete(socket);
        reject(new Error('connection failed'));
      };
      socket.once('close', onClose);
      socket.once(this.#tls === undefined ? 'connect' : 'secureConnect', () => {
        socket.off('close', onClose);
        this.#pending.delete(socket);
        resolve(this.#streamOf(socket));
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    const server = this.#server;
    this.#server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #createServer(hooks: {
    readonly onStream: (stream: PeerStream) => void;
    readonly onRefused: (code: HandshakeRefusalCode) => void;
  }): net.Server {
    const onSocket = (socket: net.Socket): void => {
      this.#pending.delete(socket);
      hooks.onStream(this.#streamOf(socket));
    };
    if (this.#tls === undefined) return net.createServer({ noDelay: true }, onSocket);
    const server = tls.createServer(
      {
        key: this.#tls.key,
        cert: this.#tls.cert,
        ecdhCurve: this.#tlsGroups!,
        minVersion: 'TLSv1.3',
        // The TLS layer's own timer (real time) for clients that never finish TLS; the
        // authentication handshake after it has its own, on the injected clock.
        handshakeTimeout: this.#handshakeTimeoutMs,
      },
      onSocket,
    );
    // TLS failures of unauthenticated clients are theirs: count them, do not crash.
    server.on('tlsClientError', (_error, socket) => {
      hooks.onRefused('malformed');
      socket.destroy();
    });
    // Until TLS is done, the TCP socket is the connector's to close on `close`.
    server.on('connection', (socket: net.Socket) => {
      socket.on('error', () => {});
      this.#pending.add(socket);
      socket.once('close', () => this.#pending.delete(socket));
    });
    return server;
  }

  #streamOf(socket: net.Socket): PeerStream {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, this.#keepAliveMs);
    let channelBinding = new Uint8Array(0);
    let tlsInfo: TlsInfo | null = null;
    if (socket instanceof tls.TLSSocket) {
      const exported = socket.exportKeyingMaterial(
        CHANNEL_BINDING_BYTES,
        CHANNEL_BINDING_LABEL,
        this.#exporterContext,
      );
      channelBinding = new Uint8Array(exported.buffer, exported.byteOffset, exported.byteLength);
      tlsInfo = tlsInfoOf(socket);
    }
    return {
      duplex: socket,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      channelBinding,
      tls: tlsInfo,
    };
  }
}

function tlsInfoOf(socket: tls.TLSSocket): TlsInfo {
  const key = socket.getEphemeralKeyInfo();
  const group = key !== null && typeof key === 'object' && 'name' in key ? (key.name ?? null) : null;
  return { protocol: socket.getProtocol(), cipher: socket.getCipher().name, group };
}

/**
 * The engine's transport over TCP, optionally inside TLS 1.3: a {@link StreamTransport} whose
 * streams are sockets. See the module comment for the connection rules, the drop policy,
 * reconnect and TLS.
 */
export class TcpTransport extends StreamTransport {
  readonly #tlsGroups: string | null;

  /** @throws RangeError on a bound that is not a positive integer, or a node id that is not a validator. */
  constructor(options: TcpTransportOptions) {
    const connector = new TcpConnector(options);
    super(options, connector);
    this.#tlsGroups = connector.tlsGroups;
  }

  /** The TLS groups offered, or null for plain TCP. */
  get tlsGroups(): string | null {
    return this.#tlsGroups;
  }
}
