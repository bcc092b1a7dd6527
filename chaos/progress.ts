/**
 * Cluster-wide progress: the moments a sequence higher than any seen before was finalized at
 * any node, as the event streams and the status samples report it. A node catching up on
 * sequences the others finalized long ago is not progress.
 */
export class ProgressTracker {
  /** Run times (ms) at which the highest finalized sequence rose, in order. */
  readonly moments: number[] = [];
  #highest = 0;

  get highest(): number {
    return this.#highest;
  }

  observe(sequence: number, atMs: number): void {
    if (sequence <= this.#highest) return;
    this.#highest = sequence;
    this.moments.push(atMs);
  }
}
