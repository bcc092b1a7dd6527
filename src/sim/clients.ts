/**
 * The run's clients. Each of `vertexCount` payloads (an intent) is submitted once, at a random
 * time in the fault phase, as a vertex built then (valid for half the horizon past the latest
 * sequence an honest replica finalized), to a random replica through `engine.accept`. A client
 * trusts an honest replica's acknowledgment for good, whatever happens to that replica later,
 * its disk wiped included: acknowledged means f + 1 replicas hold the vertex durably, so the
 * cluster must get it final (the run's liveness check fails otherwise). Until then it offers
 * the vertex again to every replica that does not hold it, every `retryMs`, as a PBFT client
 * retransmits to all. A
 * vertex whose validThrough becomes final without it has expired: its payload is submitted
 * again as a new vertex, which the validity rule makes safe.
 */
import { toHex } from '../crypto/digest.ts';
import type { ProposalResult } from '../engine/index.ts';
import { createVertex, type Delivery, type Vertex } from '../protocol/index.ts';
import type { EventQueue } from './event-queue.ts';
import type { SimNode } from './node.ts';
import type { Prng } from './prng.ts';

/** A `propose` (here: `accept`) that resolved at an honest replica: where it says the vertex is. */
export interface Resolution {
  readonly replica: number;
  readonly key: string;
  readonly sequence: number;
  readonly position: number;
}

export interface ClientOptions {
  readonly queue: EventQueue;
  readonly prng: Prng;
  readonly nodes: readonly SimNode[];
  readonly seed: number;
  readonly vertexCount: number;
  readonly faultPhaseMs: number;
  /** The replicas' dedupHorizonSequences. */
  readonly horizon: number;
  readonly retryMs: number;
}

export class Clients {
  /** Every client vertex ever submitted, by hash (hex). */
  readonly proposed = new Set<string>();
  /** Client vertices no honest replica has finalized yet. */
  readonly unfinalized = new Map<string, Vertex>();
  /** `accept` results at honest replicas, checked against every honest replica's stream. */
  readonly resolutions: Resolution[] = [];
  /** Intents submitted so far (each once; resubmissions after expiry are not counted). */
  intentsSubmitted = 0;
  /** Vertices that expired unfinalized and were submitted again as new vertices. */
  expired = 0;
  /** Rejections by code, for the statistics. */
  readonly rejections: Record<string, number> = {};
  /** The highest sequence an honest replica finalized. */
  #highestFinalized = 0;
  readonly #options: ClientOptions;
  /** Client vertices not final yet, by validThrough. */
  readonly #byValidThrough = new Map<number, Vertex[]>();
  /** Per vertex, the replicas holding a live offer of it, with the epoch of the process that has it. */
  readonly #offers = new Map<string, Map<number, number>>();
  /** Client vertices an honest replica acknowledged: never offered again. */
  readonly #acknowledged = new Set<string>();

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  /** Schedules the submissions and the retries. */
  start(): void {
    const { queue, prng, seed, vertexCount, faultPhaseMs, retryMs } = this.#options;
    for (let i = 0; i < vertexCount; i++) {
      const payload = new TextEncoder().encode(`seed ${seed} vertex ${i} ${'x'.repeat(prng.int(64))}`);
      queue.schedule(prng.int(faultPhaseMs), () => {
        this.intentsSubmitted++;
        this.#submit(payload);
      });
    }
    const retry = (): void => {
      this.#retry();
      queue.schedule(retryMs, retry);
    };
    queue.schedule(retryMs, retry);
  }

  /**
   * An honest replica finalized `delivery`: its client vertices are final, and every client
   * vertex valid through a sequence up to it and not final by now never will be.
   */
  finalized(delivery: Delivery): void {
    for (const key of delivery.keys) this.#settle(key);
    if (delivery.sequence <= this.#highestFinalized) return;
    for (let sequence = this.#highestFinalized + 1; sequence <= delivery.sequence; sequence++) {
      for (const vertex of this.#byValidThrough.get(sequence) ?? []) {
        const key = toHex(vertex.hash);
        if (!this.unfinalized.has(key)) continue;
        this.#settle(key);
        this.expired++;
        this.#submit(vertex.payload);
      }
      this.#byValidThrough.delete(sequence);
    }
    this.#highestFinalized = delivery.sequence;
  }

  #settle(key: string): void {
    this.unfinalized.delete(key);
    this.#offers.delete(key);
    this.#acknowledged.delete(key);
  }

  #submit(payload: Uint8Array): void {
    const { horizon, prng, nodes } = this.#options;
    // Half the horizon: the replica it goes to may lag behind the most advanced one.
    const vertex = createVertex(payload, { validThrough: this.#highestFinalized + Math.floor(horizon / 2) });
    const key = toHex(vertex.hash);
    this.proposed.add(key);
    this.unfinalized.set(key, vertex);
    const expiring = this.#byValidThrough.get(vertex.validThrough);
    if (expiring === undefined) this.#byValidThrough.set(vertex.validThrough, [vertex]);
    else expiring.push(vertex);
    this.#offer(vertex, key, prng.int(nodes.length));
  }

  #retry(): void {
    const nodes = this.#options.nodes;
    for (const [key, vertex] of this.unfinalized) {
      if (this.#acknowledged.has(key)) continue;
      const offers = this.#offers.get(key);
      for (const node of nodes) if (offers?.get(node.id) !== node.epoch) this.#offer(vertex, key, node.id);
    }
  }

  #offer(vertex: Vertex, key: string, replica: number): void {
    const node = this.#options.nodes[replica]!;
    const accepted = node.accept(vertex);
    if (accepted === null) return;
    let offers = this.#offers.get(key);
    if (offers === undefined) {
      offers = new Map();
      this.#offers.set(key, offers);
    }
    const epoch = node.epoch;
    offers.set(replica, epoch);
    const withdrawn = (error: unknown): void => {
      const code = (error as { code?: string }).code ?? 'error';
      this.rejections[code] = (this.rejections[code] ?? 0) + 1;
      if (this.#offers.get(key)?.get(replica) === epoch) this.#offers.get(key)!.delete(replica);
    };
    accepted.then(({ final }) => {
      if (node.honest && this.unfinalized.has(key)) this.#acknowledged.add(key);
      final.then((result: ProposalResult) => {
        if (node.honest)
          this.resolutions.push({ replica, key, sequence: result.sequence, position: result.position });
      }, withdrawn);
    }, withdrawn);
  }
}
