/**
 * Batching of proposals before they reach the protocol core. Each `propose` input costs a step
 * and, on a backup, a REQUEST to the leader (a frame, and a step there), so proposals made
 * close together are handed over as one input: when the batch reaches its vertex count or
 * byte limit, or when its first vertex has waited `maxDelayMs`.
 */
import { batchPayloadBytes, type Vertex } from '../protocol/index.ts';
import type { Clock, Timer } from '../shell/clock.ts';

export interface BatcherOptions {
  readonly maxVertices: number;
  readonly maxBytes: number;
  /** 0: the batch goes at the end of the current turn (a microtask), whatever the clock says. */
  readonly maxDelayMs: number;
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
    const { maxVertices, maxBytes, maxDelayMs, clock } = this.#options;
    const bytes = batchPayloadBytes([vertex]);
    if (this.#vertices.length > 0 && this.#bytes + bytes > maxBytes) this.#cut();
    this.#vertices.push(vertex);
    this.#bytes += bytes;
    if (this.#vertices.length >= maxVertices || this.#bytes >= maxBytes) {
      this.#cut();
    } else if (this.#vertices.length === 1) {
      if (maxDelayMs === 0) this.#queueMicrotask();
      else this.#timer = clock.setTimer(maxDelayMs, () => this.flush());
    }
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
    // With no delay, the open batch goes too: "end of the turn" is its deadline.
    if (this.#options.maxDelayMs === 0 && this.#vertices.length > 0) this.#close();
    const ready = this.#ready;
    this.#ready = [];
    for (const batch of ready) this.#options.flush(batch);
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}
