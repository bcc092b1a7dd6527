/**
 * A transport between replicas on different threads of one process: one `MessagePort` per
 * peer (from `worker_threads`' `MessageChannel`), so that each replica runs its own event loop,
 * as it would in its own process, without a socket. The benchmarks run a cluster this way; an
 * application may run several replicas in one process with it.
 *
 * Ports are authenticated by construction (whoever wired the channel decided who is at the
 * other end), so there is no handshake. Frames are copied by the structured clone of
 * `postMessage`, as a network would copy them. A port does not apply back-pressure, so each
 * peer has a bound on frames posted and not yet acknowledged as received; beyond it frames are
 * dropped, as a full socket queue would drop them (the protocol retransmits what matters).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { ArgumentError } from '../errors.ts';
import { integerField } from '../protocol/errors.ts';
import type { FrameHandler, NodeId, Transport } from './transport.ts';

/** What a {@link MessagePortTransport} is wired with. */
export interface MessagePortTransportOptions {
  /** This replica's id. */
  readonly nodeId: NodeId;
  /** One port per peer, keyed by the peer's id; the peer holds the other end. */
  readonly ports: ReadonlyMap<NodeId, MessagePort>;
  /** Frames posted to one peer and not yet acknowledged before more are dropped. Default 10,000. */
  readonly inFlightMax?: number;
}

/** What travels on a port: a frame, or the receiver's count of frames taken since the last one. */
type PortMessage = Uint8Array | { readonly received: number };

/** Acknowledge received frames in groups of this many (and whenever the receiver goes idle). */
const ACK_EVERY = 64;

interface Peer {
  readonly port: MessagePort;
  inFlight: number;
  unacknowledged: number;
  ackScheduled: boolean;
}

/** One replica's end of the ports to its peers (see `messagePortMesh`). */
export class MessagePortTransport implements Transport {
  readonly nodeId: NodeId;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #inFlightMax: number;
  #handler: FrameHandler | null = null;
  #running = false;
  /** Frames dropped because a peer's bound was reached, for tests and benchmarks. */
  dropped = 0;

  constructor(options: MessagePortTransportOptions) {
    this.nodeId = options.nodeId;
    this.#inFlightMax = integerField('inFlightMax', options.inFlightMax, 10_000, 1);
    for (const [id, port] of options.ports) {
      if (id === this.nodeId) throw new ArgumentError(`a port to itself (${id})`);
      this.#peers.set(id, { port, inFlight: 0, unacknowledged: 0, ackScheduled: false });
    }
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    for (const [id, peer] of this.#peers) {
      peer.port.on('message', (message: PortMessage) => this.#onMessage(id, peer, message));
      peer.port.start();
    }
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const peer of this.#peers.values()) {
      peer.port.removeAllListeners('message');
      peer.port.close();
    }
  }

  send(to: NodeId, frame: Uint8Array): void {
    const peer = this.#peers.get(to);
    if (!this.#running || peer === undefined) return;
    this.#post(peer, frame);
  }

  broadcast(frame: Uint8Array): void {
    if (!this.#running) return;
    for (const peer of this.#peers.values()) this.#post(peer, frame);
  }

  onFrame(handler: FrameHandler): void {
    this.#handler = handler;
  }

  connectedPeers(): readonly NodeId[] {
    return this.#running ? [...this.#peers.keys()] : [];
  }

  #post(peer: Peer, frame: Uint8Array): void {
    if (peer.inFlight >= this.#inFlightMax) {
      this.dropped++;
      return;
    }
    peer.inFlight++;
    peer.port.postMessage(frame);
  }

  #onMessage(from: NodeId, peer: Peer, message: PortMessage): void {
    if (!this.#running) return;
    if (message instanceof Uint8Array) {
      peer.unacknowledged++;
      if (peer.unacknowledged >= ACK_EVERY) this.#acknowledge(peer);
      else if (!peer.ackScheduled) {
        peer.ackScheduled = true;
        setImmediate(() => this.#acknowledge(peer));
      }
      this.#handler?.(from, message);
      return;
    }
    // Only a peer thread of this process can post here; a count it never sent is a bug there.
    peer.inFlight = Math.max(0, peer.inFlight - message.received);
  }

  #acknowledge(peer: Peer): void {
    peer.ackScheduled = false;
    if (peer.unacknowledged === 0 || !this.#running) return;
    peer.port.postMessage({ received: peer.unacknowledged });
    peer.unacknowledged = 0;
  }
}

/**
 * The ports of a fully connected cluster: for each node, a map from each peer to its end of
 * the channel between the two. Hand each node's map to its thread (transfer the ports).
 */
export function messagePortMesh(nodes: readonly NodeId[]): Map<NodeId, Map<NodeId, MessagePort>> {
  const mesh = new Map(nodes.map((id) => [id, new Map<NodeId, MessagePort>()]));
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const { port1, port2 } = new MessageChannel();
      mesh.get(nodes[i]!)!.set(nodes[j]!, port1);
      mesh.get(nodes[j]!)!.set(nodes[i]!, port2);
    }
  }
  return mesh;
}
