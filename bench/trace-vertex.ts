/**
 * `npm run bench:trace [-- --nodes 4 --vertices 100 --gap-ms 20 --transport tcp --to leader]`
 *
 * Where a lone vertex's time goes: starts a local cluster of node processes with sequence
 * tracing on (`debug.traceFile`), submits vertices one at a time over HTTP (each after the
 * previous one was final and `--gap-ms` more), hears of finality from the leader's event
 * stream, then merges the nodes' trace files into one timeline of median offsets from the
 * submission (see `src/cli/trace-timeline.ts`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initCluster } from '../src/cli/init.ts';
import { openEventStream } from '../src/cli/load.ts';
import { LocalCluster } from '../src/cli/local-cluster.ts';
import {
  buildTimeline,
  formatTimeline,
  type NodeTracePoint,
  type TraceSample,
} from '../src/cli/trace-timeline.ts';
import { BftClient } from '../src/client/client.ts';
import { traceNow } from '../src/engine/trace.ts';
import { jsonAgent, postJson } from './http-json.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      vertices: { type: 'string', default: '100' },
      'gap-ms': { type: 'string', default: '20' },
      'payload-bytes': { type: 'string', default: '256' },
      transport: { type: 'string', default: 'tcp' },
      to: { type: 'string', default: 'leader' },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const nodes = positive('nodes', values.nodes);
  const count = positive('vertices', values.vertices);
  const gapMs = Number(values['gap-ms']);
  const payloadBytes = positive('payload-bytes', values['payload-bytes']);
  const transport = values.transport === 'quic' ? 'quic' : 'tcp';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-trace-'));
  await initCluster({ dir, nodes, transport });
  const traceFiles: string[] = [];
  for (const entry of fs.readdirSync(dir)) {
    if (!/^node-\d+\.json$/.test(entry)) continue;
    const file = path.join(dir, entry);
    const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const traceFile = path.join(dir, 'traces', entry.replace('.json', '.jsonl'));
    traceFiles.push(traceFile);
    config.debug = { ...(config.debug as object | undefined), traceFile };
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
  }
  const cluster = LocalCluster.open(dir);
  process.stderr.write(`trace: ${nodes} nodes (${transport}) in ${dir}\n`);
  await cluster.startAll();
  const samples: TraceSample[] = [];
  try {
    const urls = cluster.apiUrls;
    const client = new BftClient({ nodes: urls });
    const status = await client.status(urls[0]);
    let target = urls[0]!;
    if (values.to === 'leader') {
      for (const url of urls) if ((await client.status(url)).nodeId === status.leader) target = url;
    } else if (values.to !== 'backup') {
      throw new Error(`--to must be leader or backup, got '${values.to}'`);
    } else {
      for (const url of urls) if ((await client.status(url)).nodeId !== status.leader) target = url;
    }
    // Finality may be heard before the 202 answer: remember every final vertex as it comes.
    const finals = new Map<string, { sequence: number; finalAt: number }>();
    let onFinal: () => void = () => undefined;
    const stream = await openEventStream(target, (hash, sequence) => {
      finals.set(hash, { sequence, finalAt: traceNow() });
      onFinal();
    });
    process.stderr.write(`trace: ${count} vertices to ${target}, one at a time\n`);
    for (let i = 0; i < count; i++) {
      const payload = randomBytes(payloadBytes).toString('base64');
      const submittedAt = traceNow();
      const hash = await postOne(target, payload);
      const deadline = Date.now() + 10_000;
      while (!finals.has(hash)) {
        if (Date.now() > deadline) throw new Error(`vertex ${hash} was not final within 10 s`);
        await new Promise<void>((resolve) => {
          onFinal = resolve;
          setTimeout(resolve, 100);
        });
      }
      const { sequence, finalAt } = finals.get(hash)!;
      samples.push({ sequence, submittedAt, finalAt });
      await sleep(gapMs);
    }
    stream.close();
  } finally {
    await cluster.stopAll();
  }
  const points: NodeTracePoint[] = [];
  for (const file of traceFiles) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (line !== '') points.push(JSON.parse(line) as NodeTracePoint);
    }
  }
  const validators = cluster.cluster.validators.map((validator) => validator.nodeId);
  for (const line of formatTimeline(buildTimeline(points, samples, validators)))
    process.stdout.write(`${line}\n`);
  if (values.keep) process.stderr.write(`trace: kept ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
}

/** Submits one vertex; resolves with its hash once the node accepted it (202). */
async function postOne(node: string, payload: string): Promise<string> {
  const answer = await postJson(`${node}/v1/vertices`, { payload }, agent);
  if (answer.status !== 202)
    throw new Error(`${node} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return (answer.body as { hash: string }).hash;
}

const agent = jsonAgent(1);

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} must be a positive integer, got '${text}'`);
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().catch((error: unknown) => {
  process.stderr.write(`trace: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
