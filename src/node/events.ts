/**
 * `GET /v1/events`: finalized vertices as server-sent events, in the total order.
 *
 * Every event's `id:` is its place, `<sequence>.<position>`. A client that reconnects with
 * `Last-Event-ID: <sequence>.<position>` (as EventSource does), or asks `?from=<sequence>`,
 * first gets what the store holds after that place (replayed one finalized record at a time,
 * waiting for the socket to drain, so a long replay holds one batch in memory), then the live
 * stream, every vertex once: the replay runs through the last sequence the engine has delivered
 * and joins the live clients in the same synchronous step, and the live events still queued for
 * that turn are filtered by place. A place the store no longer holds (it keeps `logRetention`
 * sequences) is answered 410 before the stream starts, or with an `error` event if it was pruned
 * while the replay ran.
 *
 * Every client has a bounded buffer: what the socket has not taken yet. A live client that lets
 * it grow past `eventBufferBytesMax` (it reads slower than the cluster finalizes) is
 * disconnected rather than holding memory without bound or slowing anyone else; it can
 * reconnect with its last event id. Events of one turn of the event loop are written to each
 * socket at once, so a batch of a thousand vertices costs one write per client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { base64, type FinalizedEvent } from '../client/api.ts';
import type { FinalizedVertex } from '../engine/index.ts';
import { type FinalizedRecord, type Vertex, vertexKey } from '../protocol/index.ts';
import type { Logger } from './log.ts';

/** A place in the total order; position -1 stands before a sequence's first vertex. */
export interface EventPlace {
  readonly sequence: number;
  readonly position: number;
}

/** What the hub replays from: the node's store and the engine's delivery mark. */
export interface EventHistory {
  /** The finalized record at `sequence`, or undefined if the store does not hold it. */
  finalizedAt(sequence: number): FinalizedRecord | undefined;
  /** The highest sequence the engine has delivered (`BftEngine.deliveredSequence`). */
  deliveredSequence(): number;
}

interface EventClient {
  readonly response: ServerResponse;
  readonly payload: boolean;
  readonly address: string | undefined;
  /** While set, live events at or before this place are not written (the replay covered them). */
  liveAfter: EventPlace | null;
}

/** A comment line every so often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/**
 * A replay writes while the socket holds less than this unread, then waits for it to drain: the
 * replay reads the store no faster than the client reads the stream.
 */
const REPLAY_HIGH_WATER_BYTES = 256 << 10;
/** A replaying client whose socket does not drain for this long is disconnected. */
const REPLAY_DRAIN_TIMEOUT_MS = 30_000;

/** Whether `place` lies after `than` in the total order. */
function isAfter(place: EventPlace, than: EventPlace): boolean {
  return (
    place.sequence > than.sequence || (place.sequence === than.sequence && place.position > than.position)
  );
}

/** The text of one `finalized` event. */
function eventText(place: EventPlace, vertex: Vertex, view: number, withPayload: boolean): string {
  const event: FinalizedEvent = {
    hash: vertexKey(vertex),
    sequence: place.sequence,
    position: place.position,
    view,
    payloadBytes: vertex.payload.length,
    ...(withPayload ? { payload: base64(vertex.payload) } : {}),
  };
  return `id: ${place.sequence}.${place.position}\nevent: finalized\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * The place a stream resumes after, from the request: `Last-Event-ID` (what EventSource sends
 * when it reconnects, so it wins over the URL it reconnects to) or `?from=<sequence>`; null
 * for a live-only stream.
 *
 * @returns the place, null, or a sentence saying what is wrong with the request.
 */
export function resumePoint(
  lastEventId: string | undefined,
  from: string | null,
): EventPlace | null | { readonly error: string } {
  if (lastEventId !== undefined && lastEventId !== '') {
    const match = /^(\d{1,15})\.(\d{1,9})$/.exec(lastEventId);
    if (match === null) return { error: 'Last-Event-ID must be <sequence>.<position>, as the event ids are' };
    return { sequence: Number(match[1]), position: Number(match[2]) };
  }
  if (from !== null) {
    if (!/^\d{1,15}$/.test(from) || Number(from) < 1) {
      return { error: 'from must be a sequence: a whole number from 1' };
    }
    return { sequence: Number(from), position: -1 };
  }
  return null;
}

export class EventHub {
  readonly #clientsMax: number;
  readonly #bufferBytesMax: number;
  readonly #logger: Logger;
  readonly #history: EventHistory;
  readonly #clients = new Set<EventClient>();
  readonly #replaying = new Set<EventClient>();
  /** Live events queued for this turn, with their places, in order. */
  #places: EventPlace[] = [];
  #plain: string[] = [];
  #withPayload: string[] = [];
  #wantPayload = 0;
  #scheduled = false;
  #closed = false;
  #heartbeat: NodeJS.Timeout | null = null;
  readonly #follow: ((push: (item: FinalizedVertex) => void) => () => void) | undefined;
  /** Stops following the engine; set while the hub has clients and follows it. */
  #unfollow: (() => void) | null = null;
  /** Clients disconnected for falling behind, since start. */
  dropped = 0;

  constructor(options: {
    clientsMax: number;
    bufferBytesMax: number;
    logger: Logger;
    history: EventHistory;
    /**
     * Subscribes `push` to the engine's finalized vertices, returning what unsubscribes it. The
     * hub follows only while it has clients, so that an engine nobody follows through this node
     * builds no event for each vertex it finalizes. Without it, the owner calls {@link push}.
     */
    follow?: (push: (item: FinalizedVertex) => void) => () => void;
  }) {
    this.#follow = options.follow;
    this.#clientsMax = options.clientsMax;
    this.#bufferBytesMax = options.bufferBytesMax;
    this.#logger = options.logger;
    this.#history = options.history;
  }

  /** Streams, live or replaying. */
  get clients(): number {
    return this.#clients.size + this.#replaying.size;
  }

  /** Whether another client fits. */
  hasRoom(): boolean {
    return !this.#closed && this.clients < this.#clientsMax;
  }

  /**
   * Why a stream cannot resume after `after`: the store no longer holds the first sequence it
   * needs. Null when it can (or when that sequence is not delivered yet: the stream waits).
   */
  unavailable(after: EventPlace): { readonly sequence: number; readonly oldest: number | null } | null {
    const first = Math.max(1, after.sequence);
    const delivered = this.#history.deliveredSequence();
    if (first > delivered || this.#history.finalizedAt(first) !== undefined) return null;
    return { sequence: first, oldest: this.#oldestHeld(first + 1, delivered) };
  }

  /**
   * Starts streaming to `response`; the caller checked {@link hasRoom} and, for a resumed
   * stream, {@link unavailable}.
   */
  add(
    request: IncomingMessage,
    response: ServerResponse,
    options: { readonly payload: boolean; readonly after: EventPlace | null },
  ): void {
    const client: EventClient = {
      response,
      payload: options.payload,
      address: request.socket.remoteAddress,
      liveAfter: null,
    };
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write('retry: 1000\n: finalized vertices follow\n\n');
    if (this.#unfollow === null && this.#follow !== undefined) {
      this.#unfollow = this.#follow((item) => this.push(item));
    }
    if (client.payload) this.#wantPayload++;
    response.on('close', () => this.#remove(client));
    if (this.#heartbeat === null) {
      this.#heartbeat = setInterval(() => {
        for (const each of this.#clients) this.#write(each, ': keep-alive\n\n');
      }, HEARTBEAT_MS);
      this.#heartbeat.unref();
    }
    if (options.after === null) this.#clients.add(client);
    else {
      this.#replaying.add(client);
      this.#replay(client, options.after).catch((error: unknown) => {
        this.#logger.warn('event-replay-failed', { address: client.address, error });
        response.destroy();
        this.#remove(client);
      });
    }
  }

  /** Queues a finalized vertex for every live client. */
  push(item: FinalizedVertex): void {
    if (this.#clients.size === 0) return;
    const place = { sequence: item.sequence, position: item.position };
    // The three queues stay aligned, place for place ('' where no client wants that form), so
    // that a client just out of a replay can take a tail of them.
    this.#places.push(place);
    this.#plain.push(this.#wantPayload < this.clients ? eventText(place, item.vertex, item.view, false) : '');
    this.#withPayload.push(this.#wantPayload > 0 ? eventText(place, item.vertex, item.view, true) : '');
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Ends every stream and refuses new ones. */
  close(): void {
    this.#closed = true;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    for (const client of [...this.#clients, ...this.#replaying]) client.response.end();
    this.#clients.clear();
    this.#replaying.clear();
    this.#stopFollowing();
  }

  /**
   * Writes what the store holds after `after`, one record at a time, then makes the client live.
   * The switch happens in the synchronous step that finds the replay caught up with the engine.
   */
  async #replay(client: EventClient, after: EventPlace): Promise<void> {
    const { response } = client;
    let cursor = Math.max(1, after.sequence);
    for (;;) {
      if (!this.#replaying.has(client)) return;
      if (response.destroyed) {
        this.#remove(client);
        return;
      }
      const delivered = this.#history.deliveredSequence();
      if (cursor > delivered) {
        // Caught up: from here on, live events, but none at or before what was replayed (the
        // queue of this turn may hold some) nor before the place the client resumes after.
        const replayed = { sequence: delivered, position: Number.MAX_SAFE_INTEGER };
        client.liveAfter = isAfter(after, replayed) ? after : replayed;
        this.#replaying.delete(client);
        this.#clients.add(client);
        return;
      }
      const record = this.#history.finalizedAt(cursor);
      if (record === undefined) {
        this.#write(
          client,
          `event: error\ndata: ${JSON.stringify({
            code: 'pruned',
            message: `sequence ${cursor} is no longer held here; resume from a later one`,
          })}\n\n`,
        );
        response.end();
        this.#remove(client);
        return;
      }
      cursor++;
      let text = '';
      for (const position of record.delivered) {
        const place = { sequence: record.sequence, position };
        if (isAfter(place, after))
          text += eventText(place, record.batch[position]!, record.view, client.payload);
      }
      if (text.length > 0) response.write(text);
      if (response.writableLength > REPLAY_HIGH_WATER_BYTES) {
        if (!(await this.#drained(client))) return;
      } else if ((cursor & 63) === 0) {
        // Let the rest of the node run between records of a long replay.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Resolves true once the client's socket drained, false if it closed or stalled (dropped). */
  #drained(client: EventClient): Promise<boolean> {
    const { response } = client;
    return new Promise((resolve) => {
      const done = (drained: boolean): void => {
        clearTimeout(timer);
        response.off('drain', onDrain);
        response.off('close', onClose);
        resolve(drained);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => {
        this.dropped++;
        this.#logger.warn('event-client-dropped', {
          address: client.address,
          bufferedBytes: response.writableLength,
          reason: `it read nothing for ${REPLAY_DRAIN_TIMEOUT_MS} ms during a replay`,
        });
        response.destroy();
        this.#remove(client);
        done(false);
      }, REPLAY_DRAIN_TIMEOUT_MS);
      response.on('drain', onDrain);
      response.on('close', onClose);
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const places = this.#places;
    const plain = this.#plain;
    const withPayload = this.#withPayload;
    this.#places = [];
    this.#plain = [];
    this.#withPayload = [];
    if (places.length === 0) return;
    const plainText = plain.join('');
    const withPayloadText = withPayload.join('');
    const last = places[places.length - 1]!;
    for (const client of this.#clients) {
      const texts = client.payload ? withPayload : plain;
      let text = client.payload ? withPayloadText : plainText;
      const liveAfter = client.liveAfter;
      if (liveAfter !== null) {
        // Just out of a replay: skip what it covered. Once a batch reaches past it, no more.
        const first = places.findIndex((place) => isAfter(place, liveAfter));
        text = first < 0 ? '' : texts.slice(first).join('');
        if (isAfter(last, liveAfter)) client.liveAfter = null;
      }
      if (text.length > 0) this.#write(client, text);
    }
  }

  #write(client: EventClient, text: string): void {
    const { response } = client;
    if (response.destroyed) return;
    response.write(text);
    if (response.writableLength > this.#bufferBytesMax) {
      this.dropped++;
      this.#logger.warn('event-client-dropped', {
        address: client.address,
        bufferedBytes: response.writableLength,
        reason: 'it read slower than vertices were finalized',
      });
      response.destroy();
      this.#remove(client);
    }
  }

  #remove(client: EventClient): void {
    if (!this.#clients.delete(client) && !this.#replaying.delete(client)) return;
    if (client.payload) this.#wantPayload--;
    if (this.clients === 0) this.#stopFollowing();
  }

  #stopFollowing(): void {
    this.#unfollow?.();
    this.#unfollow = null;
  }

  /**
   * The oldest sequence in [low, high] the store holds, or null: the store holds one contiguous
   * run of sequences up to the last delivered, so a binary search finds its start.
   */
  #oldestHeld(low: number, high: number): number | null {
    if (low > high || this.#history.finalizedAt(high) === undefined) return null;
    let lo = low;
    let hi = high;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.#history.finalizedAt(mid) === undefined) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
