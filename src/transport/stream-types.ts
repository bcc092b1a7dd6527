/**
 * The shapes of the stream transport (`stream-transport.ts`): its options and their bounds, its
 * counters and events, what is known about a peer's connection, and the connector interface
 * through which TCP (`tcp.ts`) and QUIC (`quic.ts`) make and accept byte streams.
 */

import type { Duplex } from 'node:stream';
import type { PrivateKey, PublicKey, SignatureScheme } from '../crypto/scheme.ts';
import { integerField } from '../protocol/errors.ts';
import type { Clock } from '../shell/clock.ts';
import type { AdmissionOptions } from './admission.ts';
import type { Discovery, ResolvedAddress } from './discovery.ts';
import type { DuplicateIdentityDetection, DuplicateIdentityOptions } from './duplicate-identity.ts';
import { HANDSHAKE_REFUSAL_CODES, type HandshakeRefusal, type HandshakeRefusalCode } from './handshake.ts';
import type { NodeId } from './transport.ts';

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
/** Why the transport dropped a frame, as counted in `stats().framesDropped`. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Why a connection was closed for what arrived on it, without blaming the peer. */
export const LINK_FAILURES = Object.freeze([
  // A record did not open: altered, replayed, reordered, injected or from another connection.
  'unauthenticated-frame',
  // A declared frame length over maxFrameBytes (the prefix is not authenticated on its own).
  'frame-too-large',
] as const);
/** Why a link was closed for what arrived on it, as counted in `stats().linkFailures`. */
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

/** Where a listening {@link StreamConnector} hands what arrives. */
export interface ListenHooks {
  /** An inbound stream, ready for bytes. */
  readonly onStream: (stream: PeerStream) => void;
  /** A connection refused below the stream. */
  readonly onRefused: (code: HandshakeRefusalCode) => void;
}

/** How a stream transport makes and accepts byte streams: what TCP and QUIC do differently. */
export interface StreamConnector {
  /** Starts accepting, handing each inbound stream and each refused connection to `hooks`. */
  listen(host: string, port: number, hooks: ListenHooks): Promise<ListenAddress>;
  /** Opens a stream to `address`; rejects when it cannot. */
  connect(address: ResolvedAddress): Promise<PeerStream>;
  /**
   * Stops accepting and abandons dials in progress. Streams already handed over are the
   * transport's to close (it does so first).
   */
  close(): Promise<void>;
}

/** `value` if it is a positive safe integer; a ConfigError naming `name` otherwise. */
export function positiveInteger(name: string, value: number): number {
  return integerField(name, value, undefined, 1);
}

/** The handshake timeout of `options`, shared with connectors that time their own setup. */
export function handshakeTimeoutOf(options: StreamTransportOptions): number {
  return positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 5000);
}

/** Counters at zero, for a new transport. */
export function zeroStats(): StreamTransportStats {
  return {
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
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}
