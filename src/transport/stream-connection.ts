/**
 * One authenticated connection of the stream transport (`stream-transport.ts`): its frames
 * sealed as they leave, corked so that the frames of one turn leave in one writev, queued
 * behind a stream that does not accept writes (`send-queue.ts`) until 'drain'; and the bytes
 * that arrive split into length-prefixed records and opened. Which connection a peer keeps,
 * and what closing one does to its peer's link, is the transport's.
 */
import type { Duplex } from 'node:stream';
import { FRAME_PREFIX_BYTES, FrameDecoder } from '../wire/frame.ts';
import { type RecordOpener, type RecordSealer, SEAL_OVERHEAD_BYTES } from './channel-crypto.ts';
import type { HandshakeOutcome } from './handshake.ts';
import { FrameQueue } from './send-queue.ts';
import type { LinkFailure, PeerConnectionInfo, PeerStream, StreamTransportStats } from './stream-types.ts';
import type { NodeId } from './transport.ts';

/** What every connection of one transport shares: its bounds, counters, and calls back into it. */
export interface ConnectionContext {
  /** The largest frame body sent or accepted, in bytes. */
  readonly maxFrameBytes: number;
  readonly sendQueueFramesMax: number;
  readonly sendQueueBytesMax: number;
  /** The transport's counters, which connections add to. */
  readonly stats: StreamTransportStats;
  /** A frame arrived and opened: it came from the peer. */
  readonly onFrame: (connection: Connection, frame: Uint8Array) => void;
  /** Bytes arrived that do not frame or open: the link fails, the peer is not blamed. */
  readonly onLinkFailed: (connection: Connection, failure: LinkFailure) => void;
  /** The connection must close, for `reason`. */
  readonly close: (connection: Connection, reason: string) => void;
}

/** An authenticated connection to a peer. */
export class Connection {
  readonly socket: Duplex;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly peer: NodeId;
  readonly peerInstance: string;
  readonly dialedBy: NodeId;
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  readonly #decoder: FrameDecoder;
  readonly #queue: FrameQueue;
  readonly #context: ConnectionContext;
  /** `write` returned false: wait for 'drain' before writing more. */
  #blocked = false;
  /** Writes of this turn are corked, to leave the stream in one writev. */
  #corked = false;
  closed = false;

  constructor(
    stream: PeerStream,
    outcome: Extract<HandshakeOutcome, { ok: true }>,
    dialedBy: NodeId,
    context: ConnectionContext,
  ) {
    this.socket = stream.duplex;
    this.remoteAddress = stream.remoteAddress;
    this.remotePort = stream.remotePort;
    this.peer = outcome.peer;
    this.peerInstance = outcome.peerInstance;
    this.dialedBy = dialedBy;
    this.#sealer = outcome.sealer;
    this.#opener = outcome.opener;
    this.#decoder = new FrameDecoder(context.maxFrameBytes + SEAL_OVERHEAD_BYTES);
    this.#queue = new FrameQueue(context.sendQueueFramesMax, context.sendQueueBytesMax);
    this.#context = context;
  }

  /** Writes `frame` at once while the stream accepts writes; queues it behind the stream otherwise. */
  send(frame: Uint8Array): void {
    if (!this.#blocked) {
      this.#write(frame);
      return;
    }
    const { stats } = this.#context;
    stats.framesDropped['queue-full'] += this.#queue.enqueue(frame);
    if (this.#queue.length > stats.sendQueueFramesPeak) stats.sendQueueFramesPeak = this.#queue.length;
  }

  /** The stream accepts writes again ('drain'): writes queued frames while it does. */
  drain(): void {
    this.#blocked = false;
    const queue = this.#queue;
    while (!this.#blocked && !this.closed) {
      const frame = queue.shift();
      if (frame === undefined) break;
      this.#write(frame);
    }
  }

  /** Bytes that arrived: every whole record is opened and handed on, until one fails. */
  receive(chunk: Uint8Array): void {
    if (this.closed) return;
    const { stats } = this.#context;
    const result = this.#decoder.push(chunk);
    if (!result.ok) {
      this.#context.onLinkFailed(this, 'frame-too-large');
      return;
    }
    for (const record of result.frames) {
      const frame = this.#opener.open(record);
      if (frame === null) {
        this.#context.onLinkFailed(this, 'unauthenticated-frame');
        return;
      }
      stats.framesReceived++;
      stats.bytesReceived += FRAME_PREFIX_BYTES + record.length;
      this.#context.onFrame(this, frame);
      // The handler may have closed this connection (disconnectPeer) or stopped the transport.
      if (this.closed) return;
    }
  }

  /** Drops the frames queued (the connection is closing), counted as `disconnected`. */
  dropQueue(): void {
    this.#context.stats.framesDropped.disconnected += this.#queue.clear();
  }

  /** What is known about this connection. */
  info(): PeerConnectionInfo {
    return {
      peer: this.peer,
      peerInstance: this.peerInstance,
      dialedBy: this.dialedBy,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      queuedFrames: this.#queue.length,
      queuedBytes: this.#queue.bytes,
    };
  }

  #write(frame: Uint8Array): void {
    let sealed: Uint8Array;
    try {
      sealed = this.#sealer.sealFrame(frame);
    } catch {
      // The key has sealed all it may: a new connection brings new keys.
      this.#context.close(this, 'record limit of the session key reached');
      return;
    }
    const socket = this.socket;
    if (!this.#corked) {
      // Frames sent in one turn of the event loop leave in one writev.
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    const { stats } = this.#context;
    stats.framesSent++;
    stats.bytesSent += sealed.length;
    if (!socket.write(sealed)) this.#blocked = true;
  }
}
