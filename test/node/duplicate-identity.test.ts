/**
 * Two processes with one identity (the operator's report: node-0's key started a second time,
 * with another data directory and ports, made some 1,600 reconnections in 20 s and 474 KB of
 * info logs, with no warning). Against four node processes, a fifth started with node-0's key:
 * the other nodes warn with both addresses, show it in status and metrics, refuse the later
 * process instead of handing the link back and forth (reconnections stay a handful, counted by
 * the transports' own counters), and the cluster keeps finalizing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { initCluster } from '../../src/cli/init.ts';
import { LocalCluster, type LogLine } from '../../src/cli/local-cluster.ts';
import type { StatusResponse } from '../../src/client/api.ts';
import { BftClient } from '../../src/client/client.ts';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import { spawnCli } from '../cli/support.ts';
import { call, tempDir } from './support.ts';

/** The value of one sample of a node's exposition (`name` with its labels as printed), or 0. */
async function sample(url: string, series: string): Promise<number> {
  const text = (await call(`${url}/metrics`)).text;
  const line = text.split('\n').find((each) => each.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Connections established or replaced at the nodes of `urls`, in all. */
async function reconnections(urls: readonly string[]): Promise<number> {
  let total = 0;
  for (const url of urls) {
    total += await sample(url, 'cretoai_transport_connections_total{event="established"}');
    total += await sample(url, 'cretoai_transport_connections_total{event="replaced"}');
  }
  return total;
}

describe('two processes with one key', { timeout: 120_000 }, () => {
  it('are detected, reported with both addresses, refused rather than swapped, and the cluster finalizes', async (t) => {
    const dir = path.join(tempDir(t, 'cretoai-duplicate-'), 'cluster');
    await initCluster({ dir, nodes: 4, nodeConfig: () => ({ shutdownDrainMs: 0 }) });
    const cluster = LocalCluster.open(dir, { startTimeoutMs: 30_000, stopTimeoutMs: 10_000 });
    const warnings: { index: number; line: LogLine }[] = [];
    const { promise: warned, resolve: onWarned } = Promise.withResolvers<void>();
    cluster.on('log', (entry) => {
      if (entry.line.event !== 'duplicate-identity') return;
      warnings.push(entry);
      onWarned();
    });
    // A node that exits before the test is over, with the end of its log.
    const exits: string[] = [];
    let over = false;
    cluster.on('exit', ({ index, code, signal }) => {
      if (over) return;
      const tail = fs
        .readFileSync(cluster.logFile(index), 'utf8')
        .trimEnd()
        .split('\n')
        .filter((l) => /store-damaged/.test(l))
        .join('\n');
      exits.push(`${cluster.nodeId(index)} exited (${signal ?? code}):\n${tail}`);
    });
    t.after(() => cluster.stopAll());
    await cluster.startAll();
    const others = cluster.apiUrls.slice(1);

    // node-0's key again: another data directory, consensus and HTTP ports.
    const config = JSON.parse(fs.readFileSync(cluster.configFile(0), 'utf8')) as Record<string, unknown>;
    const duplicateConfig = path.join(dir, 'node-0-duplicate.json');
    fs.writeFileSync(
      duplicateConfig,
      JSON.stringify({
        ...config,
        dataDir: 'data/node-0-duplicate',
        listen: '127.0.0.1:0',
        http: { listen: '127.0.0.1:0' },
      }),
    );
    const duplicate = spawnCli(['start', '--config', duplicateConfig]);
    t.after(async () => {
      if (duplicate.child.exitCode === null) {
        duplicate.child.kill('SIGKILL');
        await duplicate.exited;
      }
    });
    await duplicate.waitFor(/"event":"node-started"/, 'stderr');

    // A warning, with both addresses.
    await warned;
    const [{ index, line }] = warnings as [{ index: number; line: LogLine }];
    assert.notEqual(index, 0);
    assert.equal(line.level, 'warn');
    assert.equal(line.peer, 'node-0');
    assert.match(String(line.message), /two processes are running with node-0's key: one at .+, one at .+/);
    assert.notEqual(line.address, line.duplicateAddress);

    // In status and in the metrics of the node that saw it.
    const url = cluster.apiUrls[index]!;
    const status = (await call(`${url}/v1/status`)).body as StatusResponse;
    const [reported] = status.duplicateIdentities;
    assert.equal(reported?.peer, 'node-0');
    assert.ok(reported.detections >= 1);
    assert.notEqual(reported.address, reported.duplicateAddress);
    assert.ok((await sample(url, 'cretoai_transport_duplicate_identity_detections_total')) >= 1);

    // The later process is refused, and it is told why.
    await duplicate.waitFor(/"event":"duplicate-identity-refused"/, 'stderr');

    // The cluster keeps finalizing, while the links stay put: a few reconnections at most,
    // where the two processes took turns at every link dozens of times a second before.
    const before = await reconnections(others);
    const client = BftClient.fromClusterFile(loadClusterFile(cluster.clusterFile), {
      nodes: others,
    });
    for (let i = 0; i < 10; i++) {
      const { hash } = await client.submit({ payload: new TextEncoder().encode(`still finalizing ${i}`) });
      const final = await client.waitFinal(hash, { timeoutMs: 20_000 }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; exits: ${exits.join('; ') || 'none'}`);
      });
      assert.equal(final.proof, 'certificate');
    }
    assert.deepEqual(exits, [], 'no node exited');
    const after = await reconnections(others);
    t.diagnostic(`reconnections at nodes 1-3 while 10 vertices became final: ${after - before}`);
    assert.ok(
      after - before <= 6,
      `${after - before} reconnections at nodes 1-3 while 10 vertices became final`,
    );
    const warningsAtEnd = warnings.length;
    assert.ok(warningsAtEnd <= 3 * 2, `${warningsAtEnd} warnings: at most one line (and a summary) per node`);
    over = true;
  });
});
