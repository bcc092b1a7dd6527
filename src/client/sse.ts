/**
 * A parser of server-sent events (the `text/event-stream` format of the WHATWG HTML standard,
 * "9.2.6 Interpreting an event stream"), for {@link BftClient.finalized}. It takes decoded text
 * in chunks of any size and returns the events each chunk completes.
 *
 * As the standard says: lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at
 * the start of the next are one line end); a line starting with ':' is a comment; `field: value`
 * loses one space after the colon, and a line without a colon is a field with an empty value;
 * `data` lines accumulate (joined by LF), `event` sets the type (default `message`), `id` sets
 * the last event id unless it holds NUL, `retry` sets the reconnection time if it is all ASCII
 * digits; a blank line dispatches the event, setting the last event id even when there is no
 * data, and an event without data is not dispatched; one leading byte order mark is dropped; an
 * event cut off by the end of the stream is discarded. Unlike a browser, it bounds what it holds:
 * a line or an event's data longer than `maxEventChars` is an error.
 */

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
export class SseParseError extends Error {
  override readonly name = 'SseParseError';
}

/** Default bound on a line and on an event's data, in UTF-16 code units: 64 Mi. */
export const SSE_EVENT_CHARS_MAX = 64 << 20;

export class SseParser {
  readonly #maxEventChars: number;
  /** The unfinished line. */
  #line = '';
  /** The previous chunk ended in CR: an LF starting this one ends nothing more. */
  #afterCr = false;
  #started = false;
  #data = '';
  #hasData = false;
  #type = '';
  /** The `id` field's value, which becomes the last event id when the event is dispatched. */
  #idBuffer = '';
  #lastEventId = '';
  #retryMs: number | null = null;

  constructor(options: { readonly maxEventChars?: number } = {}) {
    this.#maxEventChars = options.maxEventChars ?? SSE_EVENT_CHARS_MAX;
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
   * @throws SseParseError when a line or an event's data exceeds `maxEventChars`.
   */
  push(text: string): SseEvent[] {
    let chunk = text;
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    const events: SseEvent[] = [];
    let start = 0;
    if (this.#afterCr && chunk.charCodeAt(0) === 0x0a) start = 1;
    this.#afterCr = false;
    for (let i = start; i < chunk.length; i++) {
      const code = chunk.charCodeAt(i);
      if (code !== 0x0a && code !== 0x0d) continue;
      const line = this.#line + chunk.slice(start, i);
      this.#line = '';
      this.#processLine(line, events);
      if (code === 0x0d) {
        if (i + 1 === chunk.length) this.#afterCr = true;
        else if (chunk.charCodeAt(i + 1) === 0x0a) i++;
      }
      start = i + 1;
    }
    this.#line += chunk.slice(start);
    if (this.#line.length > this.#maxEventChars) {
      throw new SseParseError(`an event-stream line longer than ${this.#maxEventChars} characters`);
    }
    return events;
  }

  #processLine(line: string, events: SseEvent[]): void {
    if (line.length === 0) {
      this.#dispatch(events);
      return;
    }
    if (line.charCodeAt(0) === 0x3a) return; // ':' starts a comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#type = value;
        break;
      case 'data':
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        if (this.#data.length > this.#maxEventChars) {
          throw new SseParseError(`an event's data longer than ${this.#maxEventChars} characters`);
        }
        break;
      case 'id':
        if (!value.includes('\0')) this.#idBuffer = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#retryMs = Number(value);
        break;
      default:
        // Other fields are ignored, as the standard says.
        break;
    }
  }

  #dispatch(events: SseEvent[]): void {
    const hasData = this.#hasData;
    this.#lastEventId = this.#idBuffer;
    const event: SseEvent = {
      type: this.#type || 'message',
      data: this.#data,
      lastEventId: this.#lastEventId,
    };
    this.#data = '';
    this.#hasData = false;
    this.#type = '';
    if (hasData) events.push(event);
  }
}
