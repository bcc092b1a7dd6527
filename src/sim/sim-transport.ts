/**
 * The `Transport` of one simulated process: frames leave through the replica's outgoing hook
 * (the network, or a Byzantine strategy in between) and arrive from the replica. The peers it
 * reports connected are the ones the network connects it to now, so the engine's check on an
 * unreachable primary sees partitions and crashes as it sees them on TCP.
 */
import type { FrameHandler, NodeId, Transport } from '../transport/transport.ts';
import type { SimNetwork } from './network.ts';
import type { SimProcess } from './process.ts';

export class SimTransport implements Transport {
  readonly #self: number;
  readonly #nodeIds: readonly NodeId[];
  readonly #replicaOf: ReadonlyMap<NodeId, number>;
  readonly #others: readonly number[];
  readonly #network: SimNetwork;
  readonly #process: SimProcess;
  readonly #outgoing: (peers: readonly number[], frame: Uint8Array) => void;
  #handler: FrameHandler | null = null;
  #running = false;

  constructor(
    self: number,
    nodeIds: readonly NodeId[],
    network: SimNetwork,
    process: SimProcess,
    outgoing: (peers: readonly number[], frame: Uint8Array) => void,
  ) {
    this.#self = self;
    this.#nodeIds = nodeIds;
    this.#replicaOf = new Map(nodeIds.map((id, replica) => [id, replica]));
    this.#others = nodeIds.map((_, replica) => replica).filter((replica) => replica !== self);
    this.#network = network;
    this.#process = process;
    this.#outgoing = outgoing;
  }

  async start(): Promise<void> {
    this.#running = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
  }

  send(to: NodeId, frame: Uint8Array): void {
    const peer = this.#replicaOf.get(to);
    if (peer === undefined || peer === this.#self || !this.#open()) return;
    this.#outgoing([peer], frame);
  }

  broadcast(frame: Uint8Array): void {
    if (this.#open()) this.#outgoing(this.#others, frame);
  }

  onFrame(handler: FrameHandler): void {
    this.#handler = handler;
  }

  connectedPeers(): readonly NodeId[] {
    const peers: NodeId[] = [];
    for (const peer of this.#others)
      if (this.#network.connected(this.#self, peer)) peers.push(this.#nodeIds[peer]!);
    return peers;
  }

  /** A frame from `from` reaches this process. */
  deliver(from: number, frame: Uint8Array): void {
    const handler = this.#handler;
    if (handler === null || !this.#open()) return;
    this.#process.enter(() => handler(this.#nodeIds[from]!, frame));
  }

  #open(): boolean {
    return this.#running && this.#process.alive;
  }
}
