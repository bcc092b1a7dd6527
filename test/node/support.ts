/**
 * Helpers for the node, client and CLI tests: cluster directories made by `init` in a temporary
 * directory, nodes started in this process with their logs kept, HTTP calls, and an event-stream
 * reader that resolves when what a test waits for has arrived (never after a fixed sleep).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type InitializedCluster, type InitOptions, initCluster } from '../../src/cli/init.ts';
import type { FinalizedEvent } from '../../src/client/api.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import { Logger } from '../../src/node/log.ts';
import type { LogLimiterOptions } from '../../src/node/log-limiter.ts';
import { CretoaiNode } from '../../src/node/node.ts';

/** A fresh directory under the system temp directory, removed when the test ends. */
export function tempDir(t: TestContext | { after(fn: () => void): void }, prefix = 'cretoai-node-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A cluster directory (keys, cluster file, node configurations) for `nodes` validators. */
export async function clusterDir(
  t: TestContext | { after(fn: () => void): void },
  nodes: number,
  options: Partial<InitOptions> = {},
): Promise<InitializedCluster> {
  return initCluster({ dir: path.join(tempDir(t), 'cluster'), nodes, ...options });
}

/** Rewrites node `index`'s configuration file with `edit`. */
export function editConfig(
  cluster: InitializedCluster,
  index: number,
  edit: (config: Record<string, unknown>) => void,
): void {
  const file = cluster.configFiles[index]!;
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(config);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
}

/** A node in this process, with its log lines kept instead of printed. */
export interface TestNode {
  readonly node: CretoaiNode;
  readonly url: string;
  readonly log: Record<string, unknown>[];
}

/** Starts node `index` of `cluster` in this process; it is stopped when the test ends. */
export async function startNode(
  t: TestContext | { after(fn: () => Promise<void>): void },
  cluster: InitializedCluster,
  index: number,
  options: { readonly limitedLog?: LogLimiterOptions } = {},
): Promise<TestNode> {
  const settings = loadNodeSettings(cluster.configFiles[index]!);
  const log: Record<string, unknown>[] = [];
  const logger = new Logger(settings.nodeId, 'debug', { sink: (line) => log.push(JSON.parse(line)) });
  const node = await CretoaiNode.start(settings, { logger, ...options });
  t.after(() => node.stop());
  return { node, url: node.httpUrl, log };
}

/** An HTTP answer, its body parsed as JSON when it is JSON. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever fields they check.
  readonly body: any;
  readonly text: string;
}

/** One HTTP request with fetch. */
export async function call(
  url: string,
  init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await response.text();
  let body: unknown = null;
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) body = JSON.parse(text);
  return { status: response.status, headers: response.headers, body, text };
}

/** POSTs a JSON body. */
export function postJson(url: string, body: unknown): Promise<Answer> {
  return call(url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

/** An open `GET /v1/events` stream collecting finalized events. */
export interface EventReader {
  readonly events: FinalizedEvent[];
  /** Resolves once `predicate` holds for the events so far (checked on every new event). */
  until(predicate: (events: readonly FinalizedEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens the event stream of the node at `url`. */
export function readEvents(url: string, query = ''): Promise<EventReader> {
  return new Promise((resolve, reject) => {
    const events: FinalizedEvent[] = [];
    const waiters = new Set<() => void>();
    const request = http.get(`${url}/v1/events${query}`, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`event stream refused: ${response.statusCode}`));
        return;
      }
      response.setEncoding('utf8');
      let pending = '';
      response.on('data', (text: string) => {
        pending += text;
        const blocks = pending.split('\n\n');
        pending = blocks.pop() ?? '';
        for (const block of blocks) {
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          if (data !== undefined) events.push(JSON.parse(data.slice(6)) as FinalizedEvent);
        }
        for (const waiter of [...waiters]) waiter();
      });
      response.on('error', () => undefined);
      resolve({
        events,
        until(predicate, timeoutMs = 30_000) {
          if (predicate(events)) return Promise.resolve();
          return new Promise<void>((done, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(
                new Error(
                  `the event stream did not deliver what was awaited within ${timeoutMs} ms (${events.length} events)`,
                ),
              );
            }, timeoutMs);
            const check = (): void => {
              if (!predicate(events)) return;
              clearTimeout(timer);
              waiters.delete(check);
              done();
            };
            waiters.add(check);
          });
        },
        close: () => request.destroy(),
      });
    });
    request.on('error', reject);
  });
}
