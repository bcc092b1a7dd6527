/**
 * Structured logs, written by pino: one JSON object per line, one line per event, on stderr
 * (stdout stays free for what a command prints). Every line has `time` (ISO 8601), `level`
 * (`debug`, `info`, `warn` or `error`), `node` and `event`; the rest are the event's fields. Log
 * shippers and `jq` read it as it is; `cretoai-node up` and the tests wait for lines by `event`.
 *
 * On a terminal the same events are shown by pino-pretty instead (`logFormat` in the node
 * configuration chooses either way).
 *
 * pino rather than a logger of our own: it brings levels, redaction of secret fields and the
 * pretty printer, and is the logger Node services and their log tooling most often expect.
 */
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.ts';

/** Where lines go (each ends with a newline); by default stderr. */
export type LogSink = (line: string) => void;

/**
 * Fields whose values never reach a log, at the top of an event's fields or one object down:
 * private keys and PEM text, and HTTP credentials. Nothing logs them on purpose; this keeps an
 * accidental `{ settings }` or `{ headers }` from writing a secret where logs are shipped.
 */
export const REDACTED_LOG_PATHS: readonly string[] = Object.freeze(
  ['privateKey', 'secretKey', 'keyPem', 'pem', 'authorization', 'cookie', 'password', 'token'].flatMap(
    (key) => [key, `*.${key}`, `*.headers.${key}`],
  ),
);

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

let stderr: DestinationStream | null = null;

/**
 * The process's stderr as pino writes it: synchronously (`fs.writeSync` on fd 2), so that the
 * lines before a crash or a `process.exit` are written, as `process.stderr.write` does on pipes
 * and files. pino's asynchronous buffering would lose them, and its worker-thread transports
 * too. One for every logger of the process, so that lines do not interleave mid-line.
 */
function stderrSink(): LogSink {
  stderr ??= pino.destination({ dest: 2, sync: true });
  const destination = stderr;
  return (line) => destination.write(line);
}

/** The format for a logger that writes to stderr: pretty on a terminal, JSON elsewhere. */
export function defaultLogFormat(): LogFormat {
  return process.stderr.isTTY === true ? 'pretty' : 'json';
}

/** Options of a {@link Logger}. */
export interface LoggerOptions {
  /** Where lines go. Default stderr. */
  readonly sink?: LogSink;
  /**
   * JSON lines, or pino-pretty's text (coloured on a terminal). Default (also for null): pretty
   * when writing to a stderr that is a terminal, JSON otherwise.
   */
  readonly format?: LogFormat | null;
}

export class Logger {
  readonly node: string;
  readonly #pino: PinoLogger;

  constructor(node: string, level: LogLevel = 'info', options: LoggerOptions = {}) {
    this.node = node;
    const { sink } = options;
    const write = sink ?? stderrSink();
    const format = options.format ?? (sink === undefined ? defaultLogFormat() : 'json');
    let destination: DestinationStream = { write };
    if (format === 'pretty') {
      // prettyFactory turns one JSON line into text at once, so the write stays synchronous;
      // pino-pretty's stream form would buffer it.
      const prettify = prettyFactory({
        colorize: sink === undefined && process.stderr.isTTY === true,
        messageKey: 'event',
        messageFormat: '{node}: {event}',
        ignore: 'node',
        translateTime: 'SYS:HH:MM:ss.l',
      });
      destination = { write: (line: string) => write(prettify(line)) };
    }
    this.#pino = pino(
      {
        level,
        base: { node },
        // The event name is the message, so it is the line's `event` field.
        messageKey: 'event',
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: {
          level: (label) => ({ level: label }),
          log: describeErrorFields,
        },
        redact: { paths: [...REDACTED_LOG_PATHS], censor: REDACTED },
      },
      destination,
    );
  }

  debug(event: string, fields: Record<string, unknown> = {}): void {
    this.#pino.debug(fields, event);
  }

  info(event: string, fields: Record<string, unknown> = {}): void {
    this.#pino.info(fields, event);
  }

  warn(event: string, fields: Record<string, unknown> = {}): void {
    this.#pino.warn(fields, event);
  }

  error(event: string, fields: Record<string, unknown> = {}): void {
    this.#pino.error(fields, event);
  }
}

/** An event's fields with every error replaced by {@link describeError}'s fields. */
function describeErrorFields(fields: Record<string, unknown>): Record<string, unknown> {
  let described: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(fields)) {
    if (!(value instanceof Error)) continue;
    described ??= { ...fields };
    described[key] = describeError(value);
  }
  return described ?? fields;
}

/** An error as log fields: its name, code and message (no stack: one line per event). */
export function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, ...(code === undefined ? {} : { code }), message: error.message };
}
