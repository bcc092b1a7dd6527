/**
 * Server-sent events (the `text/event-stream` format of the WHATWG HTML standard, "9.2.6
 * Interpreting an event stream"), parsed by `eventsource-parser`: the one place where this
 * package reads an event stream, for {@link BftClient.finalized}, the load driver and the chaos
 * harness. It takes decoded text in chunks of any size and returns the events each chunk
 * completes.
 *
 * The library follows the standard (line ends, comments, BOM, `id` with NUL, `retry` digits,
 * events without data). This wrapper adds what the standard leaves to the user agent:
 *
 * - The last event id persists across events, as a browser's `EventSource.lastEventId` does:
 *   an event without an `id` field carries the previous one. The library reports only the `id`
 *   of each block.
 * - A bound: an unfinished line plus the data of an unfinished event longer than
 *   `maxEventChars` is an error, so that a hostile server cannot make the client buffer without
 *   limit. The library counts both together (`maxBufferSize`) and stops parsing past it.
 */

import type { Readable } from 'node:stream';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { CretoaiError } from '../errors.ts';

/** One dispatched event. */
export interface SseEvent {
  /** The event type: the `event` field, or `message`. */
  readonly type: string;
  /** The `data` lines, joined by LF. */
  readonly data: string;
  /** The last event id when the event was dispatched (the stream's, not only this event's). */
  readonly lastEventId: string;
}

/** The stream broke a bound of the parser. */
export class SseParseError extends CretoaiError {
  readonly code = 'sse-parse';
  override readonly name = 'SseParseError';
}

/** Default bound on an unfinished line and event, in UTF-16 code units: 64 Mi. */
export const SSE_EVENT_CHARS_MAX = 64 << 20;

/** The parser of one event stream: feed it text with `push`, take the events it completes. */
export class SseParser {
  readonly #parser: EventSourceParser;
  /** Events completed by the chunk being fed. */
  #completed: SseEvent[] = [];
  #overflow: string | null = null;
  #lastEventId = '';
  #retryMs: number | null = null;

  constructor(options: { readonly maxEventChars?: number } = {}) {
    this.#parser = createParser({
      maxBufferSize: options.maxEventChars ?? SSE_EVENT_CHARS_MAX,
      // Called before onEvent for the same block, and also for a block without data.
      onId: (id) => {
        this.#lastEventId = id;
      },
      onEvent: (event) => {
        this.#completed.push({
          type: event.event ?? 'message',
          data: event.data,
          lastEventId: this.#lastEventId,
        });
      },
      onRetry: (retryMs) => {
        this.#retryMs = retryMs;
      },
      onError: (error) => {
        // Unknown fields and a `retry` that is not digits are ignored, as the standard says.
        if (error.type === 'max-buffer-size-exceeded') this.#overflow = error.message;
      },
    });
  }

  /**
   * The last event id: the latest `id` field of an event that was dispatched (one cut off by the
   * end of the stream does not count). What to send as `Last-Event-ID` to resume.
   */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** The reconnection time the stream asked for (`retry`), in milliseconds, or null. */
  get retryMs(): number | null {
    return this.#retryMs;
  }

  /**
   * Feeds the next piece of the stream, as text.
   *
   * @returns the events it completed, in order.
   * @throws SseParseError when an unfinished line and event exceed `maxEventChars`; the parser
   *   is then of no further use (the stream's framing is lost).
   */
  push(text: string): SseEvent[] {
    if (this.#overflow !== null) throw new SseParseError(`event stream: ${this.#overflow}`);
    this.#parser.feed(text);
    const events = this.#completed;
    this.#completed = [];
    if (this.#overflow !== null) throw new SseParseError(`event stream: ${this.#overflow}`);
    return events;
  }
}

/**
 * Reads the events of a response body (a node:http response), calling `onEvent` for each. A
 * stream that breaks the parser's bound is destroyed: its framing is lost, and the parse error
 * must not escape the stream's event listener.
 */
export function readServerSentEvents(
  body: Readable,
  onEvent: (event: SseEvent) => void,
  options: { readonly maxEventChars?: number } = {},
): void {
  body.setEncoding('utf8');
  const parser = new SseParser(options);
  body.on('data', (text: string) => {
    let events: SseEvent[];
    try {
      events = parser.push(text);
    } catch {
      body.destroy();
      return;
    }
    for (const event of events) onEvent(event);
  });
}
