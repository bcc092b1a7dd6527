/**
 * A TCP proxy in front of one node's consensus port, run in the harness's process, so that the
 * harness can delay and cut the consensus links without root or kernel support (this kernel
 * has no sch_netem, so `tc qdisc ... netem` is not available).
 *
 * The cluster file lists each node at its proxy's port while the node listens on its real port
 * (its `listen` is unchanged), so every connection a peer dials to node i passes through proxy
 * i. The transport keeps one connection per pair of nodes, dialed by either end, so every
 * consensus link crosses exactly one proxy, in both directions.
 *
 * Faults:
 * - delay: every chunk, in either direction, is held `base + U[0, jitter]` ms, and never
 *   released before the chunk ahead of it (a TCP stream must stay in order).
 * - loss: each connection is reset (RST on both sides, whatever the proxy holds discarded) after
 *   an exponentially distributed time at a mean rate per second. Loss is done this way rather
 *   than with nftables dropping packets: on loopback, TCP turns dropped packets into
 *   retransmissions, that is into delay, which the delay fault already covers; a reset loses
 *   the frames in flight for good, which is the message loss PBFT must recover from. It also
 *   needs no root and leaves nothing behind: a firewall rule outlives a harness killed with
 *   SIGKILL and would drop the traffic of other clusters on this shared machine. Dropping bytes
 *   inside a stream is not an option either: frames are sealed, so a hole in the stream only
 *   makes the receiver close the connection, which a reset does more plainly.
 *
 * Time comes from an injected {@link Clock}, randomness from a seeded {@link Prng}, so the unit
 * tests drive it on a manual clock.
 */
import net from 'node:net';
import type { Clock, Timer } from '../src/shell/clock.ts';
import type { Prng } from '../src/sim/prng.ts';

/** Bytes one direction of a connection may hold while delayed, beyond which it is reset. */
const DELAYED_BYTES_MAX = 64 << 20;

/** What a proxy did, since it started. */
export interface ProxyStats {
  connections: number;
  /** Connections reset by the loss fault. */
  resets: number;
  /** Connections reset because a delayed direction held more than {@link DELAYED_BYTES_MAX}. */
  overflows: number;
  chunksDelayed: number;
  bytes: number;
}

/** Options of {@link LinkProxy}. */
export interface LinkProxyOptions {
  readonly host: string;
  /** The port the proxy listens on (0: the OS chooses). */
  readonly port: number;
  readonly targetHost: string;
  readonly targetPort: number;
  readonly clock: Clock;
  readonly prng: Prng;
}

interface Delayed {
  readonly chunk: Buffer;
  readonly dueMs: number;
}

/** One direction of a proxied connection: from one socket to the other, perhaps delayed. */
class Direction {
  readonly #from: net.Socket;
  readonly #to: net.Socket;
  readonly #link: Link;
  readonly #queue: Delayed[] = [];
  #head = 0;
  #queuedBytes = 0;
  #lastDueMs = 0;
  #timer: Timer | null = null;
  #waitingForDrain = false;

  constructor(from: net.Socket, to: net.Socket, link: Link) {
    this.#from = from;
    this.#to = to;
    this.#link = link;
    from.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    const proxy = this.#link.proxy;
    proxy.stats.bytes += chunk.length;
    const now = proxy.clock.now();
    const dueMs = Math.max(now + proxy.chunkDelayMs(), this.#lastDueMs);
    this.#lastDueMs = dueMs;
    if (this.#head === this.#queue.length && dueMs <= now) {
      this.#write(chunk);
      return;
    }
    proxy.stats.chunksDelayed++;
    this.#queue.push({ chunk, dueMs });
    this.#queuedBytes += chunk.length;
    if (this.#queuedBytes > DELAYED_BYTES_MAX) {
      proxy.stats.overflows++;
      this.#link.reset();
      return;
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== null || this.#head === this.#queue.length) return;
    const clock = this.#link.proxy.clock;
    const next = this.#queue[this.#head]!;
    this.#timer = clock.setTimer(Math.max(0, next.dueMs - clock.now()), () => {
      this.#timer = null;
      this.#release();
    });
  }

  #release(): void {
    const now = this.#link.proxy.clock.now();
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.dueMs <= now) {
      const { chunk } = this.#queue[this.#head]!;
      this.#head++;
      this.#queuedBytes -= chunk.length;
      this.#write(chunk);
    }
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    this.#schedule();
  }

  /** Writes on; when the far side pushes back, stops reading the near side until it drains. */
  #write(chunk: Buffer): void {
    if (this.#to.destroyed) return;
    if (this.#to.write(chunk) || this.#waitingForDrain) return;
    this.#waitingForDrain = true;
    this.#from.pause();
    this.#to.once('drain', () => {
      this.#waitingForDrain = false;
      this.#from.resume();
    });
  }

  close(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#queue.length = 0;
    this.#head = 0;
    this.#queuedBytes = 0;
  }
}

/** One proxied connection: the dialer's socket and the socket to the node. */
class Link {
  readonly proxy: LinkProxy;
  readonly #client: net.Socket;
  readonly #upstream: net.Socket;
  readonly #directions: Direction[];
  #lossTimer: Timer | null = null;
  #closed = false;

  constructor(proxy: LinkProxy, client: net.Socket, upstream: net.Socket) {
    this.proxy = proxy;
    this.#client = client;
    this.#upstream = upstream;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.#directions = [new Direction(client, upstream, this), new Direction(upstream, client, this)];
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.close());
      socket.on('close', () => this.close());
    }
  }

  /** Starts (or stops, with rate 0) resetting this connection at `resetsPerSecond`. */
  armLoss(resetsPerSecond: number): void {
    this.#lossTimer?.cancel();
    this.#lossTimer = null;
    if (this.#closed || resetsPerSecond <= 0) return;
    // Exponential waiting time: resets form a Poisson process at the given rate.
    const waitMs = (-Math.log(1 - this.proxy.prng.float()) / resetsPerSecond) * 1000;
    this.#lossTimer = this.proxy.clock.setTimer(waitMs, () => {
      this.#lossTimer = null;
      this.proxy.stats.resets++;
      this.reset();
    });
  }

  /** Resets both sockets (RST), dropping whatever either side or the proxy still holds. */
  reset(): void {
    if (this.#closed) return;
    for (const socket of [this.#client, this.#upstream]) {
      if (socket.destroyed) continue;
      // A socket still connecting has no connection to reset; destroy it plainly.
      if (socket.connecting) socket.destroy();
      else socket.resetAndDestroy();
    }
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lossTimer?.cancel();
    this.#lossTimer = null;
    for (const direction of this.#directions) direction.close();
    this.#client.destroy();
    this.#upstream.destroy();
    this.proxy.forget(this);
  }
}

/** A proxy in front of one node's consensus port; see the module comment. */
export class LinkProxy {
  readonly clock: Clock;
  readonly prng: Prng;
  readonly stats: ProxyStats = { connections: 0, resets: 0, overflows: 0, chunksDelayed: 0, bytes: 0 };
  readonly #options: LinkProxyOptions;
  readonly #links = new Set<Link>();
  #server: net.Server | null = null;
  #baseDelayMs = 0;
  #jitterMs = 0;
  #resetsPerSecond = 0;
  #port = 0;

  constructor(options: LinkProxyOptions) {
    this.#options = options;
    this.clock = options.clock;
    this.prng = options.prng;
  }

  /** The port it listens on, once listening. */
  get port(): number {
    return this.#port;
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.#links.size;
  }

  listen(): Promise<number> {
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
      this.stats.connections++;
      const upstream = net.connect({
        host: this.#options.targetHost,
        port: this.#options.targetPort,
        noDelay: true,
      });
      const link = new Link(this, client, upstream);
      this.#links.add(link);
      link.armLoss(this.#resetsPerSecond);
      client.resume();
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        this.#port = (server.address() as net.AddressInfo).port;
        resolve(this.#port);
      });
    });
  }

  /** Delays every chunk from now on by `baseMs` plus up to `jitterMs`; (0, 0) ends the delay. */
  setDelay(baseMs: number, jitterMs: number): void {
    this.#baseDelayMs = baseMs;
    this.#jitterMs = jitterMs;
  }

  /** Resets connections at `resetsPerSecond` each from now on (open ones and new ones); 0 ends it. */
  setLoss(resetsPerSecond: number): void {
    this.#resetsPerSecond = resetsPerSecond;
    for (const link of this.#links) link.armLoss(resetsPerSecond);
  }

  /** The delay for the next chunk. */
  chunkDelayMs(): number {
    if (this.#baseDelayMs === 0 && this.#jitterMs === 0) return 0;
    return this.#baseDelayMs + (this.#jitterMs > 0 ? this.prng.int(this.#jitterMs + 1) : 0);
  }

  forget(link: Link): void {
    this.#links.delete(link);
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const link of [...this.#links]) link.close();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
