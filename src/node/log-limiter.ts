/**
 * Rate-limited logs for events that anyone who can reach a port can cause at will, such as a
 * refused handshake: logged one line per event, a flood of connections fills the disk and
 * buries the lines an operator needs (48,723 `handshake-refused` lines in one run).
 *
 * Per event name, the first occurrence opens an interval and is logged in full; the rest of
 * the interval is only counted. When the interval ends, if anything was held back, one summary
 * line (`<event>-summary`) gives the counts: in all, by code, and for the remote addresses that
 * caused the most. A quiet interval logs nothing more than its first line. Under a sustained
 * flood a limited event so costs two lines per interval, whatever the rate.
 *
 * Memory is bounded: per event, at most `addressesTrackedMax` distinct addresses and
 * `codesMax` distinct codes are counted one by one in an interval; events beyond them are
 * still counted, in `addressesOther` and under the code `other`. Event names are the caller's
 * constants, never input, so they need no bound.
 *
 * Time comes from an injected {@link Clock}, so tests drive intervals with a `ManualClock`.
 */
import { integerField } from '../protocol/errors.ts';
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';

/** Options of {@link LogLimiter}. */
export interface LogLimiterOptions {
  /** One full line per event name per interval of this length. Default 10,000 ms. */
  readonly intervalMs?: number;
  /** Distinct remote addresses counted one by one per event and interval. Default 1,024. */
  readonly addressesTrackedMax?: number;
  /** The most frequent addresses a summary names. Default 5. */
  readonly summaryAddressesMax?: number;
  /** Distinct codes counted one by one per event and interval. Default 64. */
  readonly codesMax?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/** Where lines go: one of a `Logger`'s methods, for the level the events deserve. */
export type LimitedLogSink = (event: string, fields: Record<string, unknown>) => void;

/** What a summary counts an occurrence under. */
export interface Occurrence {
  /** The kind of occurrence (a refusal code), counted in `byCode`. */
  readonly code: string;
  /** The remote address it came from, if known; counted in `addresses`. */
  readonly address: string | undefined;
}

/** The summary line's fields (the event is `<event>-summary`). */
export interface LogSummary {
  /** How long the interval ran, in milliseconds (shorter than configured when flushed early). */
  readonly intervalMs: number;
  /** Occurrences in the interval, the one logged in full included. */
  readonly count: number;
  /** Occurrences not logged on a line of their own: `count - 1`. */
  readonly suppressed: number;
  /** Occurrences by code; sums to `count`. Codes beyond `codesMax` are counted as `other`. */
  readonly byCode: Readonly<Record<string, number>>;
  /** The addresses with the most occurrences, most first, at most `summaryAddressesMax`. */
  readonly addresses: Readonly<Record<string, number>>;
  /**
   * Occurrences from every other address (beyond the most frequent, or past the tracking cap):
   * `count` is the sum of `addresses` and this.
   */
  readonly addressesOther: number;
}

/** The code and address counted for occurrences beyond the caps. */
const OTHER = 'other';
/** An occurrence without a remote address. */
const UNKNOWN_ADDRESS = 'unknown';

interface Interval {
  readonly startedAtMs: number;
  readonly timer: Timer;
  count: number;
  readonly byCode: Map<string, number>;
  readonly byAddress: Map<string, number>;
  /** Occurrences from addresses that found `byAddress` full. */
  addressesUntracked: number;
}

/** Logs at most one line per event name per interval, and a summary of what it held back. */
export class LogLimiter {
  readonly intervalMs: number;
  readonly addressesTrackedMax: number;
  readonly summaryAddressesMax: number;
  readonly codesMax: number;
  readonly #sink: LimitedLogSink;
  readonly #clock: Clock;
  readonly #intervals = new Map<string, Interval>();
  #closed = false;

  constructor(sink: LimitedLogSink, options: LogLimiterOptions = {}) {
    this.#sink = sink;
    this.#clock = options.clock ?? systemClock;
    this.intervalMs = positiveInteger('intervalMs', options.intervalMs ?? 10_000);
    this.addressesTrackedMax = positiveInteger('addressesTrackedMax', options.addressesTrackedMax ?? 1024);
    this.summaryAddressesMax = positiveInteger('summaryAddressesMax', options.summaryAddressesMax ?? 5);
    this.codesMax = positiveInteger('codesMax', options.codesMax ?? 64);
  }

  /**
   * Counts one occurrence of `event`, and logs it as `event` with `fields` if it is the first
   * of an interval. Ignored once the limiter is closed.
   */
  record(event: string, occurrence: Occurrence, fields: Record<string, unknown>): void {
    if (this.#closed) return;
    let interval = this.#intervals.get(event);
    if (interval === undefined) {
      interval = {
        startedAtMs: this.#clock.now(),
        timer: this.#clock.setTimer(this.intervalMs, () => this.#end(event)),
        count: 0,
        byCode: new Map(),
        byAddress: new Map(),
        addressesUntracked: 0,
      };
      this.#intervals.set(event, interval);
      this.#sink(event, fields);
    }
    interval.count++;
    const code =
      interval.byCode.has(occurrence.code) || interval.byCode.size < this.codesMax ? occurrence.code : OTHER;
    interval.byCode.set(code, (interval.byCode.get(code) ?? 0) + 1);
    const address = occurrence.address ?? UNKNOWN_ADDRESS;
    const seen = interval.byAddress.get(address);
    if (seen !== undefined) interval.byAddress.set(address, seen + 1);
    else if (interval.byAddress.size < this.addressesTrackedMax) interval.byAddress.set(address, 1);
    else interval.addressesUntracked++;
  }

  /** Distinct addresses counted one by one in `event`'s current interval (0 outside one). */
  addressesTracked(event: string): number {
    return this.#intervals.get(event)?.byAddress.size ?? 0;
  }

  /**
   * Ends every open interval now, logging the summaries of those that held something back,
   * and ignores occurrences from then on. Call it when the source of events has stopped, so
   * that no count is lost and no timer is left behind.
   */
  close(): void {
    this.#closed = true;
    for (const event of [...this.#intervals.keys()]) this.#end(event);
  }

  #end(event: string): void {
    const interval = this.#intervals.get(event);
    if (interval === undefined) return;
    this.#intervals.delete(event);
    interval.timer.cancel();
    if (interval.count <= 1) return;
    this.#sink(`${event}-summary`, { ...this.#summary(interval) });
  }

  #summary(interval: Interval): LogSummary {
    const top = [...interval.byAddress]
      .sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, this.summaryAddressesMax);
    const named = top.reduce((sum, [, count]) => sum + count, 0);
    return {
      intervalMs: Math.round(this.#clock.now() - interval.startedAtMs),
      count: interval.count,
      suppressed: interval.count - 1,
      byCode: Object.fromEntries(interval.byCode),
      addresses: Object.fromEntries(top),
      addressesOther: interval.count - named,
    };
  }
}

function positiveInteger(name: string, value: number): number {
  return integerField(`LogLimiter ${name}`, value, undefined, 1);
}
