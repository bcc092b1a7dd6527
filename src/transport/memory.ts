/**
 * An in-process network for tests and benchmarks: every endpoint is a {@link Transport}, frames
 * are delivered asynchronously (never inside `send`, as a real network never is), and a test can
 * cut links, partition the cluster, drop frames by a filter, or inject frames a Byzantine peer
 * would send.
 */

import { ArgumentError } from '../errors.ts';
import type { Clock } from '../shell/clock.ts';
import type { FrameHandler, NodeId, Transport } from './transport.ts';

/** How a {@link MemoryNetwork} delivers frames. */
export interface MemoryNetworkOptions {
  /**
   * Delay of every frame, in milliseconds of `clock`. With 0 (the default) frames are delivered
   * on the next turn of the event loop, in the order they were sent.
   */
  readonly latencyMs?: number;
  /** The clock that times `latencyMs`; needed only when it is above 0. */
  readonly clock?: Clock;
  /** Frames in flight per directed link; more are dropped, as a full socket queue would. Default 100,000. */
  readonly linkQueueMax?: number;
}

/** Decides the fate of a frame in flight: false drops it. */
export type FrameFilter = (from: NodeId, to: NodeId, frame: Uint8Array) => boolean;

interface InFlight {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly frame: Uint8Array;
}

/** Counters of what the network did, for tests and benchmarks. */
export interface MemoryNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  bytes: number;
}

/**
 * The network: `endpoint(id)` gives each replica its transport, and the other methods cut,
 * partition, heal, filter and inject, as a test needs.
 */
export class MemoryNetwork {
  readonly #endpoints = new Map<NodeId, MemoryTransport>();
  #nodes: readonly NodeId[] = [];
  /** Directed links that are cut, as `from\0to`. */
  readonly #cut = new Set<string>();
  readonly #inFlightPerLink = new Map<string, number>();
  readonly #latencyMs: number;
  readonly #clock: Clock | undefined;
  readonly #linkQueueMax: number;
  #filter: FrameFilter | null = null;
  #due: InFlight[] = [];
  #flushScheduled = false;
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, dropped: 0, bytes: 0 };

  constructor(options: MemoryNetworkOptions = {}) {
    this.#latencyMs = options.latencyMs ?? 0;
    this.#clock = options.clock;
    this.#linkQueueMax = options.linkQueueMax ?? 100_000;
    if (this.#latencyMs > 0 && this.#clock === undefined)
      throw new ArgumentError('a MemoryNetwork with latencyMs needs a clock');
  }

  /** The transport of `nodeId` on this network (created on first use). */
  endpoint(nodeId: NodeId): MemoryTransport {
    let endpoint = this.#endpoints.get(nodeId);
    if (endpoint === undefined) {
      endpoint = new MemoryTransport(this, nodeId);
      this.#endpoints.set(nodeId, endpoint);
      this.#nodes = Object.freeze([...this.#endpoints.keys()]);
    }
    return endpoint;
  }

  /** Every node id with an endpoint, in creation order. */
  get nodes(): readonly NodeId[] {
    return this.#nodes;
  }

  /** Cuts the links between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(linkKey(a, b));
    this.#cut.add(linkKey(b, a));
  }

  /** Splits the network: nodes in different groups cannot reach each other. */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    for (const [i, group] of groups.entries())
      for (const other of groups.slice(i + 1)) for (const a of group) for (const b of other) this.cut(a, b);
  }

  /** Cuts `nodeId` off from every other node. */
  isolate(nodeId: NodeId): void {
    for (const other of this.#endpoints.keys()) if (other !== nodeId) this.cut(nodeId, other);
  }

  /** Restores every link (the filter stays). */
  heal(): void {
    this.#cut.clear();
  }

  /** Installs a filter on every frame in flight (null removes it). */
  setFilter(filter: FrameFilter | null): void {
    this.#filter = filter;
  }

  /**
   * Delivers `frame` to `to` as if `from` had sent it, bypassing cuts and the filter: what an
   * authenticated but Byzantine peer can do.
   */
  inject(from: NodeId, to: NodeId, frame: Uint8Array): void {
    this.#enqueue({ from, to, frame });
  }

  /** @internal Called by endpoints. */
  route(from: NodeId, to: NodeId, frame: Uint8Array): void {
    this.stats.sent++;
    if (!this.#reachable(from, to) || (this.#filter !== null && !this.#filter(from, to, frame))) {
      this.stats.dropped++;
      return;
    }
    const key = linkKey(from, to);
    const inFlight = this.#inFlightPerLink.get(key) ?? 0;
    if (inFlight >= this.#linkQueueMax) {
      this.stats.dropped++;
      return;
    }
    this.#inFlightPerLink.set(key, inFlight + 1);
    this.#enqueue({ from, to, frame });
  }

  /** @internal Whether `to` is running and the link from `from` is not cut. */
  reachable(from: NodeId, to: NodeId): boolean {
    return this.#reachable(from, to);
  }

  #reachable(from: NodeId, to: NodeId): boolean {
    const endpoint = this.#endpoints.get(to);
    return endpoint?.running === true && !this.#cut.has(linkKey(from, to));
  }

  #enqueue(item: InFlight): void {
    if (this.#latencyMs > 0) {
      this.#clock!.setTimer(this.#latencyMs, () => this.#deliver(item));
      return;
    }
    this.#due.push(item);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const due = this.#due;
    this.#due = [];
    for (const item of due) this.#deliver(item);
  }

  #deliver(item: InFlight): void {
    const key = linkKey(item.from, item.to);
    const inFlight = this.#inFlightPerLink.get(key);
    if (inFlight !== undefined) {
      if (inFlight <= 1) this.#inFlightPerLink.delete(key);
      else this.#inFlightPerLink.set(key, inFlight - 1);
    }
    const endpoint = this.#endpoints.get(item.to);
    // A link cut while the frame was in flight loses it, as a broken connection would; an
    // injected frame (no in-flight count) only needs a running receiver.
    if (endpoint === undefined || !endpoint.running || (inFlight !== undefined && this.#cut.has(key))) {
      this.stats.dropped++;
      return;
    }
    this.stats.delivered++;
    this.stats.bytes += item.frame.length;
    endpoint.receive(item.from, item.frame);
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`;
}

/** One node's end of a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly nodeId: NodeId;
  readonly #network: MemoryNetwork;
  #handler: FrameHandler | null = null;
  #running = false;

  constructor(network: MemoryNetwork, nodeId: NodeId) {
    this.#network = network;
    this.nodeId = nodeId;
  }

  /** Whether the endpoint is started: it sends and receives only then. */
  get running(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
    this.#running = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (!this.#running || to === this.nodeId) return;
    this.#network.route(this.nodeId, to, frame);
  }

  broadcast(frame: Uint8Array): void {
    if (!this.#running) return;
    for (const peer of this.#network.nodes)
      if (peer !== this.nodeId) this.#network.route(this.nodeId, peer, frame);
  }

  onFrame(handler: FrameHandler): void {
    this.#handler = handler;
  }

  connectedPeers(): readonly NodeId[] {
    return this.#network.nodes.filter(
      (peer) => peer !== this.nodeId && this.#running && this.#network.reachable(this.nodeId, peer),
    );
  }

  /** @internal Called by the network. */
  receive(from: NodeId, frame: Uint8Array): void {
    if (this.#running) this.#handler?.(from, frame);
  }
}
