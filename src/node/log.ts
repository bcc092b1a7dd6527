/**
 * Structured logs: one JSON object per line, one line per event, on stderr (stdout stays free
 * for what a command prints). Every line has `time`, `level`, `node` and `event`; the rest are
 * the event's fields. Log shippers and `jq` read it as it is.
 */
import type { LogLevel } from './config.ts';

const RANK: Readonly<Record<LogLevel, number>> = Object.freeze({ debug: 10, info: 20, warn: 30, error: 40 });

/** Where lines go; by default stderr. */
export type LogSink = (line: string) => void;

export class Logger {
  readonly node: string;
  readonly #minimum: number;
  readonly #sink: LogSink;

  constructor(node: string, level: LogLevel = 'info', sink: LogSink = (line) => process.stderr.write(line)) {
    this.node = node;
    this.#minimum = RANK[level];
    this.#sink = sink;
  }

  debug(event: string, fields: Record<string, unknown> = {}): void {
    this.#log('debug', event, fields);
  }

  info(event: string, fields: Record<string, unknown> = {}): void {
    this.#log('info', event, fields);
  }

  warn(event: string, fields: Record<string, unknown> = {}): void {
    this.#log('warn', event, fields);
  }

  error(event: string, fields: Record<string, unknown> = {}): void {
    this.#log('error', event, fields);
  }

  #log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    if (RANK[level] < this.#minimum) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, node: this.node, event };
    for (const [key, value] of Object.entries(fields))
      line[key] = value instanceof Error ? describeError(value) : value;
    this.#sink(`${JSON.stringify(line)}\n`);
  }
}

/** An error as log fields: its name, code and message (no stack: one line per event). */
export function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, ...(code === undefined ? {} : { code }), message: error.message };
}
