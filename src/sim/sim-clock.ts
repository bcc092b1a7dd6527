/**
 * A replica's clock: virtual time seen through a drift rate, so that replicas disagree on how
 * long a timeout lasts as real machines do. Its timers are events of the replica's process and
 * die with it; a restarted process gets a new clock that starts again near zero, as
 * `performance.now()` does.
 */

import { ArgumentError } from '../errors.ts';
import type { Clock, Timer } from '../shell/clock.ts';
import type { SimProcess } from './process.ts';

export class SimClock implements Clock {
  readonly #process: SimProcess;
  /** Local milliseconds per virtual millisecond. */
  readonly #rate: number;
  readonly #startedAt: number;

  constructor(process: SimProcess, rate: number) {
    if (!(rate > 0)) throw new ArgumentError(`a clock rate must be positive, got ${rate}`);
    this.#process = process;
    this.#rate = rate;
    this.#startedAt = process.now;
  }

  now(): number {
    return (this.#process.now - this.#startedAt) * this.#rate;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    let cancelled = false;
    this.#process.schedule(Math.max(0, delayMs) / this.#rate, () => {
      if (!cancelled) callback();
    });
    return {
      cancel: () => {
        cancelled = true;
      },
    };
  }
}
