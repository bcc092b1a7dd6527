/**
 * The engine's {@link Transport} over byte streams (TCP sockets in `tcp.ts`, QUIC streams in
 * `quic.ts`): every connection is authenticated and sealed by the handshake
 * (`handshake.ts`, `channel-crypto.ts`) before a single consensus frame is accepted, and
 * every frame after it is sealed.
 *
 * This module holds the transport's connection management; one connection's sealed frames are
 * `stream-connection.ts` (its send queue, `send-queue.ts`), one peer's link state and the
 * tie-break rule `peer-link.ts`, and the options, counters, events and connector interface
 * `stream-types.ts`.
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
import { ArgumentError } from '../errors.ts';
import { type Clock, systemClock } from '../shell/clock.ts';
import { HandshakeAdmission } from './admission.ts';
import { DuplicateIdentityGuard, type DuplicateIdentityState } from './duplicate-identity.ts';
import {
  acceptHandshake,
  dialHandshake,
  type HandshakeRefusal,
  INSTANCE_BYTES,
  NonceLedger,
  StreamHandshakeChannel,
} from './handshake.ts';
import { PeerLink, replaces } from './peer-link.ts';
import { Connection, type ConnectionContext } from './stream-connection.ts';
import {
  handshakeTimeoutOf,
  type LinkFailure,
  type ListenAddress,
  type PeerConnectionInfo,
  type PeerMisbehaviour,
  type PeerStream,
  positiveInteger,
  type StreamConnector,
  type StreamTransportEvents,
  type StreamTransportOptions,
  type StreamTransportStats,
  zeroStats,
} from './stream-types.ts';
import type { FrameHandler, NodeId, Transport } from './transport.ts';

/**
 * The engine's transport over authenticated, sealed byte streams: the rules of the module
 * comment, whatever makes the streams (a `StreamConnector`). `TcpTransport` and
 * `QuicTransport` are this class with their connector.
 *
 * Besides {@link Transport}: {@link StreamTransport.listen} (bind early and learn the port),
 * {@link StreamTransport.disconnectPeer}, {@link StreamTransport.onPeerMisbehaved},
 * {@link StreamTransport.stats}, {@link StreamTransport.peerInfo} and the events of
 * `StreamTransportEvents`.
 */
export class StreamTransport extends EventEmitter<StreamTransportEvents> implements Transport {
  readonly nodeId: NodeId;
  readonly #options: StreamTransportOptions;
  readonly #connector: StreamConnector;
  readonly #scheme: SignatureScheme;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #maxFrameBytes: number;
  readonly #handshakeTimeoutMs: number;
  readonly #peerHandshakesPerSecond: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  /** What the connections share: bounds, counters, and the calls back into this transport. */
  readonly #connectionContext: ConnectionContext;
  readonly #admission: HandshakeAdmission;
  readonly #duplicates: DuplicateIdentityGuard;
  readonly #links = new Map<NodeId, PeerLink>();
  /** The peers' public keys, one of which their handshakes must be signed with (see `setPeers`). */
  #validators: ReadonlyMap<NodeId, readonly PublicKey[]>;
  /** This node's handshake key. */
  #privateKey: PrivateKey;
  readonly #ledger = new NonceLedger();
  /** Every stream handed over by the connector and not yet closed, so that `stop` closes them all. */
  readonly #streams = new Set<Duplex>();
  #instance: Uint8Array = new Uint8Array(randomBytes(INSTANCE_BYTES));
  #listening: Promise<ListenAddress> | null = null;
  #running = false;
  /** Incremented by `stop`, so that a dial or handshake of an earlier run does nothing. */
  #epoch = 0;
  #handler: FrameHandler | null = null;
  readonly #stats: StreamTransportStats = zeroStats();

  /** @throws ArgumentError on a bound that is not a positive integer, or a node id that is not a validator. */
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
    this.#connectionContext = {
      maxFrameBytes: this.#maxFrameBytes,
      sendQueueFramesMax: positiveInteger('sendQueueFramesMax', options.sendQueueFramesMax ?? 8192),
      sendQueueBytesMax: positiveInteger('sendQueueBytesMax', options.sendQueueBytesMax ?? 64 << 20),
      stats: this.#stats,
      onFrame: (connection, frame) => {
        if (this.#running) this.#handler?.(connection.peer, frame);
      },
      onLinkFailed: (connection, failure) => this.#linkFailed(connection, failure),
      close: (connection, reason) => this.#close(connection, reason),
    };
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
      throw new ArgumentError(`node id ${options.nodeId} is not one of the validators`);
    this.#validators = new Map([...options.validators].map(([peer, key]) => [peer, [key]]));
    this.#privateKey = options.privateKey;
    for (const peer of options.validators.keys())
      if (peer !== options.nodeId)
        this.#links.set(peer, new PeerLink(peer, this.#peerHandshakesPerSecond, this.#clock.now()));
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

  /**
   * Changes whom this node talks to, at an epoch boundary (docs/reconfiguration.md, "Keys and
   * the transport"): `validators` replaces the peers and the keys that authenticate them, and
   * `privateKey`, if given, this node's own. A peer may have two keys: after a rotation, a peer
   * still in the epoch before signs with its old one, and must still reach this node to finish
   * that epoch. A peer no longer listed is disconnected and neither dialed nor accepted again; a
   * new one is dialed. Connections to the others stay up: they were authenticated with a key
   * that is still listed. This node's own entry, if any, is ignored.
   */
  setPeers(validators: ReadonlyMap<NodeId, PublicKey | readonly PublicKey[]>, privateKey?: PrivateKey): void {
    // A copy: the caller may change its map for the next epoch.
    this.#validators = new Map(
      [...validators].map(([peer, keys]) => [peer, Array.isArray(keys) ? [...keys] : [keys as PublicKey]]),
    );
    if (privateKey !== undefined) this.#privateKey = privateKey;
    for (const [peer, link] of [...this.#links]) {
      if (validators.has(peer)) continue;
      link.retryTimer?.cancel();
      link.retryTimer = null;
      this.#links.delete(peer);
      if (link.connection !== null) this.#close(link.connection, 'left the validators');
    }
    for (const peer of validators.keys()) {
      if (peer === this.nodeId || this.#links.has(peer)) continue;
      const link = new PeerLink(peer, this.#peerHandshakesPerSecond, this.#clock.now());
      this.#links.set(peer, link);
      this.#dial(link);
    }
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
    return connection == null ? undefined : connection.info();
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
      throw new ArgumentError(
        `a frame of ${frame.length} bytes exceeds maxFrameBytes ${this.#maxFrameBytes}`,
      );
  }

  #sendFrame(link: PeerLink, frame: Uint8Array): void {
    const connection = link.connection;
    if (!this.#running || connection === null) {
      this.#stats.framesDropped.unreachable++;
      return;
    }
    connection.send(frame);
  }

  // ---- receiving ----

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
    // A link dropped by `setPeers` is not dialed again.
    if (!this.#running || link.connection !== null || link.dialing || this.#links.get(link.peer) !== link)
      return;
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
    if (!link.takeSignToken(this.#clock.now()))
      return {
        code: 'busy',
        detail: `${peer} made more than ${this.#peerHandshakesPerSecond} handshakes a second`,
      };
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
      privateKey: this.#privateKey,
      publicKeyOf: (nodeId: NodeId) => this.#validators.get(nodeId),
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
      this.#connectionContext,
    );
    socket.on('data', (chunk: Uint8Array) => connection.receive(chunk));
    socket.on('drain', () => connection.drain());
    socket.once('close', () => this.#close(connection, 'connection closed'));
    this.#adopt(connection);
    if (rest.length > 0) connection.receive(rest);
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
    const link = this.#links.get(connection.peer);
    if (link === undefined) {
      // Its peer left the validators while the handshake ran.
      connection.closed = true;
      connection.socket.destroy();
      return;
    }
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
      if (!replaces(connection, existing, this.nodeId)) {
        // The loser is closed without touching the link: the peer stays connected. It is ended
        // rather than destroyed, so that what this side sent still reaches the peer, which
        // drops the same connection by the same rule, instead of reporting a handshake cut short.
        connection.closed = true;
        this.#endGracefully(connection.socket);
        return;
      }
      existing.closed = true;
      existing.dropQueue();
      existing.socket.destroy();
    }
    link.connection = connection;
    link.failures = 0;
    link.retryTimer?.cancel();
    link.retryTimer = null;
    if (existing === null) {
      this.#stats.connectionsEstablished++;
      this.emit('peer-connected', connection.info());
    } else {
      this.#stats.connectionsReplaced++;
      this.emit('peer-connection-replaced', {
        ...connection.info(),
        previous: existing.info(),
      });
    }
  }

  #close(connection: Connection, reason: string): void {
    if (connection.closed) return;
    connection.closed = true;
    connection.dropQueue();
    connection.socket.destroy();
    const link = this.#links.get(connection.peer);
    if (link === undefined) {
      // Dropped by `setPeers`: no redial.
      this.#stats.connectionsLost++;
      this.emit('peer-disconnected', { peer: connection.peer, reason });
      return;
    }
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
    if (this.#links.get(link.peer) !== link) return;
    if (!this.#options.discovery.dials(link.peer)) return;
    const { delayMs, failures } = link.backOff(this.#baseDelayMs, this.#maxDelayMs, this.#random);
    this.emit('dial-scheduled', { peer: link.peer, delayMs, failures });
    link.retryTimer = this.#clock.setTimer(delayMs, () => {
      link.retryTimer = null;
      if (!this.#running || link.connection !== null || link.dialing) return;
      this.#stats.reconnectAttempts++;
      this.#dial(link);
    });
  }
}
