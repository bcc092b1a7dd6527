/**
 * The simulator's agenda: events ordered by virtual time, ties broken by insertion order so
 * that a run is a pure function of its seed.
 */
interface Scheduled {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
}

export class EventQueue {
  #heap: Scheduled[] = [];
  #order = 0;
  /** The current virtual time in milliseconds. */
  now = 0;

  get size(): number {
    return this.#heap.length;
  }

  /** Runs `run` after `delayMs` of virtual time (0 means: after the events already due now). */
  schedule(delayMs: number, run: () => void): void {
    this.#push({ at: this.now + Math.max(0, delayMs), order: this.#order++, run });
  }

  /** Runs the next event; returns false when none is left or the next is after `untilMs`. */
  runNext(untilMs: number): boolean {
    const top = this.#heap[0];
    if (top === undefined || top.at > untilMs) return false;
    this.#pop();
    this.now = top.at;
    top.run();
    return true;
  }

  #less(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  #push(item: Scheduled): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}
