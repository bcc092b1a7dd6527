/**
 * Time for the asynchronous shell, injected (as the MongoDB driver injects its timers) so that
 * tests run engines, stores and networks on a manual clock and never sleep. Production code
 * uses {@link systemClock}.
 */
import { ArgumentError } from '../errors.ts';

/** A scheduled callback that can be cancelled. */
export interface Timer {
  cancel(): void;
}

/** A monotonic clock with one-shot timers. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never goes backwards. */
  now(): number;
  /** Calls `callback` once, `delayMs` from now (at the earliest). */
  setTimer(delayMs: number, callback: () => void): Timer;
}

/** Real time: `performance.now()` and `setTimeout`. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimer(delayMs: number, callback: () => void): Timer {
    const handle = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(handle) };
  },
});

interface ManualTimer {
  readonly due: number;
  /** Breaks ties between timers due at the same time: earlier scheduled fires first. */
  readonly order: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when a test says so. Timers fire inside {@link ManualClock.advance},
 * in due-time order, each with `now()` set to its due time; a timer scheduled by a callback
 * fires in the same call if it falls due before the target time.
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const timer: ManualTimer = {
      due: this.#now + Math.max(0, delayMs),
      order: this.#order++,
      callback,
      cancelled: false,
    };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.filter((timer) => !timer.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new ArgumentError(`a clock advances by a non-negative amount, got ${ms}`);
    const target = this.#now + ms;
    for (;;) {
      const next = this.#takeNextDue(target);
      if (next === null) break;
      this.#now = next.due;
      next.callback();
    }
    this.#now = target;
  }

  #takeNextDue(target: number): ManualTimer | null {
    let best = -1;
    for (let i = 0; i < this.#timers.length; i++) {
      const timer = this.#timers[i]!;
      if (timer.cancelled || timer.due > target) continue;
      const current = best < 0 ? null : this.#timers[best]!;
      if (
        current === null ||
        timer.due < current.due ||
        (timer.due === current.due && timer.order < current.order)
      )
        best = i;
    }
    // Drop cancelled timers while we are here, so the list stays as small as the live set.
    const chosen = best < 0 ? null : this.#timers[best]!;
    this.#timers = this.#timers.filter((timer) => !timer.cancelled && timer !== chosen);
    return chosen;
  }
}
