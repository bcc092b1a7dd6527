/**
 * Batching of proposals before they reach the protocol core. Each `propose` input costs a step
 * and, on a backup, a REQUEST to the leader (a frame, and a step there), so proposals made
 * close together are handed over as one input: when the batch reaches its vertex count or
 * byte limit, when its first vertex has waited `maxDelayMs`, or at the end of the turn when the
 * engine says so (`atTurnEnd`: no sequence in flight, or this replica is a backup).
 *
 * Batching only behind sequences in flight: a vertex that arrives at an idle cluster has nothing
 * to share a round with, and waiting `maxDelayMs` would only add to its finality; one that
 * arrives at the leader while a round runs waits for that round (the engine calls `flush` once
 * the pipeline is idle again) or for `maxDelayMs`, whichever comes first. So a light load is not
 * turned into one sequence per vertex, whose signatures a small cluster cannot afford
 * (docs/benchmarks.md, 2026-12-04), and at most one sequence a round starts early. A backup's
 * batch goes at the end of its turn, round or not: the leader decides what shares a sequence,
 * and a backup that waited for the round too would add a round to every vertex sent through it.
 */
import { type Vertex, vertexPayloadBytes } from '../protocol/index.ts';
import type { Clock, Timer } from '../shell/clock.ts';

export interface BatcherOptions {
  readonly maxVertices: number;
  readonly maxBytes: number;
  /** 0: the batch goes at the end of the current turn (a microtask), whatever the clock says. */
  readonly maxDelayMs: number;
  readonly clock: Clock;
  /** Whether a batch opened now goes at the end of the turn rather than wait `maxDelayMs`. */
  readonly atTurnEnd: () => boolean;
  /** Receives each batch, in order; never called from inside `add`. */
  readonly flush: (vertices: readonly Vertex[]) => void;
}

export class ProposalBatcher {
  readonly #options: BatcherOptions;
  #vertices: Vertex[] = [];
  #bytes = 0;
  #timer: Timer | null = null;
  #microtaskQueued = false;
  /** The open batch goes at the end of the turn (it was opened while the pipeline was idle). */
  #closeAtTurnEnd = false;
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
    const bytes = vertexPayloadBytes(vertex);
    if (this.#vertices.length > 0 && this.#bytes + bytes > maxBytes) this.#cut();
    this.#vertices.push(vertex);
    this.#bytes += bytes;
    if (this.#vertices.length >= maxVertices || this.#bytes >= maxBytes) {
      this.#cut();
    } else if (this.#vertices.length === 1) {
      if (maxDelayMs === 0 || this.#options.atTurnEnd()) {
        this.#closeAtTurnEnd = true;
        this.#queueMicrotask();
      } else this.#timer = clock.setTimer(maxDelayMs, () => this.flush());
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
    this.#closeAtTurnEnd = false;
    return held;
  }

  /** Closes the current batch; it goes at the end of the turn, so `add` never re-enters the engine. */
  #cut(): void {
    this.#close();
    this.#queueMicrotask();
  }

  #close(): void {
    this.#cancelTimer();
    this.#closeAtTurnEnd = false;
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
    // With no delay, or opened at an idle pipeline, the open batch goes too: "end of the turn"
    // is its deadline.
    if (this.#closeAtTurnEnd && this.#vertices.length > 0) this.#close();
    const ready = this.#ready;
    this.#ready = [];
    for (const batch of ready) this.#options.flush(batch);
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}
