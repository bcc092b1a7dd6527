/**
 * Bounds on the HTTP API's connections, which share the process's file descriptors with the
 * consensus transport: a node whose API holds every descriptor can no longer accept its peers.
 *
 * - A cap on open connections in total and per remote address (IPv6 by /64, since one host
 *   usually holds a whole /64). A connection over either cap is destroyed as soon as it is
 *   accepted, before the HTTP parser reads a byte from it; refusals are counted
 *   (`cretoai_http_connections_refused_total{reason}`) and logged at most once per interval.
 * - Deadlines (node:http's own): the request head (`headersTimeoutMs`, which also ends a
 *   connection that sends nothing at all), the whole request (`requestTimeoutMs`), an idle
 *   keep-alive connection (`keepAliveTimeoutMs`), and a socket with no traffic either way while
 *   a request is being received or answered (`socketIdleTimeoutMs`). Event streams and backups
 *   opt out of the last with {@link exemptFromIdleTimeout}: a stream is idle between events by
 *   design and is bounded by `eventClientsMax` instead.
 * - Errors that clients cause (a malformed request, a deadline missed) are answered as Node
 *   answers them, counted (`cretoai_http_client_errors_total{kind}`) and logged rate-limited.
 *
 * {@link ConnectionLimiter} is the bookkeeping alone, without sockets, so tests drive it
 * directly; {@link HttpLimits} wires it into a node:http server.
 */
import http from 'node:http';
import { isIPv6, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ArgumentError } from '../errors.ts';
import { integerField } from '../protocol/errors.ts';
import type { Clock } from '../shell/clock.ts';
import type { HttpSettings } from './config.ts';
import type { Logger } from './log.ts';
import { LogLimiter } from './log-limiter.ts';
import type { ClientErrorKind, ConnectionRefusal, HttpMetrics } from './node-metrics.ts';

/** The connection caps and deadlines, from the node configuration (documented there). */
export type HttpServerLimits = Pick<
  HttpSettings,
  | 'connectionsMax'
  | 'connectionsPerAddressMax'
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'keepAliveTimeoutMs'
  | 'socketIdleTimeoutMs'
>;

/**
 * Open connections, in total and per address key (see {@link addressKey}). Every admitted
 * connection must be released exactly once; the map holds only keys with open connections, so
 * it never has more than `connectionsMax` entries.
 */
export class ConnectionLimiter {
  readonly connectionsMax: number;
  readonly connectionsPerAddressMax: number;
  readonly #byAddress = new Map<string, number>();
  #open = 0;

  constructor(limits: Pick<HttpServerLimits, 'connectionsMax' | 'connectionsPerAddressMax'>) {
    integerField('connectionsMax', limits.connectionsMax, undefined, 1);
    integerField(
      'connectionsPerAddressMax',
      limits.connectionsPerAddressMax,
      undefined,
      1,
      limits.connectionsMax,
    );
    this.connectionsMax = limits.connectionsMax;
    this.connectionsPerAddressMax = limits.connectionsPerAddressMax;
  }

  /** Connections open now. */
  get open(): number {
    return this.#open;
  }

  /** Connections open now from `key`. */
  openFrom(key: string): number {
    return this.#byAddress.get(key) ?? 0;
  }

  /** Takes a place for a connection from `key`; returns why not when there is none. */
  admit(key: string): ConnectionRefusal | null {
    if (this.#open >= this.connectionsMax) return 'total';
    const fromKey = this.#byAddress.get(key) ?? 0;
    if (fromKey >= this.connectionsPerAddressMax) return 'per-address';
    this.#open++;
    this.#byAddress.set(key, fromKey + 1);
    return null;
  }

  /** Gives back the place of an admitted connection from `key`. */
  release(key: string): void {
    const fromKey = this.#byAddress.get(key);
    if (fromKey === undefined || this.#open === 0) {
      // Broken bookkeeping is a bug in this module, not something a client can cause.
      throw new Error(`released a connection from ${key} that was never admitted`);
    }
    this.#open--;
    if (fromKey === 1) this.#byAddress.delete(key);
    else this.#byAddress.set(key, fromKey - 1);
  }
}

/**
 * The key a remote address is counted under: an IPv4 address as it is (also when it arrives
 * IPv4-mapped, `::ffff:10.0.0.1`), an IPv6 address by its /64 prefix, because a single host or
 * customer is routinely given a whole /64 and could otherwise open one connection per address.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('%')[0]!.split('::') as [string, string?];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::a.b.c.d) fills two groups; only the first four groups matter here.
  const tailLength = tailGroups.reduce((sum, group) => sum + (group.includes('.') ? 2 : 1), 0);
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailLength).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * How often node:http checks the head and request deadlines. Node checks every 30 s by
 * default, so a deadline could be overshot by that much; a check costs one pass over the open
 * connections (at most `connectionsMax`), so once a second is cheap. Short deadlines (tests)
 * are checked at their own period.
 */
function deadlineCheckIntervalMs(limits: HttpServerLimits): number {
  return Math.max(1, Math.min(1_000, limits.headersTimeoutMs, limits.requestTimeoutMs));
}

/**
 * How long after `keepAliveTimeoutMs` an idle connection is actually closed. Clients are told
 * the keep-alive timeout (`Keep-Alive: timeout=s`) and should stop reusing the connection by
 * then; the margin keeps a request sent just before it from meeting a closed socket. Node's
 * default margin is 1 s; a short timeout gets a quarter of itself.
 */
function keepAliveMarginMs(limits: HttpServerLimits): number {
  return Math.min(1_000, Math.floor(limits.keepAliveTimeoutMs / 4));
}

/** The answers Node gives to client errors when no `clientError` listener takes them over. */
const CLIENT_ERROR_ANSWERS: Readonly<Record<Exclude<ClientErrorKind, 'aborted'>, Buffer>> = Object.freeze({
  timeout: Buffer.from('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'),
  'headers-too-large': Buffer.from(
    'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  ),
  malformed: Buffer.from('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'),
});

/** Socket errors that only mean the client closed or reset the connection. */
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

/**
 * The HTTP server's limits in one place: the connection caps and deadlines, the metrics of
 * refusals and client errors, and the rate-limited log their lines go to.
 */
export class HttpLimits {
  readonly limits: HttpServerLimits;
  readonly limiter: ConnectionLimiter;
  readonly metrics: Pick<HttpMetrics, 'connectionsRefused' | 'clientErrors'>;
  /** Where lines about client-caused events go: one per event per interval, and a summary. */
  readonly log: LogLimiter;
  /** Sockets this server closed for a client error, already counted. */
  readonly #cut = new WeakSet<Duplex>();

  constructor(
    limits: HttpServerLimits,
    context: {
      readonly metrics: Pick<HttpMetrics, 'connectionsRefused' | 'clientErrors'>;
      readonly logger: Logger;
      readonly clock?: Clock;
    },
  ) {
    if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
      throw new ArgumentError(
        `headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`,
      );
    }
    this.limits = limits;
    this.limiter = new ConnectionLimiter(limits);
    this.metrics = context.metrics;
    const { logger } = context;
    this.log = new LogLimiter(
      (event, fields) => {
        // Summaries at the level of their event; a handler failure is the node's own fault.
        const base = event.endsWith('-summary') ? event.slice(0, -'-summary'.length) : event;
        const level =
          base === 'http-handler-failed' ? 'error' : base === 'http-connection-refused' ? 'warn' : 'info';
        logger[level](event, fields);
      },
      context.clock === undefined ? {} : { clock: context.clock },
    );
  }

  /**
   * Counts a request that ended before it was answered and logs it, rate-limited; unless the
   * server itself cut the connection for a client error, which was counted as that.
   */
  requestAborted(request: http.IncomingMessage, fields: Record<string, unknown>): void {
    if (this.#cut.has(request.socket)) return;
    this.#clientError('aborted', fields);
  }

  #clientError(kind: ClientErrorKind, fields: Record<string, unknown>): void {
    this.metrics.clientErrors.inc({ kind });
    const address = typeof fields.address === 'string' ? fields.address : undefined;
    this.log.record('http-client-error', { code: kind, address }, { kind, ...fields });
  }

  /** Creates the HTTP server for `handler`, with the caps, the deadlines and the error accounting. */
  createServer(handler: http.RequestListener): http.Server {
    const { limits, limiter, metrics } = this;
    const server = http.createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        keepAliveTimeoutBuffer: keepAliveMarginMs(limits),
        connectionsCheckingInterval: deadlineCheckIntervalMs(limits),
      },
      handler,
    );
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    // The socket inactivity timeout: Node destroys a socket with no traffic for this long while
    // a request is received or answered (between requests the keep-alive timeout applies).
    server.timeout = limits.socketIdleTimeoutMs;

    // Prepended, so that it runs before node:http's own listener sets up a parser for the socket.
    server.prependListener('connection', (socket: Socket) => {
      const key = addressKey(socket.remoteAddress);
      const refusal = limiter.admit(key);
      if (refusal !== null) {
        socket.destroy();
        metrics.connectionsRefused.inc({ reason: refusal });
        this.log.record(
          'http-connection-refused',
          { code: refusal, address: socket.remoteAddress },
          {
            reason: refusal,
            address: socket.remoteAddress,
            open: limiter.open,
            openFromAddress: limiter.openFrom(key),
            limit: refusal === 'total' ? limiter.connectionsMax : limiter.connectionsPerAddressMax,
          },
        );
        return;
      }
      socket.once('close', () => limiter.release(key));
    });

    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      const code = error.code ?? '';
      if (RESET_CODES.has(code)) {
        // The client closed or reset the connection: nothing to answer. A request it abandoned
        // is counted once, as 'aborted', where its handler fails.
        socket.destroy();
        return;
      }
      const kind: Exclude<ClientErrorKind, 'aborted'> =
        code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'timeout'
          : code === 'HPE_HEADER_OVERFLOW'
            ? 'headers-too-large'
            : 'malformed';
      this.#clientError(kind, { code, address: (socket as Socket).remoteAddress });
      // As Node does without a listener: answer unless a response has started, then close.
      const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && inFlight?.headersSent !== true) socket.write(CLIENT_ERROR_ANSWERS[kind]);
      this.#cut.add(socket);
      socket.destroy();
    });
    return server;
  }

  /** Writes the log lines still held back (the node is stopping). */
  close(): void {
    this.log.close();
  }
}

/**
 * Takes a long-lived answer (an event stream, a backup) out of the socket inactivity timeout: it
 * may rightly send nothing for longer. Node restores the timeout when the connection serves its
 * next request.
 */
export function exemptFromIdleTimeout(request: http.IncomingMessage): void {
  request.socket.setTimeout(0);
}
