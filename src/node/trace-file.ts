/**
 * The node's side of sequence tracing (`debug.traceFile` in the node configuration, or
 * `cretoai-node start --trace-vertex <file>`): every trace point of the engine becomes one JSON
 * line in a file, `{"node":"node-0","at":1764...,"step":"sent","sequence":12,"kind":"prepare",
 * "peer":"all"}` (`at` in microseconds since the Unix epoch).
 *
 * Lines are buffered and written together every 100 ms rather than one write per point, so that
 * tracing disturbs the timeline it records as little as it can; the rest is written at close.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TracePoint, Tracer } from '../engine/index.ts';

const FLUSH_INTERVAL_MS = 100;

export class TraceFile {
  readonly #node: string;
  readonly #fd: number;
  #lines: string[] = [];
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(file: string, node: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.#node = node;
    this.#fd = fs.openSync(file, 'a');
    this.#timer = setInterval(() => this.#flush(), FLUSH_INTERVAL_MS);
    this.#timer.unref();
  }

  readonly tracer: Tracer = (point: TracePoint): void => {
    if (this.#closed) return;
    this.#lines.push(JSON.stringify({ node: this.#node, ...point }));
  };

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearInterval(this.#timer);
    fs.closeSync(this.#fd);
  }

  #flush(): void {
    if (this.#lines.length === 0) return;
    const text = `${this.#lines.join('\n')}\n`;
    this.#lines = [];
    fs.writeSync(this.#fd, text);
  }
}
