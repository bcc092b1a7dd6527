/**
 * End to end with a real Prometheus server (Debian package `prometheus`): it scrapes a running
 * 4-node cluster of `cretoai-node start` processes on loopback with the shipped scrape
 * configuration (deploy/prometheus/prometheus.yml, only its targets and intervals replaced) and
 * evaluates the shipped alert rules, while the test submits load through the HTTP API. Then the
 * test asks Prometheus's HTTP API what an operator's dashboard would: every node's finalized
 * counter rose, and the finality quantiles computed from the histogram are plausible.
 *
 * Like promtool (test/support/promtool.ts): CI installs the package and a missing binary fails
 * the test there; on a developer machine without it the test is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { processCluster, submitAll, waitConverged } from '../node/process-cluster.ts';

const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus';
const shipped = path.join(import.meta.dirname, '../../deploy/prometheus');

/** The job name in the shipped prometheus.yml; the queries select on it. */
const JOB = 'cretoai-local';

/** Vertices submitted, and how fast: about ten seconds of load, so that Prometheus scrapes it ten times. */
const LOAD_VERTICES = 3000;
const LOAD_PER_SECOND = 300;

/** The window of the rate queries: it covers the whole load when asked right after it. */
const WINDOW = '30s';

/**
 * A quantile that falls in the +Inf bucket reads as the highest finite bucket bound (5 s), so a
 * strict bound below it also catches finality beyond the histogram's range.
 */
const FINALITY_BOUND_SECONDS = 5;

/** How long Prometheus may take to become ready, to see the targets up and the rules evaluated. */
const PROMETHEUS_WAIT_MS = 20_000;

/** The `skip` option: false under CI, so that a missing Prometheus fails there (as promtool does). */
function skipWithoutPrometheus(): string | false {
  if (process.env.CI) return false;
  const available = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8' }).status === 0;
  return available ? false : 'prometheus not installed (apt-get install prometheus)';
}

/** A port free on loopback now (bound to port 0, then released for Prometheus to take). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The shipped scrape configuration with only the targets and the intervals replaced. It is
 * edited as text because the project has no YAML parser and this test should not add one; each
 * edit must match exactly once, so a reshaped shipped file fails here rather than being
 * silently half-applied.
 */
function scrapeConfig(targets: readonly string[]): string {
  let text = fs.readFileSync(path.join(shipped, 'prometheus.yml'), 'utf8');
  const edits: readonly [RegExp, string][] = [
    [/^(\s*scrape_interval:) \S+$/gm, '$1 1s'],
    [/^(\s*evaluation_interval:) \S+$/gm, '$1 1s'],
    // A JSON array is a YAML flow sequence.
    [/^(\s*- targets:) \[.*\]$/gm, `$1 ${JSON.stringify(targets)}`],
  ];
  for (const [pattern, replacement] of edits) {
    assert.equal(text.match(pattern)?.length, 1, `prometheus.yml: ${pattern} should match once`);
    text = text.replace(pattern, replacement);
  }
  return text;
}

/** A running Prometheus server and its API base URL. */
interface PrometheusServer {
  readonly url: string;
  readonly child: ChildProcess;
  /** The end of its log (stderr), for failure messages. */
  log(): string;
  /** Why it could not be spawned (no such binary), or null. */
  spawnError(): Error | null;
}

/**
 * Spawns Prometheus on a free loopback port with `configFile`, storage in `dataDir`. It returns
 * as soon as the process exists, so that the caller holds its PID to stop it by before waiting
 * for it to be ready ({@link waitReady}), which can fail.
 */
async function spawnPrometheus(configFile: string, dataDir: string): Promise<PrometheusServer> {
  const port = await freePort();
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // Keep the last 16 KiB of the log: enough to say why it did not start.
  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    log = (log + text).slice(-16_384);
  });
  let spawnError: Error | null = null;
  child.on('error', (error) => {
    spawnError = error;
  });
  return { url: `http://127.0.0.1:${port}`, child, log: () => log, spawnError: () => spawnError };
}

/** Resolves once Prometheus answers `/-/ready`; throws at once if it could not start or exited. */
async function waitReady(prometheus: PrometheusServer): Promise<void> {
  await poll('Prometheus to be ready', PROMETHEUS_WAIT_MS, async () => {
    const spawnError = prometheus.spawnError();
    if (spawnError !== null) throw new Error(`${PROMETHEUS} could not be started: ${spawnError}`);
    if (prometheus.child.exitCode !== null)
      throw new Error(`prometheus exited with ${prometheus.child.exitCode}:\n${prometheus.log()}`);
    const ready = await fetch(`${prometheus.url}/-/ready`).catch(() => null);
    return ready?.status === 200 ? true : undefined;
  });
}

/** Stops Prometheus by its PID: SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function stopPrometheus(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Calls `check` every 250 ms until it returns a value other than undefined, and returns that;
 * throws with `what` once `timeoutMs` has passed. A throw from `check` ends the wait at once.
 */
async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** One series of an instant-vector query result. */
interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

/** An instant query through `/api/v1/query`; throws on anything but a vector result. */
async function query(prometheus: PrometheusServer, expr: string): Promise<Sample[]> {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== 'success' || body.data?.resultType !== 'vector')
    throw new Error(`query ${expr} failed: ${body.error ?? JSON.stringify(body)}`);
  return body.data.result.map((series) => ({ metric: series.metric, value: Number(series.value[1]) }));
}

/** A query's samples by their `instance` label. */
function byInstance(samples: readonly Sample[]): Map<string, number> {
  return new Map(samples.map((sample) => [sample.metric.instance ?? '', sample.value]));
}

/** The value of the unlabelled `consensus_vertices_finalized_total` in a node's own `/metrics`. */
async function nodeFinalizedTotal(apiUrl: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const line = /^consensus_vertices_finalized_total (\S+)$/m.exec(text);
  assert.ok(line !== null, `${apiUrl}/metrics has no consensus_vertices_finalized_total`);
  return Number(line[1]);
}

test('a real Prometheus scraping a 4-node cluster with the shipped configuration sees every node finalize and computes the finality quantiles', {
  skip: skipWithoutPrometheus(),
  timeout: 120_000,
}, async (t) => {
  const cluster = await processCluster(t);
  const targets = cluster.apiUrls.map((url) => new URL(url).host);

  // Prometheus's own directory, removed only after it has exited (a temp-dir hook registered
  // first would run first and pull the database from under the running server).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-prometheus-'));
  let child: ChildProcess | null = null;
  t.after(async () => {
    if (child !== null) await stopPrometheus(child);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, scrapeConfig(targets));
  // The shipped configuration names its rule file relative to itself: put it beside.
  fs.copyFileSync(path.join(shipped, 'alerts.yml'), path.join(dir, 'alerts.yml'));
  const prometheus = await spawnPrometheus(configFile, path.join(dir, 'data'));
  child = prometheus.child;
  await waitReady(prometheus);

  // Every target is scraped, with the shipped job name and static label.
  const up = await poll('all four targets up', PROMETHEUS_WAIT_MS, async () => {
    const samples = await query(prometheus, `up{job="${JOB}"}`);
    return samples.length === targets.length && samples.every((sample) => sample.value === 1)
      ? samples
      : undefined;
  });
  assert.deepEqual([...byInstance(up).keys()].sort(), [...targets].sort());
  for (const sample of up) assert.equal(sample.metric.cretoai_cluster, 'local');

  // The shipped alert rules are loaded and evaluate without error against live series.
  const rules = await poll('the alert rules evaluated', PROMETHEUS_WAIT_MS, async () => {
    const body = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const all = body.data.groups.flatMap((group) => group.rules);
    return all.length > 0 && all.every((rule) => rule.health !== 'unknown') ? all : undefined;
  });
  assert.equal(rules.length, 9, rules.map((rule) => rule.name).join(', '));
  for (const rule of rules) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);

  const loadStarted = performance.now();
  await submitAll({ cluster, total: LOAD_VERTICES, perSecond: LOAD_PER_SECOND, label: 'prometheus e2e' });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  await waitConverged(cluster, 30_000);

  // Prometheus scrapes once a second: wait until it has seen the counter move on every node.
  const increases = await poll('the finalized counter to rise on every node', 10_000, async () => {
    const samples = byInstance(
      await query(prometheus, `increase(consensus_vertices_finalized_total{job="${JOB}"}[${WINDOW}])`),
    );
    return targets.every((target) => (samples.get(target) ?? 0) > 0) ? samples : undefined;
  });

  // What Prometheus last scraped is never ahead of what the node reports right after.
  const scraped = byInstance(await query(prometheus, `consensus_vertices_finalized_total{job="${JOB}"}`));
  const reported = await Promise.all(cluster.apiUrls.map((url) => nodeFinalizedTotal(url)));

  const quantile = async (q: number): Promise<number> => {
    const samples = await query(
      prometheus,
      `histogram_quantile(${q}, sum by (le) (rate(consensus_finality_time_seconds_bucket{job="${JOB}"}[${WINDOW}])))`,
    );
    assert.equal(samples.length, 1, `one quantile ${q} over the cluster`);
    return samples[0]!.value;
  };
  const p50 = await quantile(0.5);
  const p99 = await quantile(0.99);

  // The cluster is quiet now: within a few scrapes Prometheus holds exactly what each node reports.
  // The nodes are read again each time: a batch in flight when they converged may still finalize.
  let lastSeen = '';
  const caughtUp = await poll('Prometheus to catch up with the nodes', 15_000, async () => {
    const samples = byInstance(await query(prometheus, `consensus_vertices_finalized_total{job="${JOB}"}`));
    const now = await Promise.all(cluster.apiUrls.map((url) => nodeFinalizedTotal(url)));
    lastSeen = targets
      .map((target, index) => `${target} scraped ${samples.get(target)}, reports ${now[index]}`)
      .join('; ');
    return targets.every((target, index) => samples.get(target) === now[index]) ? samples : undefined;
  }).catch((error: Error) => {
    throw new Error(`${error.message} (last seen: ${lastSeen})`);
  });

  console.log(
    `# ${LOAD_VERTICES} vertices submitted in ${loadSeconds.toFixed(1)} s; Prometheus ${prometheus.url}, scrape interval 1s`,
  );
  for (const [index, target] of targets.entries()) {
    console.log(
      `# ${cluster.nodeId(index)} (${target}): consensus_vertices_finalized_total scraped ${scraped.get(target)}, node reports ${reported[index]}, scraped later ${caughtUp.get(target)}; increase[${WINDOW}] ${increases.get(target)?.toFixed(1)}`,
    );
  }
  console.log(
    `# histogram_quantile over sum by (le) (rate(consensus_finality_time_seconds_bucket[${WINDOW}])): p50 ${(p50 * 1000).toFixed(1)} ms, p99 ${(p99 * 1000).toFixed(1)} ms`,
  );

  for (const [index, target] of targets.entries()) {
    const value = scraped.get(target);
    assert.ok(value !== undefined && value > 0, `${target}: Prometheus has a finalized total`);
    assert.ok(value <= reported[index]!, `${target}: scraped ${value} > reported ${reported[index]}`);
  }
  for (const [name, value] of [
    ['p50', p50],
    ['p99', p99],
  ] as const) {
    assert.ok(
      Number.isFinite(value) && value > 0 && value < FINALITY_BOUND_SECONDS,
      `${name} finality ${value} s should be in (0, ${FINALITY_BOUND_SECONDS})`,
    );
  }
  assert.ok(p50 <= p99, `p50 ${p50} s <= p99 ${p99} s`);
});
