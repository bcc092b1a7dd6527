/**
 * The vertices finalized in the last `dedupHorizonSequences` sequences, by hash: with each
 * vertex's validity bound (`isDeliverableAt` in `types.ts`), what makes a vertex final at most
 * once with bounded memory.
 *
 * The argument. A vertex V first delivered at s1 satisfied V.validThrough < s1 + horizon. It
 * could only be delivered again at some s2 > s1 with s2 <= V.validThrough, so s2 - s1 <
 * horizon: s1 is among the last `horizon` sequences before s2, and V is still here. Once s1
 * leaves the horizon, V has expired and the validity check refuses it by itself. Every replica
 * derives this set from the same finalized history, so all decide alike.
 *
 * The set holds at most horizon x batchCountMax hashes, and in practice the vertices finalized
 * in the last `horizon` sequences.
 */
import { Fifo } from '../shell/fifo.ts';

export class DeliveredSet {
  readonly #horizon: number;
  readonly #sequenceOf = new Map<string, number>();
  /** The keys delivered at each remembered sequence, oldest first. */
  readonly #bySequence = new Fifo<{ readonly sequence: number; readonly keys: readonly string[] }>();

  /** @param horizon - sequences remembered (the replica's `dedupHorizonSequences`). */
  constructor(horizon: number) {
    this.#horizon = horizon;
  }

  /** Vertices remembered now. */
  get size(): number {
    return this.#sequenceOf.size;
  }

  has(key: string): boolean {
    return this.#sequenceOf.has(key);
  }

  /** The sequence at which the vertex `key` was delivered, if within the horizon. */
  sequenceOf(key: string): number | undefined {
    return this.#sequenceOf.get(key);
  }

  /**
   * Records the vertices delivered at `sequence` (higher than any recorded before), then forgets
   * the sequences that left the horizon.
   */
  record(sequence: number, keys: readonly string[]): void {
    for (const key of keys) this.#sequenceOf.set(key, sequence);
    this.#bySequence.push({ sequence, keys });
    for (;;) {
      const oldest = this.#bySequence.peek();
      if (oldest === undefined || oldest.sequence > sequence - this.#horizon) break;
      this.#bySequence.shift();
      for (const key of oldest.keys)
        if (this.#sequenceOf.get(key) === oldest.sequence) this.#sequenceOf.delete(key);
    }
  }
}
