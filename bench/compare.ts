/**
 * `npm run bench:compare [-- --seconds 10 --warmup 2 --clients 256 --value-bytes 256 --json out.json]`
 * (`--only etcd` or `--only cretoai` runs one system; `--keep` keeps the data and logs)
 *
 * What BFT costs over Raft: a 3-member etcd (Debian's etcd-server, installed when missing,
 * with its durable defaults) and a 4-node cretoai cluster, each on loopback, one after the
 * other, under the same closed-loop load: one client with one put at a time, then many
 * clients. Prints ops/s and latency of each, the ratios, and what differs besides.
 *
 * Everything it starts (etcd members, node processes, a temporary directory) is stopped and
 * removed however the run ends, on SIGINT and SIGTERM too; `--keep` keeps the directory.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Io, launchLocalCluster, stopLocalCluster } from '../src/cli/cluster-commands.ts';
import { initCluster } from '../src/cli/init.ts';
import type { LocalCluster } from '../src/cli/local-cluster.ts';
import { BftClient } from '../src/client/client.ts';
import { type ClosedLoopSummary, type PutFunction, runClosedLoop } from './closed-loop.ts';
import {
  formatComparison,
  type RunFacts,
  ratiosOf,
  type ScenarioResult,
  SYSTEMS,
  type System,
  whatDiffers,
  wrap,
} from './compare-report.ts';
import { openCretoaiPut } from './cretoai-put.ts';
import { EtcdCluster, ensureEtcd, etcdPut, etcdVersion } from './etcd-cluster.ts';
import { jsonAgent } from './http-json.ts';
import { writeJson } from './report.ts';

const ETCD_MEMBERS = 3;
const CRETOAI_NODES = 4;
/** The bytes of a value that make it unique: run id (6), scenario (2), client (4), request (4). */
const VALUE_ID_BYTES = 16;

interface Settings {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly clients: number;
  readonly valueBytes: number;
  readonly json: string | undefined;
  readonly keep: boolean;
  readonly systems: readonly System[];
}

function parseSettings(): Settings {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      clients: { type: 'string', default: '256' },
      'value-bytes': { type: 'string', default: '256' },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      only: { type: 'string' },
    },
    strict: true,
  });
  const whole = (name: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw new Error(`--${name} must be a whole number from ${min} to ${max}, got '${text}'`);
    return value;
  };
  const seconds = whole('seconds', values.seconds, 1, 3600);
  const warmupSeconds = whole('warmup', values.warmup, 0, 600);
  const systems = (values.only?.split(',') ?? [...SYSTEMS]).map((name) => {
    if (name !== 'etcd' && name !== 'cretoai')
      throw new Error(`--only takes etcd and/or cretoai, got '${name}'`);
    return name;
  });
  return {
    seconds,
    warmupSeconds,
    // One connection per client to one node: the node's default connection cap is 1,024.
    clients: whole('clients', values.clients, 1, 1000),
    valueBytes: whole('value-bytes', values['value-bytes'], VALUE_ID_BYTES, 1 << 20),
    json: values.json,
    keep: values.keep,
    systems,
  };
}

const io: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
const log = (line: string): void => io.err(`compare: ${line}`);

/** What is running and must be stopped, however the run ends. */
const running: { etcd: EtcdCluster | null; cretoai: LocalCluster | null; dir: string | null; keep: boolean } =
  {
    etcd: null,
    cretoai: null,
    dir: null,
    keep: false,
  };

async function stopEverything(): Promise<void> {
  const { etcd, cretoai } = running;
  running.etcd = null;
  running.cretoai = null;
  await Promise.all([etcd?.stop(), cretoai === null ? undefined : stopLocalCluster(cretoai)]);
  removeDir();
}

function removeDir(): void {
  if (running.dir === null || running.keep) return;
  fs.rmSync(running.dir, { recursive: true, force: true });
  running.dir = null;
}

/** The last resort of an exiting process: it cannot wait, so what still runs is killed. */
function killEverything(): void {
  running.etcd?.killNow();
  const cretoai = running.cretoai;
  for (let index = 0; cretoai !== null && index < cretoai.size; index++) {
    const pid = cretoai.pid(index);
    if (pid === null) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  removeDir();
}

function onSignal(signal: NodeJS.Signals): void {
  const status = signal === 'SIGINT' ? 130 : 143;
  if (stopping) process.exit(status);
  stopping = true;
  log(`${signal}: stopping etcd and the nodes and removing what this run made...`);
  stopEverything().finally(() => process.exit(status));
}
let stopping = false;

/**
 * Each put's key and value, alike for both systems: the value starts with the run, scenario,
 * client and request (so no two are alike: cretoai finalizes a payload once) and is filled
 * with random bytes, the same for every value, so that compression cannot shrink it.
 */
function itemsOf(
  valueBytes: number,
): (scenario: number) => (client: number, request: number) => { key: Uint8Array; value: Uint8Array } {
  const runId = randomBytes(6);
  const filler = randomBytes(valueBytes);
  return (scenario) => (client, request) => {
    const value = Buffer.from(filler);
    runId.copy(value, 0);
    value.writeUInt16BE(scenario, 6);
    value.writeUInt32BE(client, 8);
    value.writeUInt32BE(request, 12);
    const key = Buffer.from(`bench-compare/${runId.toString('hex')}/${scenario}/${client}/${request}`);
    return { key, value };
  };
}

async function runScenario(
  system: System,
  clients: number,
  settings: Settings,
  put: PutFunction,
): Promise<ScenarioResult> {
  log(
    `${system}: ${clients === 1 ? 'one client' : `${clients} clients`}, one put at a time each, ` +
      `${settings.warmupSeconds + settings.seconds} s (${settings.warmupSeconds} s warm-up)...`,
  );
  const summary: ClosedLoopSummary = await runClosedLoop({
    clients,
    durationMs: (settings.warmupSeconds + settings.seconds) * 1000,
    warmupMs: settings.warmupSeconds * 1000,
    put,
  });
  log(
    `${system}: ${summary.opsPerSecond.toFixed(0)} ops/s, p50 ${summary.latency.p50Ms.toFixed(2)} ms, ` +
      `p99 ${summary.latency.p99Ms.toFixed(2)} ms${summary.failed > 0 ? `, ${summary.failed} failed` : ''}`,
  );
  return { system, clients, summary };
}

async function benchEtcd(
  settings: Settings,
  scenarios: readonly number[],
  items: ReturnType<typeof itemsOf>,
): Promise<{ results: ScenarioResult[]; version: string }> {
  const binary = await ensureEtcd(log);
  const version = await etcdVersion(binary);
  log(`starting ${ETCD_MEMBERS} etcd ${version} members (${binary}) on loopback, etcd's defaults...`);
  running.etcd = await EtcdCluster.start({
    binary,
    dir: path.join(running.dir!, 'etcd'),
    members: ETCD_MEMBERS,
  });
  const leader = await running.etcd.leaderUrl();
  log(`etcd: healthy, leader ${leader}`);
  const results: ScenarioResult[] = [];
  for (const [scenario, clients] of scenarios.entries()) {
    const agent = jsonAgent(clients);
    try {
      results.push(await runScenario('etcd', clients, settings, etcdPut(leader, agent, items(scenario))));
    } finally {
      agent.destroy();
    }
  }
  await running.etcd.stop();
  running.etcd = null;
  return { results, version };
}

async function benchCretoai(
  settings: Settings,
  scenarios: readonly number[],
  items: ReturnType<typeof itemsOf>,
): Promise<ScenarioResult[]> {
  const dir = path.join(running.dir!, 'cretoai');
  const created = await initCluster({ dir, nodes: CRETOAI_NODES, transport: 'tcp' });
  // Every client connects from 127.0.0.1, as clients behind a proxy do: the per-address cap
  // must let them all in, as the node configuration advises for a proxy.
  for (const file of created.configFiles) {
    const config = JSON.parse(fs.readFileSync(file, 'utf8')) as { http: Record<string, unknown> };
    config.http.connectionsPerAddressMax = Math.max(64, settings.clients + 16);
    fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  }
  log(`starting ${CRETOAI_NODES} cretoai node processes on loopback, as cretoai-node bench does...`);
  running.cretoai = await launchLocalCluster({ dir, nodes: CRETOAI_NODES, transport: 'tcp', io });
  const urls = running.cretoai.apiUrls;
  const leaderId = (await new BftClient({ nodes: urls }).status(urls[0])).leader;
  const leader = running.cretoai.cluster.validators.find((validator) => validator.nodeId === leaderId)?.api;
  if (leader === undefined) throw new Error(`the leader ${leaderId} has no API URL`);
  log(`cretoai: serving, leader ${leaderId} at ${leader}`);
  const results: ScenarioResult[] = [];
  for (const [scenario, clients] of scenarios.entries()) {
    const agent = jsonAgent(clients);
    const item = items(scenario);
    const opened = await openCretoaiPut({
      node: leader,
      agent,
      payloadOf: (client, request) => item(client, request).value,
    });
    try {
      results.push(await runScenario('cretoai', clients, settings, opened.put));
    } finally {
      opened.close();
      agent.destroy();
    }
  }
  const cluster = running.cretoai;
  running.cretoai = null;
  await stopLocalCluster(cluster);
  return results;
}

async function main(): Promise<void> {
  const settings = parseSettings();
  running.keep = settings.keep;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killEverything);
  running.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-compare-'));
  log(`working in ${running.dir}${settings.keep ? ' (kept afterwards)' : ''}`);

  const scenarios = settings.clients === 1 ? [1] : [1, settings.clients];
  const items = itemsOf(settings.valueBytes);
  const results: ScenarioResult[] = [];
  let version = 'not run';
  try {
    if (settings.systems.includes('etcd')) {
      const etcd = await benchEtcd(settings, scenarios, items);
      results.push(...etcd.results);
      version = etcd.version;
    }
    if (settings.systems.includes('cretoai'))
      results.push(...(await benchCretoai(settings, scenarios, items)));
  } finally {
    await stopEverything();
  }

  const facts: RunFacts = {
    etcdVersion: version,
    etcdMembers: ETCD_MEMBERS,
    cretoaiNodes: CRETOAI_NODES,
    valueBytes: settings.valueBytes,
    cpus: os.availableParallelism(),
  };
  io.out(
    `bench:compare: etcd ${version}, ${ETCD_MEMBERS} members vs cretoai, ${CRETOAI_NODES} nodes; ` +
      `${settings.valueBytes}-byte values; closed loop, ${settings.seconds} s measured after ` +
      `${settings.warmupSeconds} s warm-up; latency = request sent to etcd's answer / to finality ` +
      `at the cretoai leader; ${facts.cpus} CPUs`,
  );
  io.out('');
  for (const line of formatComparison(results)) io.out(line);
  io.out('');
  io.out('What differs:');
  for (const paragraph of whatDiffers(facts)) {
    for (const line of wrap(paragraph, 98)) io.out(`  ${line}`);
    io.out('');
  }
  if (settings.json !== undefined) {
    const { json, ...figures } = settings;
    writeJson(json, {
      date: new Date().toISOString(),
      node: process.version,
      settings: figures,
      facts,
      results,
      ratios: ratiosOf(results),
    });
    log(`figures written to ${json}`);
  }
}

main().catch(async (error: unknown) => {
  // Once a signal is stopping the run, the failures it causes are no news.
  if (stopping) return;
  io.err(`compare: ${error instanceof Error ? error.message : String(error)}`);
  await stopEverything().catch(() => undefined);
  process.exitCode = 1;
});
