/**
 * `npm run bench:alloc [-- --rate max --seconds 30 --record-seconds 10 --to leader --top 25 --long-lived]`
 *
 * What each node allocates under load, and where: starts a local cluster of node processes with
 * the inspector listening on loopback, drives the load of `cretoai-node bench` at one rate, and
 * in the middle of the run samples every node's allocations with V8's sampling heap profiler,
 * counting objects the collector has already freed too (the garbage is what costs the collector;
 * a profile of live objects alone would miss it). Prints per node the bytes allocated per
 * finalized vertex, then the functions that allocated most: by the innermost function of `src/`
 * on the stack (where to change the code) and by the allocating frame itself.
 *
 * With `--long-lived`, only what outlived the young generation counts (freed by a full
 * collection, or alive at the end): the objects a scavenge copies and the old generation marks,
 * where the collector's time goes, rather than the short-lived garbage a scavenge frees for free.
 *
 * The profiles stay in the printed directory, as `.heapprofile` files for Chrome DevTools.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { leaderApiUrl } from '../src/cli/commands/targets.ts';
import { initCluster } from '../src/cli/init.ts';
import { runLoad } from '../src/cli/load.ts';
import { LocalCluster } from '../src/cli/local-cluster.ts';

/** Mean bytes between two samples: small enough for a few thousand samples a second a node. */
const SAMPLING_INTERVAL_BYTES = 16 * 1024;

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface SamplingNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly SamplingNode[];
}

interface SamplingProfile {
  readonly head: SamplingNode;
}

/** A minimal client of the inspector protocol over the node's WebSocket. */
class Inspector {
  readonly #socket: WebSocket;
  readonly #waiting = new Map<number, (result: unknown) => void>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: unknown };
      if (message.id === undefined) return;
      const resolve = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (message.error !== undefined) throw new Error(`inspector: ${JSON.stringify(message.error)}`);
      resolve?.(message.result);
    });
  }

  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), {
        once: true,
      });
    });
    return new Inspector(socket);
  }

  call<R>(method: string, params: object = {}): Promise<R> {
    const id = this.#nextId++;
    const { promise, resolve } = Promise.withResolvers<unknown>();
    this.#waiting.set(id, resolve);
    this.#socket.send(JSON.stringify({ id, method, params }));
    return promise as Promise<R>;
  }

  close(): void {
    this.#socket.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      rate: { type: 'string', default: 'max' },
      seconds: { type: 'string', default: '30' },
      'record-seconds': { type: 'string', default: '10' },
      to: { type: 'string', default: 'leader' },
      top: { type: 'string', default: '25' },
      'payload-bytes': { type: 'string', default: '256' },
      'long-lived': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const nodes = Number(values.nodes);
  const seconds = Number(values.seconds);
  const recordSeconds = Number(values['record-seconds']);
  const rate = values.rate === 'max' ? 'max' : Number(values.rate);
  const longLived = values['long-lived'];
  if (!(recordSeconds > 0 && recordSeconds < seconds)) {
    throw new Error('--record-seconds must be positive and shorter than --seconds');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-alloc-'));
  await initCluster({ dir, nodes, transport: 'tcp' });
  const cluster = LocalCluster.open(dir, { env: { NODE_OPTIONS: '--inspect=127.0.0.1:0' } });
  // Each node prints its inspector's address on stderr as it starts, before its first log line.
  const inspectorUrls = new Map<number, string>();
  cluster.on('log', ({ index, line }) => {
    const text = typeof line.text === 'string' ? line.text : '';
    const match = /Debugger listening on (ws:\/\/\S+)/.exec(text);
    if (match !== null) inspectorUrls.set(index, match[1]!);
  });
  await cluster.startAll();
  const inspectors: Inspector[] = [];
  const profiles = new Map<number, SamplingProfile>();
  let finalized = 0;
  let leader = -1;
  try {
    for (let i = 0; i < nodes; i++) {
      const url = inspectorUrls.get(i);
      if (url === undefined) throw new Error(`node ${i} did not print its inspector's address`);
      inspectors.push(await Inspector.connect(url));
    }
    const leaderUrl = await leaderApiUrl(cluster.apiUrls);
    leader = cluster.apiUrls.indexOf(leaderUrl);
    const targets = values.to === 'leader' ? [leaderUrl] : cluster.apiUrls;
    const startIn = ((seconds - recordSeconds) / 2) * 1000;
    const recording = (async () => {
      await new Promise((resolve) => setTimeout(resolve, startIn));
      const before = await finalizedCount(cluster.apiUrls[0]!);
      await Promise.all(
        inspectors.map((inspector) =>
          inspector.call('HeapProfiler.startSampling', {
            samplingInterval: SAMPLING_INTERVAL_BYTES,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: !longLived,
          }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, recordSeconds * 1000));
      const stopped = await Promise.all(
        inspectors.map((inspector) =>
          inspector.call<{ profile: SamplingProfile }>('HeapProfiler.stopSampling'),
        ),
      );
      finalized = (await finalizedCount(cluster.apiUrls[0]!)) - before;
      for (const [i, { profile }] of stopped.entries()) profiles.set(i, profile);
    })();
    const report = await runLoad({
      nodes: targets,
      watch: cluster.apiUrls[0]!,
      rate,
      durationMs: seconds * 1000,
      warmupMs: 2000,
      payloadBytes: Number(values['payload-bytes']),
    });
    await recording;
    process.stderr.write(
      `alloc: ${report.finalizedPerSecond.toFixed(0)} finalized/s, p50 ${report.latency.p50Ms.toFixed(0)} ms, ` +
        `p99 ${report.latency.p99Ms.toFixed(0)} ms\n`,
    );
  } finally {
    for (const inspector of inspectors) inspector.close();
    await cluster.stopAll();
  }
  const top = Number(values.top);
  const what = longLived ? 'Allocations that outlived the young generation' : 'Allocations';
  let out = `${what}, sampled over ${recordSeconds} s while ${finalized} vertices were finalized\n`;
  for (const [i, profile] of profiles) {
    fs.writeFileSync(path.join(dir, `node-${i}.heapprofile`), JSON.stringify(profile));
    const role = i === leader ? 'leader' : i === (leader + 1) % nodes ? 'holder of the copies' : 'backup';
    const bySource = new Map<string, number>();
    const byFrame = new Map<string, number>();
    let total = 0;
    walk(profile.head, null, (node, source) => {
      if (node.selfSize === 0) return;
      total += node.selfSize;
      add(byFrame, frameName(node.callFrame), node.selfSize);
      add(
        bySource,
        source === null ? `[outside src] ${frameName(node.callFrame)}` : frameName(source),
        node.selfSize,
      );
    });
    const perVertex = finalized > 0 ? total / finalized : 0;
    out += `\nnode ${i} (${role}): ${(total / 2 ** 20).toFixed(0)} MiB, ${perVertex.toFixed(0)} bytes a finalized vertex\n`;
    out += table('  by the innermost function of src/', bySource, total, finalized, top);
    out += table('  by the allocating frame', byFrame, total, finalized, top);
  }
  fs.writeFileSync(path.join(dir, 'report.txt'), out);
  process.stdout.write(out);
  process.stderr.write(`alloc: profiles and report in ${dir}\n`);
}

/** The number of vertices node `url` has finalized, from its metrics. */
async function finalizedCount(url: string): Promise<number> {
  const response = await fetch(new URL('/metrics', url));
  const text = await response.text();
  const match = /^consensus_vertices_finalized_total\s+(\d+)/m.exec(text);
  if (match === null) throw new Error('the node exports no consensus_vertices_finalized_total');
  return Number(match[1]);
}

/** Visits every node with the innermost call frame of `src/` on its stack, or null. */
function walk(
  node: SamplingNode,
  source: CallFrame | null,
  visit: (node: SamplingNode, source: CallFrame | null) => void,
): void {
  const here = node.callFrame.url.includes('/src/') ? node.callFrame : source;
  visit(node, here);
  for (const child of node.children) walk(child, here, visit);
}

function add(table: Map<string, number>, key: string, bytes: number): void {
  table.set(key, (table.get(key) ?? 0) + bytes);
}

/** `name src/x.ts:12`, or the name alone for a builtin. */
function frameName(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  const where = frame.url.replace(/^file:\/\/\S*?\/(src|bench|node_modules)\//, '$1/');
  return `${name} ${where}:${frame.lineNumber + 1}`;
}

function table(
  title: string,
  bytes: Map<string, number>,
  total: number,
  finalized: number,
  top: number,
): string {
  let out = `${title}\n`;
  for (const [name, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const share = ((100 * size) / total).toFixed(1).padStart(6);
    const perVertex = (finalized > 0 ? size / finalized : 0).toFixed(0).padStart(6);
    out += `${share}% ${perVertex} B/vertex  ${name}\n`;
  }
  return out;
}

main().catch((error: unknown) => {
  process.stderr.write(`alloc: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
