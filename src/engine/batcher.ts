/**
 * Batching of proposals before they reach the protocol core. Each `propose` input costs a step,
 * a durable write and, on a backup, a REQUEST to the leader (a frame, and a step there), so
 * proposals made close together are handed over as one input.
 *
 * Adaptive, as in BFT-SMaRt and etcd: while the pipeline has room a batch goes at the end of the
 * current turn, so a lone vertex waits for nothing; while every sequence of the pipeline is in
 * flight nothing handed over could be ordered before one of them is final, so the batch keeps
 * filling until the engine reports room (`roomAvailable`), its vertex count or byte limit is
 * reached, or its first vertex has waited `maxDelayMs`.
 */
import { batchPayloadBytes, type Vertex } from '../protocol/index.ts';
import type { Clock, Timer } from '../shell/clock.ts';

export interface BatcherOptions {
  readonly maxVertices: number;
  readonly maxBytes: number;
  /**
   * The longest the first vertex of a batch waits while the pipeline is full. 0: the batch goes
   * at the end of the current turn (a microtask) whatever the pipeline holds.
   */
  readonly maxDelayMs: number;
  /** Whether the pipeline has a free sequence now. */
  readonly hasRoom: () => boolean;
  readonly clock: Clock;
  /** Receives each batch, in order; never called from inside `add`. */
  readonly flush: (vertices: readonly Vertex[]) => void;
}

export class ProposalBatcher {
  readonly #options: BatcherOptions;
  #vertices: Vertex[] = [];
  #bytes = 0;
  #timer: Timer | null = null;
  #microtaskQueued = false;
  /** The open batch goes at the end of this turn (not only the full ones). */
  #endOfTurn = false;
  /** Full batches waiting for the end of the turn. */
  #ready: Vertex[][] = [];

  constructor(options: BatcherOptions) {
    this.#options = options;
  }

  /** Vertices held, not yet handed over. */
  get size(): number {
    let size = this.#vertices.length;
    for (const batch of this.#ready) size += batch.length;
    return size;
  }

  /** Adds a vertex that fits in a batch on its own (the caller checks). */
  add(vertex: Vertex): void {
    const { maxVertices, maxBytes, maxDelayMs, hasRoom, clock } = this.#options;
    const bytes = batchPayloadBytes([vertex]);
    if (this.#vertices.length > 0 && this.#bytes + bytes > maxBytes) this.#cut();
    this.#vertices.push(vertex);
    this.#bytes += bytes;
    if (this.#vertices.length >= maxVertices || this.#bytes >= maxBytes) {
      this.#cut();
    } else if (this.#vertices.length === 1) {
      if (maxDelayMs === 0 || hasRoom()) this.#endOfTurn = true;
      else this.#timer = clock.setTimer(maxDelayMs, () => this.flush());
      if (this.#endOfTurn) this.#queueMicrotask();
    }
  }

  /**
   * The pipeline has a free sequence again: what is held goes at the end of the turn, together
   * with whatever else arrives in it.
   */
  roomAvailable(): void {
    if (this.#vertices.length === 0 && this.#ready.length === 0) return;
    this.#cancelTimer();
    this.#endOfTurn = true;
    this.#queueMicrotask();
  }

  /** Hands over everything held now. */
  flush(): void {
    if (this.#vertices.length > 0) this.#close();
    const ready = this.#ready;
    this.#ready = [];
    for (const batch of ready) this.#options.flush(batch);
  }

  /** Drops everything held, returning it (the engine is stopping or halted). */
  clear(): Vertex[] {
    this.#cancelTimer();
    this.#endOfTurn = false;
    const held = [...this.#ready.flat(), ...this.#vertices];
    this.#ready = [];
    this.#vertices = [];
    this.#bytes = 0;
    return held;
  }

  /** Closes the current batch; it goes at the end of the turn, so `add` never re-enters the engine. */
  #cut(): void {
    this.#close();
    this.#queueMicrotask();
  }

  #close(): void {
    this.#cancelTimer();
    this.#endOfTurn = false;
    this.#ready.push(this.#vertices);
    this.#vertices = [];
    this.#bytes = 0;
  }

  #queueMicrotask(): void {
    if (this.#microtaskQueued) return;
    this.#microtaskQueued = true;
    queueMicrotask(() => {
      this.#microtaskQueued = false;
      this.#handOverReady();
    });
  }

  #handOverReady(): void {
    // The open batch goes too when "end of the turn" is its deadline.
    if (this.#endOfTurn && this.#vertices.length > 0) this.#close();
    this.#endOfTurn = false;
    const ready = this.#ready;
    this.#ready = [];
    for (const batch of ready) this.#options.flush(batch);
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}
