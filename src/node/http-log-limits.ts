/**
 * Log lines for events that HTTP clients cause and can repeat at will (an aborted body, a
 * refused connection, a malformed request): at most one line per event name per interval. A
 * line with `suppressed: n` stands for the n occurrences since the previous line of its event
 * (its other fields are the latest one's). A flood costs a few lines a minute instead of one per
 * request, so an attacker cannot fill the disk through the log; the exact counts are in
 * Prometheus.
 *
 * Kept small on purpose: a general rate-limited logger (`src/node/log-limiter.ts`) is being
 * written on another branch, and this one should be easy to swap for it.
 */
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';
import type { LogLevel } from './config.ts';
import type { Logger } from './log.ts';

/** How often one event may be logged; chosen so that a flood costs six lines a minute per event. */
export const HTTP_LOG_INTERVAL_MS = 10_000;

interface EventState {
  /** When the latest line of this event was written. */
  lastLineAt: number;
  /** Occurrences since then that were not written. */
  suppressed: number;
  /** The latest suppressed occurrence, written (with the count) when the interval ends. */
  latest: { readonly level: LogLevel; readonly fields: Record<string, unknown> } | null;
  summary: Timer | null;
}

/**
 * A logger that writes each event at most once per `intervalMs`. The first occurrence is
 * written at once; later ones within the interval are counted, and when the interval ends one
 * line (the latest occurrence's fields plus `suppressed`) reports them, which starts the next
 * interval. Event names are the code's own constants, so the per-event state stays small.
 */
export class RateLimitedLog {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #events = new Map<string, EventState>();
  #closed = false;

  constructor(options: { readonly logger: Logger; readonly intervalMs?: number; readonly clock?: Clock }) {
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs ?? HTTP_LOG_INTERVAL_MS;
    this.#clock = options.clock ?? systemClock;
    if (!(this.#intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${this.#intervalMs}`);
  }

  /** Logs `event`, or counts it if the event was logged less than an interval ago. */
  log(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
    const now = this.#clock.now();
    const state = this.#events.get(event);
    if (state === undefined) {
      this.#events.set(event, { lastLineAt: now, suppressed: 0, latest: null, summary: null });
      this.#write(level, event, fields, 0);
      return;
    }
    if (now - state.lastLineAt >= this.#intervalMs && state.suppressed === 0) {
      state.lastLineAt = now;
      this.#write(level, event, fields, 0);
      return;
    }
    state.suppressed++;
    state.latest = { level, fields };
    if (state.summary === null && !this.#closed) {
      const due = Math.max(0, state.lastLineAt + this.#intervalMs - now);
      state.summary = this.#clock.setTimer(due, () => this.#summarize(event, state));
    }
  }

  /** Writes what is still suppressed and stops the timers (the node is stopping). */
  close(): void {
    this.#closed = true;
    for (const [event, state] of this.#events) {
      state.summary?.cancel();
      this.#summarize(event, state);
    }
  }

  #summarize(event: string, state: EventState): void {
    state.summary = null;
    if (state.suppressed === 0 || state.latest === null) return;
    this.#write(state.latest.level, event, state.latest.fields, state.suppressed);
    state.lastLineAt = this.#clock.now();
    state.suppressed = 0;
    state.latest = null;
  }

  #write(level: LogLevel, event: string, fields: Record<string, unknown>, suppressed: number): void {
    this.#logger[level](event, suppressed === 0 ? fields : { ...fields, suppressed });
  }
}
