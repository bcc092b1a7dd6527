/**
 * Bench output: a table on stdout, the same figures as JSON in a file, and a progress line
 * on stderr while long runs go (rewritten in place on a terminal, a line every few seconds
 * otherwise, so CI logs stay short).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface BenchRow {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly p50Ms?: number;
  readonly p999Ms?: number;
  readonly note?: string;
}

const format = (value: number | undefined, digits = 3): string =>
  value === undefined || Number.isNaN(value)
    ? '-'
    : value.toLocaleString('en-US', { maximumFractionDigits: digits });

export function printTable(title: string, rows: readonly BenchRow[]): void {
  const header = ['benchmark', 'ops/s', 'mean ms', 'p50 ms', 'p99 ms', 'p999 ms', 'note'];
  const body = rows.map((row) => [
    row.name,
    format(row.opsPerSecond, 0),
    format(row.meanMs),
    format(row.p50Ms),
    format(row.p99Ms),
    format(row.p999Ms),
    row.note ?? '',
  ]);
  const widths = header.map((cell, i) => Math.max(cell.length, ...body.map((line) => line[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) =>
        i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
      )
      .join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const cells of body) console.log(line(cells));
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** A progress line for a long run. */
export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #lastPrinted = 0;

  update(text: string): void {
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
      return;
    }
    const now = performance.now();
    if (now - this.#lastPrinted < 5000) return;
    this.#lastPrinted = now;
    process.stderr.write(`${text}\n`);
  }

  done(text: string): void {
    if (this.#tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`${text}\n`);
    this.#lastPrinted = 0;
  }
}
