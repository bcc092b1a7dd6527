/**
 * The engine's {@link Transport} over byte streams (TCP sockets in `tcp.ts`, QUIC streams in
 * `quic.ts`): every connection is authenticated and sealed by the handshake
 * (`handshake.ts`, `channel-crypto.ts`) before a single consensus frame is accepted, and
 * every frame after it is sealed.
 *
 * Connections. Every node dials every validator that has an address (`discovery.ts`) and
 * accepts connections from every registered validator, so a restarted node reconnects at once
 * without waiting for its peers' back-off. Before a byte of an inbound connection is read, its
 * source address must be admitted (`admission.ts`): strangers cannot take the slots of the
 * validators' addresses, nor more than a few slots and handshakes a second per address.
 *
 * One connection per peer. When a second connection to a peer is authenticated (both dialed
 * at once, or the peer restarted or redialed), both sides keep the same one by a deterministic
 * rule: a connection from a newer instance of the peer (it restarted) replaces the older one;
 * between connections of the same instance, the one dialed by the smaller node id (by string
 * order) wins, and of two dialed by the same node the newer wins. Only the peer itself can win
 * this: a connection must pass the handshake, signed with the peer's key over fresh ephemeral
 * keys, before the rule is applied. A replacement is reported (`peer-connection-replaced`).
 *
 * Frames. Each frame is sealed (AES-256-GCM, a key per direction, implicit record numbers)
 * and carried behind a u32 length prefix. What fails to open (altered, replayed, reordered,
 * injected or moved from another connection) closes the connection and is counted as
 * `frames-rejected`; so does a declared length over the bound. Neither is reported as the
 * peer's misbehaviour: the bytes may come from anyone on the path, and only what a peer
 * provably sent may cost it reputation. A frame that opens came from the peer; if its body
 * does not decode, the engine reports it with {@link StreamTransport.disconnectPeer}, and the
 * `peer-misbehaved` event follows.
 *
 * Send queues and the drop policy. A frame is written to the stream at once while the stream
 * accepts writes (`write` returned true). Once it returns false, frames wait in the peer's
 * queue until 'drain'; the queue is bounded by frames and by bytes, and when a new frame does
 * not fit, the OLDEST queued frames are dropped until it does (counted as `queue-full`).
 * Dropping the oldest rather than the newest is deliberate: PBFT messages are superseded by
 * later ones (a newer vote, a checkpoint, a status), the protocol retransmits what a peer still
 * needs, and a slow peer is better served by recent messages than by a backlog it will have to
 * discard. Frames wait in the clear and are sealed as they leave, so that a dropped frame
 * leaves no gap in the record numbers. Frames are never queued for a peer without a
 * connection: `send` drops them at once (`unreachable`), as the {@link Transport} contract
 * says, and a connection that closes drops its queue (`disconnected`).
 *
 * Reconnect. A lost or failed connection is dialed again after a delay drawn with full jitter,
 * uniform in [0, min(reconnectMaxDelayMs, reconnectBaseDelayMs x 2^failures)), from an
 * injectable random source, on an injectable clock: tests drive it with a `ManualClock` and a
 * seeded PRNG. The address is resolved again before every dial.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { mlDsa87 } from '../crypto/ml-dsa.ts';
import type { PrivateKey, PublicKey, SignatureScheme } from '../crypto/scheme.ts';
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';
import { Fifo } from '../shell/fifo.ts';
import { FRAME_PREFIX_BYTES, FrameDecoder } from '../wire/frame.ts';
import { type AdmissionOptions, HandshakeAdmission } from './admission.ts';
import { type RecordOpener, type RecordSealer, SEAL_OVERHEAD_BYTES } from './channel-crypto.ts';
import type { Discovery, ResolvedAddress } from './discovery.ts';
import {
  type DuplicateIdentityDetection,
  DuplicateIdentityGuard,
  type DuplicateIdentityOptions,
  type DuplicateIdentityState,
} from './duplicate-identity.ts';
import {
  acceptHandshake,
  dialHandshake,
  HANDSHAKE_REFUSAL_CODES,
  type HandshakeOutcome,
  type HandshakeRefusal,
  type HandshakeRefusalCode,
  INSTANCE_BYTES,
  NonceLedger,
  StreamHandshakeChannel,
} from './handshake.ts';
import type { FrameHandler, NodeId, Transport } from './transport.ts';

/** What every stream transport needs; fields with defaults may be left out. */
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
  /** Frames queued per peer behind a full stream. Default 8,192. */
  readonly sendQueueFramesMax?: number;
  /** Bytes queued per peer behind a full stream. Default 64 MiB. */
  readonly sendQueueBytesMax?: number;
  /** Time a connection has to authenticate. Default 5,000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Bounds on handshakes from unauthenticated addresses (see `admission.ts`). */
  readonly admission?: Omit<AdmissionOptions, 'clock'>;
  /** Handshakes a second that one authenticated peer may make this node sign (burst twice that). Default 4. */
  readonly peerHandshakesPerSecond?: number;
  /** The first reconnect delay bound. Default 100 ms. */
  readonly reconnectBaseDelayMs?: number;
  /** The reconnect delay cap. Default 10,000 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** Timers for back-off and handshake timeouts. Default: the system clock. */
  readonly clock?: Clock;
  /** A uniform random number in [0, 1) for jitter. Default `Math.random`; tests pass a seeded PRNG. */
  readonly random?: () => number;
  /** How two live processes with one peer's key are told apart and refused (`duplicate-identity.ts`). */
  readonly duplicateIdentity?: DuplicateIdentityOptions;
}

/** Every reason a frame was dropped, listed once. */
export const DROP_REASONS = Object.freeze(['queue-full', 'unreachable', 'disconnected'] as const);
export type DropReason = (typeof DROP_REASONS)[number];

/** Why a connection was closed for what arrived on it, without blaming the peer. */
export const LINK_FAILURES = Object.freeze([
  // A record did not open: altered, replayed, reordered, injected or from another connection.
  'unauthenticated-frame',
  // A declared frame length over maxFrameBytes (the prefix is not authenticated on its own).
  'frame-too-large',
] as const);
export type LinkFailure = (typeof LINK_FAILURES)[number];

/** What the transport has done since it was created (counters only grow). */
export interface StreamTransportStats {
  framesSent: number;
  /** Bytes handed to streams, length prefixes and seal overhead included. */
  bytesSent: number;
  framesReceived: number;
  /** Bytes of received frames, length prefixes and seal overhead included. */
  bytesReceived: number;
  framesDropped: Record<DropReason, number>;
  /** Connections closed for what arrived on them, by reason; no peer is blamed for these. */
  linkFailures: Record<LinkFailure, number>;
  /** Dials made by back-off after a lost or failed connection. */
  reconnectAttempts: number;
  /** Connections that passed the handshake and became a peer's connection. */
  connectionsEstablished: number;
  /** Authenticated connections that replaced a live one to the same peer. */
  connectionsReplaced: number;
  /** Peer connections lost (closed by either side, superseded ones not counted). */
  connectionsLost: number;
  /** Handshakes that failed, by reason, on either side. */
  handshakesRefused: Record<HandshakeRefusalCode, number>;
  /** ML-DSA-87 signatures made for handshakes: never more than one per peer that proved itself. */
  handshakeSignatures: number;
  /** Authenticated peers disconnected for a frame the engine could not decode. */
  misbehaviours: number;
  /** The largest number of frames any one peer's queue has held. */
  sendQueueFramesPeak: number;
  /** Times two live instances of one peer were seen taking turns (`duplicate-identity.ts`). */
  duplicateIdentityDetections: number;
  /** Authenticated connections refused because their instance is a detected duplicate. */
  duplicateConnectionsRefused: number;
}

/** What is known about a peer's current connection. */
export interface PeerConnectionInfo {
  readonly peer: NodeId;
  /** The peer's instance id (hex): new at every start of the peer's transport. */
  readonly peerInstance: string;
  /** The node that dialed this connection. */
  readonly dialedBy: NodeId;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Frames and bytes waiting in this peer's send queue. */
  readonly queuedFrames: number;
  readonly queuedBytes: number;
}

/** Why a peer was disconnected for misbehaviour. */
export interface PeerMisbehaviour {
  readonly peer: NodeId;
  /** The engine's code given to `disconnectPeer`. */
  readonly code: string;
  readonly detail: string;
}

/** The transport's events. */
export interface StreamTransportEvents {
  /** A peer passed the handshake and is connected. */
  'peer-connected': [PeerConnectionInfo];
  /**
   * A second authenticated connection to a connected peer won the tie-break and replaced the
   * first (`previous`); the peer stayed connected throughout.
   */
  'peer-connection-replaced': [PeerConnectionInfo & { readonly previous: PeerConnectionInfo }];
  /** A peer's connection closed. */
  'peer-disconnected': [{ readonly peer: NodeId; readonly reason: string }];
  /** A connection was closed for bytes that did not open or frame; the peer is not blamed. */
  'link-failed': [
    { readonly peer: NodeId; readonly failure: LinkFailure; readonly remoteAddress: string | undefined },
  ];
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
  /**
   * Two live processes hold one peer's key: an instance that was replaced came back. The later
   * one (`duplicate`) is refused for `refusedForMs`; see `duplicate-identity.ts`.
   */
  'duplicate-identity': [DuplicateIdentityDetection];
  /** A redial of `peer` is scheduled `delayMs` from now, after `failures` consecutive failures. */
  'dial-scheduled': [{ readonly peer: NodeId; readonly delayMs: number; readonly failures: number }];
  /** A dial failed before the handshake (no address, refused, unreachable). */
  'dial-failed': [{ readonly peer: NodeId; readonly address: string | undefined; readonly reason: string }];
}

/** Where a transport accepts connections. */
export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * A byte stream to a peer, before authentication: a TCP socket or one QUIC stream. The
 * transport owns it from the moment it is handed over, and destroys it when done.
 */
export interface PeerStream {
  readonly duplex: Duplex;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /**
   * Bytes both ends derive from a secure channel under the stream (QUIC's authenticated
   * endpoint ids), which the handshake hashes into its transcript; empty for TCP.
   */
  readonly channelBinding: Uint8Array;
}

/** How a stream transport makes and accepts byte streams: what TCP and QUIC do differently. */
export interface StreamConnector {
  /**
   * Starts accepting. Each inbound stream ready for bytes goes to `onStream`; a connection
   * refused below the stream is reported to `onRefused`.
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

/** A bounded FIFO of frames in the clear, counting its bytes. */
class FrameQueue {
  readonly #frames = new Fifo<Uint8Array>();
  bytes = 0;

  get length(): number {
    return this.#frames.length;
  }

  push(frame: Uint8Array): void {
    this.#frames.push(frame);
    this.bytes += frame.length;
  }

  shift(): Uint8Array | undefined {
    const frame = this.#frames.shift();
    if (frame !== undefined) this.bytes -= frame.length;
    return frame;
  }

  clear(): number {
    const dropped = this.#frames.drain().length;
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
  readonly sealer: RecordSealer;
  readonly opener: RecordOpener;
  readonly decoder: FrameDecoder;
  readonly queue = new FrameQueue();
  /** `write` returned false: wait for 'drain' before writing more. */
  blocked = false;
  /** Writes of this turn are corked, to leave the stream in one writev. */
  corked = false;
  closed = false;

  constructor(
    stream: PeerStream,
    outcome: Extract<HandshakeOutcome, { ok: true }>,
    dialedBy: NodeId,
    maxFrameBytes: number,
  ) {
    this.socket = stream.duplex;
    this.remoteAddress = stream.remoteAddress;
    this.remotePort = stream.remotePort;
    this.peer = outcome.peer;
    this.peerInstance = outcome.peerInstance;
    this.dialedBy = dialedBy;
    this.sealer = outcome.sealer;
    this.opener = outcome.opener;
    this.decoder = new FrameDecoder(maxFrameBytes + SEAL_OVERHEAD_BYTES);
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
  /** Tokens for handshakes this node signs for the peer as acceptor (see `peerHandshakesPerSecond`). */
  signTokens: number;
  signTokensAt: number;
}

export function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

/** The handshake timeout of `options`, shared with connectors that time their own setup. */
export function handshakeTimeoutOf(options: StreamTransportOptions): number {
  return positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 5000);
}

/**
 * The engine's transport over authenticated, sealed byte streams: the rules of the module
 * comment, whatever makes the streams (a {@link StreamConnector}). `TcpTransport` and
 * `QuicTransport` are this class with their connector.
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
  readonly #peerHandshakesPerSecond: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #admission: HandshakeAdmission;
  readonly #duplicates: DuplicateIdentityGuard;
  readonly #links = new Map<NodeId, PeerLink>();
  readonly #ledger = new NonceLedger();
  /** Every stream handed over by the connector and not yet closed, so that `stop` closes them all. */
  readonly #streams = new Set<Duplex>();
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
    linkFailures: zeroCounts(LINK_FAILURES),
    reconnectAttempts: 0,
    connectionsEstablished: 0,
    connectionsReplaced: 0,
    connectionsLost: 0,
    handshakesRefused: zeroCounts(HANDSHAKE_REFUSAL_CODES),
    handshakeSignatures: 0,
    misbehaviours: 0,
    sendQueueFramesPeak: 0,
    duplicateIdentityDetections: 0,
    duplicateConnectionsRefused: 0,
  };

  /** @throws RangeError on a bound that is not a positive integer, or a node id that is not a validator. */
  constructor(options: StreamTransportOptions, connector: StreamConnector) {
    super();
    this.nodeId = options.nodeId;
    this.#options = options;
    this.#connector = connector;
    const scheme = options.scheme ?? mlDsa87;
    // Every handshake signature is counted: what strangers can (not) make this node sign.
    this.#scheme = {
      ...scheme,
      signAsync: (privateKey, message, context) => {
        this.#stats.handshakeSignatures++;
        return scheme.signAsync(privateKey, message, context);
      },
    };
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#maxFrameBytes = positiveInteger('maxFrameBytes', options.maxFrameBytes);
    this.#queueFramesMax = positiveInteger('sendQueueFramesMax', options.sendQueueFramesMax ?? 8192);
    this.#queueBytesMax = positiveInteger('sendQueueBytesMax', options.sendQueueBytesMax ?? 64 << 20);
    this.#handshakeTimeoutMs = handshakeTimeoutOf(options);
    this.#peerHandshakesPerSecond = positiveInteger(
      'peerHandshakesPerSecond',
      options.peerHandshakesPerSecond ?? 4,
    );
    this.#baseDelayMs = positiveInteger('reconnectBaseDelayMs', options.reconnectBaseDelayMs ?? 100);
    this.#maxDelayMs = positiveInteger('reconnectMaxDelayMs', options.reconnectMaxDelayMs ?? 10_000);
    this.#admission = new HandshakeAdmission({ ...options.admission, clock: this.#clock });
    // A late handshake of a restarted peer's old instance finishes within the handshake
    // timeout: only a return later than that proves two live instances.
    this.#duplicates = new DuplicateIdentityGuard(this.#clock, {
      settleMs: this.#handshakeTimeoutMs + 1000,
      ...options.duplicateIdentity,
    });
    if (!options.validators.has(options.nodeId))
      throw new RangeError(`node id ${options.nodeId} is not one of the validators`);
    for (const peer of options.validators.keys())
      if (peer !== options.nodeId)
        this.#links.set(peer, {
          peer,
          connection: null,
          dialing: false,
          retryTimer: null,
          failures: 0,
          signTokens: 2 * this.#peerHandshakesPerSecond,
          signTokensAt: this.#clock.now(),
        });
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
    this.#sendFrame(link, frame);
  }

  broadcast(frame: Uint8Array): void {
    this.#checkFrame(frame);
    for (const link of this.#links.values()) this.#sendFrame(link, frame);
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
    this.#stats.misbehaviours++;
    this.#close(connection, `misbehaved: ${code}`);
    this.emit('peer-misbehaved', { peer, code, detail });
    return true;
  }

  /** A copy of the counters. */
  stats(): StreamTransportStats {
    return {
      ...this.#stats,
      framesDropped: { ...this.#stats.framesDropped },
      linkFailures: { ...this.#stats.linkFailures },
      handshakesRefused: { ...this.#stats.handshakesRefused },
    };
  }

  /** The current connection to `peer`, or undefined. */
  peerInfo(peer: NodeId): PeerConnectionInfo | undefined {
    const connection = this.#links.get(peer)?.connection;
    return connection == null ? undefined : this.#infoOf(connection);
  }

  /** Peers whose key two live processes were seen using, with the latest detection. */
  duplicateIdentities(): DuplicateIdentityState[] {
    return this.#duplicates.states();
  }

  /** Handshakes in progress (in all, and from unlisted addresses) and addresses remembered. */
  admissionState(): {
    readonly pending: number;
    readonly strangerPending: number;
    readonly addressesTracked: number;
  } {
    const admission = this.#admission;
    return {
      pending: admission.pending,
      strangerPending: admission.strangerPending,
      addressesTracked: admission.addressesTracked,
    };
  }

  // ---- sending ----

  #checkFrame(frame: Uint8Array): void {
    // The engine sizes maxFrameBytes for the largest message it sends, so a longer frame is a
    // local bug; a peer would disconnect this node for it.
    if (frame.length > this.#maxFrameBytes)
      throw new RangeError(`a frame of ${frame.length} bytes exceeds maxFrameBytes ${this.#maxFrameBytes}`);
  }

  #sendFrame(link: PeerLink, frame: Uint8Array): void {
    const connection = link.connection;
    if (!this.#running || connection === null) {
      this.#stats.framesDropped.unreachable++;
      return;
    }
    if (!connection.blocked) {
      this.#write(connection, frame);
      return;
    }
    if (frame.length > this.#queueBytesMax) {
      this.#stats.framesDropped['queue-full']++;
      return;
    }
    const queue = connection.queue;
    queue.push(frame);
    while (queue.length > this.#queueFramesMax || queue.bytes > this.#queueBytesMax) {
      queue.shift();
      this.#stats.framesDropped['queue-full']++;
    }
    if (queue.length > this.#stats.sendQueueFramesPeak) this.#stats.sendQueueFramesPeak = queue.length;
  }

  #write(connection: Connection, frame: Uint8Array): void {
    let sealed: Uint8Array;
    try {
      sealed = connection.sealer.sealFrame(frame);
    } catch {
      // The key has sealed all it may: a new connection brings new keys.
      this.#close(connection, 'record limit of the session key reached');
      return;
    }
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
    this.#stats.bytesSent += sealed.length;
    if (!socket.write(sealed)) connection.blocked = true;
  }

  #onDrain(connection: Connection): void {
    connection.blocked = false;
    const queue = connection.queue;
    while (!connection.blocked && !connection.closed) {
      const frame = queue.shift();
      if (frame === undefined) break;
      this.#write(connection, frame);
    }
  }

  // ---- receiving ----

  #onData(connection: Connection, chunk: Uint8Array): void {
    if (connection.closed) return;
    const result = connection.decoder.push(chunk);
    if (!result.ok) {
      this.#linkFailed(connection, 'frame-too-large');
      return;
    }
    for (const record of result.frames) {
      const frame = connection.opener.open(record);
      if (frame === null) {
        this.#linkFailed(connection, 'unauthenticated-frame');
        return;
      }
      this.#stats.framesReceived++;
      this.#stats.bytesReceived += FRAME_PREFIX_BYTES + record.length;
      if (this.#running) this.#handler?.(connection.peer, frame);
      // The handler may have closed this connection (disconnectPeer) or stopped the transport.
      if (connection.closed) return;
    }
  }

  #linkFailed(connection: Connection, failure: LinkFailure): void {
    if (connection.closed) return;
    this.#stats.linkFailures[failure]++;
    this.#close(connection, failure);
    this.emit('link-failed', { peer: connection.peer, failure, remoteAddress: connection.remoteAddress });
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
    const ticket = this.#running ? this.#admission.admit(stream.remoteAddress) : null;
    if (ticket === null || 'code' in ticket) {
      this.#stats.handshakesRefused.busy++;
      this.emit('handshake-refused', {
        side: 'acceptor',
        remoteAddress: stream.remoteAddress,
        claimedPeer: undefined,
        refusal: ticket ?? { code: 'busy', detail: 'the transport is not running' },
      });
      stream.duplex.destroy();
      return;
    }
    void this.#authenticate(stream, 'acceptor', undefined).finally(() => ticket.release());
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
    // The peer's connections come from these addresses: they draw on the reserved pool.
    this.#admission.setValidatorAddresses(
      link.peer,
      resolved.addresses.map((address) => address.ip),
    );
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
   * Whether this node signs one more handshake for `peer` now (a token bucket per peer), and
   * not for an instance of it refused as a duplicate.
   */
  #admitAuthenticated(peer: NodeId, peerInstance: string): HandshakeRefusal | null {
    const link = this.#links.get(peer);
    if (link === undefined) return { code: 'unknown-node', detail: `${peer} is not a peer` };
    if (this.#duplicates.refuses(peer, peerInstance)) {
      this.#stats.duplicateConnectionsRefused++;
      return {
        code: 'duplicate-identity',
        detail: `another process with ${peer}'s key holds the link; this one (instance ${peerInstance}) is refused for now`,
      };
    }
    const rate = this.#peerHandshakesPerSecond;
    const now = this.#clock.now();
    link.signTokens = Math.min(2 * rate, link.signTokens + ((now - link.signTokensAt) / 1000) * rate);
    link.signTokensAt = now;
    if (link.signTokens < 1)
      return { code: 'busy', detail: `${peer} made more than ${rate} handshakes a second` };
    link.signTokens -= 1;
    return null;
  }

  /**
   * Runs the handshake on a new stream and, on success, makes it the peer's connection.
   * `link` is the peer dialed, on the dialing side: it is redialed after a refusal.
   */
  async #authenticate(stream: PeerStream, side: 'dialer' | 'acceptor', link?: PeerLink): Promise<void> {
    const epoch = this.#epoch;
    const socket = stream.duplex;
    const channel = new StreamHandshakeChannel(socket);
    const timeout = this.#clock.setTimer(this.#handshakeTimeoutMs, () =>
      channel.fail({ code: 'timeout', detail: `no handshake within ${this.#handshakeTimeoutMs} ms` }),
    );
    const common = {
      scheme: this.#scheme,
      clusterId: this.#options.clusterId,
      nodeId: this.nodeId,
      privateKey: this.#options.privateKey,
      publicKeyOf: (nodeId: NodeId) => this.#options.validators.get(nodeId),
      instance: this.#instance,
      ledger: this.#ledger,
      channelBinding: stream.channelBinding,
    };
    const outcome =
      link === undefined
        ? await acceptHandshake(channel, {
            ...common,
            admitAuthenticated: (peer, peerInstance) => this.#admitAuthenticated(peer, peerInstance),
          })
        : await dialHandshake(channel, { ...common, peer: link.peer });
    timeout.cancel();
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
      outcome,
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
    // Two live processes with the peer's key take turns unless one is refused (see
    // `duplicate-identity.ts`); a peer that restarted is admitted and replaces its old link below.
    const admission = this.#duplicates.admit(connection.peer, {
      instance: connection.peerInstance,
      remoteAddress: connection.remoteAddress,
      remotePort: connection.remotePort,
    });
    if (admission.detection !== null) {
      this.#stats.duplicateIdentityDetections++;
      this.emit('duplicate-identity', admission.detection);
    }
    if (!admission.admit) {
      this.#stats.duplicateConnectionsRefused++;
      connection.closed = true;
      this.#endGracefully(connection.socket);
      this.#scheduleRedial(link);
      return;
    }
    const existing = link.connection;
    if (existing !== null) {
      if (!this.#replaces(connection, existing)) {
        // The loser is closed without touching the link: the peer stays connected. It is ended
        // rather than destroyed, so that what this side sent still reaches the peer, which
        // drops the same connection by the same rule, instead of reporting a handshake cut short.
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
      this.#stats.connectionsReplaced++;
      this.emit('peer-connection-replaced', {
        ...this.#infoOf(connection),
        previous: this.#infoOf(existing),
      });
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
    this.#duplicates.lost(connection.peer, connection.peerInstance);
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
      peerInstance: connection.peerInstance,
      dialedBy: connection.dialedBy,
      remoteAddress: connection.remoteAddress,
      remotePort: connection.remotePort,
      queuedFrames: connection.queue.length,
      queuedBytes: connection.queue.bytes,
    };
  }
}
