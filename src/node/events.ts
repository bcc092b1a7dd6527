/**
 * `GET /v1/events`: finalized vertices as server-sent events, in the total order.
 *
 * Every client has a bounded buffer: what the socket has not taken yet. A client that lets it
 * grow past `eventBufferBytesMax` (it reads slower than the cluster finalizes) is disconnected
 * rather than holding memory without bound or slowing anyone else; it can reconnect and read
 * what it missed from `GET /v1/vertices/:hash`. Events of one turn of the event loop are written
 * to each socket at once, so a batch of a thousand vertices costs one write per client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { base64, type FinalizedEvent } from '../client/api.ts';
import { toHex } from '../crypto/index.ts';
import type { FinalizedVertex } from '../engine/index.ts';
import type { Logger } from './log.ts';

interface EventClient {
  readonly response: ServerResponse;
  readonly payload: boolean;
  readonly address: string | undefined;
}

/** A comment line every so often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

export class EventHub {
  readonly #clientsMax: number;
  readonly #bufferBytesMax: number;
  readonly #logger: Logger;
  readonly #clients = new Set<EventClient>();
  #plain: string[] = [];
  #withPayload: string[] = [];
  #wantPayload = 0;
  #scheduled = false;
  #closed = false;
  #heartbeat: NodeJS.Timeout | null = null;
  /** Clients disconnected for falling behind, since start. */
  dropped = 0;

  constructor(options: { clientsMax: number; bufferBytesMax: number; logger: Logger }) {
    this.#clientsMax = options.clientsMax;
    this.#bufferBytesMax = options.bufferBytesMax;
    this.#logger = options.logger;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Whether another client fits. */
  hasRoom(): boolean {
    return !this.#closed && this.#clients.size < this.#clientsMax;
  }

  /** Starts streaming to `response`; the caller checked {@link hasRoom}. */
  add(request: IncomingMessage, response: ServerResponse, options: { readonly payload: boolean }): void {
    const client: EventClient = {
      response,
      payload: options.payload,
      address: request.socket.remoteAddress,
    };
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write('retry: 1000\n: finalized vertices follow\n\n');
    this.#clients.add(client);
    if (client.payload) this.#wantPayload++;
    response.on('close', () => this.#remove(client));
    if (this.#heartbeat === null) {
      this.#heartbeat = setInterval(() => {
        for (const each of this.#clients) this.#write(each, ': keep-alive\n\n');
      }, HEARTBEAT_MS);
      this.#heartbeat.unref();
    }
  }

  /** Queues a finalized vertex for every client. */
  push(item: FinalizedVertex): void {
    if (this.#clients.size === 0) return;
    const event: FinalizedEvent = {
      hash: toHex(item.hash),
      sequence: item.sequence,
      position: item.position,
      view: item.view,
      payloadBytes: item.vertex.payload.length,
    };
    const id = `id: ${item.sequence}.${item.position}\nevent: finalized\ndata: `;
    if (this.#wantPayload < this.#clients.size) this.#plain.push(`${id}${JSON.stringify(event)}\n\n`);
    if (this.#wantPayload > 0) {
      this.#withPayload.push(
        `${id}${JSON.stringify({ ...event, payload: base64(item.vertex.payload) })}\n\n`,
      );
    }
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
    for (const client of this.#clients) client.response.end();
    this.#clients.clear();
  }

  #flush(): void {
    this.#scheduled = false;
    const plain = this.#plain.length > 0 ? this.#plain.join('') : '';
    const withPayload = this.#withPayload.length > 0 ? this.#withPayload.join('') : '';
    this.#plain = [];
    this.#withPayload = [];
    for (const client of this.#clients) {
      const text = client.payload ? withPayload : plain;
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
    if (!this.#clients.delete(client)) return;
    if (client.payload) this.#wantPayload--;
  }
}
