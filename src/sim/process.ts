/**
 * One run of a simulated replica's process, from start to crash (or halt). Everything the
 * process set in motion (timers, signature checks, disk syncs, frames addressed to it) is an
 * event on the run's queue scheduled through here, and does nothing once the process is dead:
 * a crash loses whatever was in flight, as a killed process does.
 */
import type { EventQueue } from './event-queue.ts';

export class SimProcess {
  readonly replica: number;
  /** Counts the replica's processes: 0 for the first, 1 after the first restart, ... */
  readonly incarnation: number;
  readonly #queue: EventQueue;
  readonly #touched: (process: SimProcess) => void;
  #alive = true;

  /**
   * @param touched - told each time an event of this process runs, so that the run checks the
   *   process's engine after the event.
   */
  constructor(
    replica: number,
    incarnation: number,
    queue: EventQueue,
    touched: (process: SimProcess) => void,
  ) {
    this.replica = replica;
    this.incarnation = incarnation;
    this.#queue = queue;
    this.#touched = touched;
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** The run's virtual time in milliseconds. */
  get now(): number {
    return this.#queue.now;
  }

  /** Runs `run` after `delayMs` of virtual time, unless the process has died by then. */
  schedule(delayMs: number, run: () => void): void {
    this.#queue.schedule(delayMs, () => {
      if (!this.#alive) return;
      this.#touched(this);
      run();
    });
  }

  /** Runs `run` now, as an event of this process, unless it is dead. */
  enter(run: () => void): void {
    if (!this.#alive) return;
    this.#touched(this);
    run();
  }

  /** The process is gone: nothing it scheduled runs any more. */
  kill(): void {
    this.#alive = false;
  }
}
