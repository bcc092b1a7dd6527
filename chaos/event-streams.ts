/**
 * Every node's `GET /v1/events`, read for the whole run. The harness does not resume a stream
 * (the API can, with `Last-Event-ID`): it checks what the node sends live, so each
 * connection's events are kept apart, as that connection saw them, and the reader reconnects
 * live whenever a connection ends (the node was killed, or dropped a slow reader). What no
 * connection saw is found by the lookups at the end (`lookups.ts`), not here.
 */
import http from 'node:http';

/** One `finalized` event, with the run time (ms) it arrived. */
export interface SeenEvent {
  readonly hash: string;
  readonly sequence: number;
  readonly position: number;
  readonly view: number;
  readonly atMs: number;
}

/** One connection to one node's event stream. */
export interface StreamConnection {
  readonly node: number;
  readonly openedMs: number;
  closedMs: number | null;
  readonly events: SeenEvent[];
}

/** How long to wait before dialing again after a connection ended or failed. */
const RECONNECT_DELAY_MS = 200;

/** Reads one node's event stream, reconnecting until closed. */
export class NodeEventStream {
  readonly node: number;
  readonly connections: StreamConnection[] = [];
  readonly #url: string;
  readonly #now: () => number;
  readonly #onEvent: (event: SeenEvent, node: number) => void;
  #request: http.ClientRequest | null = null;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;

  constructor(options: {
    readonly node: number;
    readonly url: string;
    readonly now: () => number;
    readonly onEvent: (event: SeenEvent, node: number) => void;
  }) {
    this.node = options.node;
    this.#url = options.url;
    this.#now = options.now;
    this.#onEvent = options.onEvent;
  }

  start(): void {
    this.#connect();
  }

  /** Events seen by every connection, in arrival order. */
  get eventCount(): number {
    return this.connections.reduce((sum, connection) => sum + connection.events.length, 0);
  }

  close(): void {
    this.#closed = true;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#request?.destroy();
    const now = this.#now();
    for (const connection of this.connections) connection.closedMs ??= now;
  }

  #connect(): void {
    if (this.#closed) return;
    let connection: StreamConnection | null = null;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      if (connection !== null) connection.closedMs ??= this.#now();
      this.#request = null;
      if (this.#closed) return;
      this.#retry = setTimeout(() => {
        this.#retry = null;
        this.#connect();
      }, RECONNECT_DELAY_MS);
    };
    const request = http.get(`${this.#url}/v1/events`, { agent: false }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        end();
        return;
      }
      const opened: StreamConnection = { node: this.node, openedMs: this.#now(), closedMs: null, events: [] };
      connection = opened;
      this.connections.push(opened);
      response.setEncoding('utf8');
      let pending = '';
      response.on('data', (text: string) => {
        pending += text;
        const blocks = pending.split('\n\n');
        pending = blocks.pop() ?? '';
        const atMs = this.#now();
        for (const block of blocks) {
          let isFinalized = false;
          let data: string | null = null;
          for (const line of block.split('\n')) {
            if (line === 'event: finalized') isFinalized = true;
            else if (line.startsWith('data: ')) data = line.slice(6);
          }
          if (!isFinalized || data === null) continue;
          const parsed = JSON.parse(data) as {
            hash: string;
            sequence: number;
            position: number;
            view: number;
          };
          const event: SeenEvent = {
            hash: parsed.hash,
            sequence: parsed.sequence,
            position: parsed.position,
            view: parsed.view,
            atMs,
          };
          opened.events.push(event);
          this.#onEvent(event, this.node);
        }
      });
      response.on('end', end);
      response.on('close', end);
      response.on('error', end);
    });
    request.on('error', end);
    this.#request = request;
  }
}
