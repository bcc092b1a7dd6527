/**
 * What drives a run: one event of the queue at a time, each followed by the microtasks it
 * started. The engine is promise-based, and every promise it waits on is settled by an event
 * of the queue (a sync completing, a signature finishing, a frame arriving, a timer firing).
 * After each event the loop lets the microtask queue run until the promise chains that event
 * started have finished, before the next event: what an event causes happens at its virtual
 * time, in an order that depends on nothing but the seed. Nothing in a run touches real
 * timers, `setImmediate` or I/O.
 */
import type { EventQueue } from './event-queue.ts';

/**
 * Microtask turns the run lets pass after each event: deeper than any promise chain one event
 * starts in the engine (a test checks that runs are the same with far deeper settling).
 */
export const SETTLE_TURNS = 8;

/** Lets the promise chains the last event started run to their end. */
async function settle(turns: number): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await undefined;
}

export class RunLoop {
  /** Events run (each followed by the microtasks it started). */
  events = 0;
  readonly #queue: EventQueue;
  readonly #settleTurns: number;
  /** Called after each event, once its microtasks have run. */
  readonly #afterEvent: () => void;

  constructor(queue: EventQueue, settleTurns: number, afterEvent: () => void) {
    this.#queue = queue;
    this.#settleTurns = settleTurns;
    this.#afterEvent = afterEvent;
  }

  /** Runs the next event due by `until` and its microtasks; false when there is none. */
  async step(until: number): Promise<boolean> {
    if (!this.#queue.runNext(until)) return false;
    this.events++;
    await settle(this.#settleTurns);
    this.#afterEvent();
    return true;
  }

  /**
   * Runs until `allFinal` holds (looked at every 64 events, and once more at the end), a
   * violation shows, or nothing is left by `deadline`. Returns when everything was final, or
   * null if it never was or safety broke.
   */
  async runUntilFinal(
    deadline: number,
    allFinal: () => boolean,
    violated: () => boolean,
  ): Promise<number | null> {
    while (await this.step(deadline)) {
      if ((this.events & 63) === 0 && allFinal()) return this.#queue.now;
      // A run that broke safety has shown what it can; stop at the first violation.
      if (violated()) break;
    }
    return !violated() && allFinal() ? this.#queue.now : null;
  }
}
