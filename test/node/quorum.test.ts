/**
 * Loss of quorum is visible (the operator's report: with 2 of 4 nodes up, `submit` got a 202,
 * `--wait` timed out blaming one dead node, `/healthz` stayed 200, nothing was logged). On four
 * node processes, with two of them stopped: status, readiness, the client's error, the logs and
 * the metrics all say that no quorum is reachable; with them started again, all say it is back,
 * and the vertex submitted meanwhile becomes final.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { initCluster } from '../../src/cli/init.ts';
import { LocalCluster, type LogLine } from '../../src/cli/local-cluster.ts';
import type { ReadyResponse, StatusResponse } from '../../src/client/api.ts';
import { BftClient } from '../../src/client/client.ts';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import { BftClientError } from '../../src/client/errors.ts';
import { runCli } from '../cli/support.ts';
import { call, tempDir } from './support.ts';

/** Resolves with the first log line of node `index` named `event` from now on. */
function nextLog(cluster: LocalCluster, index: number, event: string, timeoutMs = 30_000): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cluster.off('log', listener);
      const tail = fs.readFileSync(cluster.logFile(index), 'utf8').trimEnd().split('\n').slice(-8);
      reject(
        new Error(`${cluster.nodeId(index)} logged no ${event} within ${timeoutMs} ms:\n${tail.join('\n')}`),
      );
    }, timeoutMs);
    const listener = ({ index: from, line }: { index: number; line: LogLine }): void => {
      if (from !== index || line.event !== event) return;
      clearTimeout(timer);
      cluster.off('log', listener);
      resolve(line);
    };
    cluster.on('log', listener);
  });
}

/** Resolves once `check` holds, asking every 50 ms (the nodes' links form on their own). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The value of an unlabelled metric in a node's exposition. */
async function metric(url: string, name: string): Promise<number> {
  const text = (await call(`${url}/metrics`)).text;
  const line = text.split('\n').find((each) => each.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} is exported`);
  return Number(line.slice(name.length + 1));
}

describe('loss of quorum on node processes', { timeout: 120_000 }, () => {
  it('is reported by status, /readyz, the client, the logs and the metrics, and so is its return', async (t) => {
    const dir = path.join(tempDir(t, 'cretoai-quorum-'), 'cluster');
    await initCluster({ dir, nodes: 4, nodeConfig: () => ({ quorumDebounceMs: 300, shutdownDrainMs: 0 }) });
    const cluster = LocalCluster.open(dir, { startTimeoutMs: 30_000, stopTimeoutMs: 10_000 });
    t.after(() => cluster.stopAll());
    await cluster.startAll();
    const [url0, url1] = cluster.apiUrls as [string, string];

    // All four up: a quorum everywhere, once the links have formed.
    await until('every node connecting to its three peers', async () => {
      const statuses = await Promise.all(cluster.apiUrls.map((url) => call(`${url}/v1/status`)));
      return statuses.every((answer) => (answer.body as StatusResponse).peers.length === 3);
    });
    const before = (await call(`${url0}/v1/status`)).body as StatusResponse;
    assert.equal(before.validatorsReachable, 4);
    assert.equal(before.quorumReachable, true);
    assert.equal((await call(`${url0}/readyz`)).status, 200);
    assert.equal(await metric(url0, 'cretoai_quorum_reachable'), 1);

    // (A node that came up before its peers may have counted a loss at start.)
    const lossesBefore = [
      await metric(url0, 'cretoai_quorum_losses_total'),
      await metric(url1, 'cretoai_quorum_losses_total'),
    ];

    // Two of four stopped: 2 reachable, 3 needed.
    const lost = [nextLog(cluster, 0, 'quorum-lost'), nextLog(cluster, 1, 'quorum-lost')];
    await Promise.all([cluster.stop(2), cluster.stop(3)]);
    const [lostLine] = await Promise.all(lost);
    assert.equal(lostLine!.level, 'warn');
    assert.equal(lostLine!.message, 'no quorum: 2 of 4 validators reachable, 3 needed');
    for (const [i, url] of [url0, url1].entries()) {
      const status = (await call(`${url}/v1/status`)).body as StatusResponse;
      assert.equal(status.quorumReachable, false);
      assert.equal(status.validatorsReachable, 2);
      assert.equal(status.quorum, 3);
      const ready = await call(`${url}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((ready.body as ReadyResponse).reason, 'no quorum: 2 of 4 validators reachable, 3 needed');
      // Liveness is unchanged: restarting this node would not bring the others back.
      assert.equal((await call(`${url}/healthz`)).status, 200);
      assert.equal(await metric(url, 'cretoai_quorum_reachable'), 0);
      assert.equal(await metric(url, 'cretoai_validators_reachable'), 2);
      assert.equal(await metric(url, 'cretoai_quorum_losses_total'), lossesBefore[i]! + 1);
    }

    // The client: accepted, then not final, and it says why.
    const client = BftClient.fromClusterFile(loadClusterFile(cluster.clusterFile), {
      requestTimeoutMs: 2000,
    });
    const { hash } = await client.submit({ payload: new TextEncoder().encode('waits for a quorum') });
    await assert.rejects(client.waitFinal(hash, { timeoutMs: 500 }), (error: unknown) => {
      assert.ok(error instanceof BftClientError, String(error));
      assert.equal(error.code, 'no-quorum');
      assert.match(error.message, /no quorum: 2 of 4 validators reachable, 3 needed/);
      return true;
    });
    const cli = await runCli([
      'submit',
      '--cluster',
      cluster.clusterFile,
      '--data',
      'also waits',
      '--wait',
      '--timeout',
      '500',
    ]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /warning: node-\d sees no quorum \(2 of 4 validators reachable, 3 needed\)/);
    assert.match(cli.stderr, /no quorum: 2 of 4 validators reachable, 3 needed/);
    const table = await runCli(['status', '--cluster', cluster.clusterFile]);
    assert.match(table.stdout, /node-0 .* NO 2\/4 \(3 needed\)/);

    // Both back: every surface says so, and the vertex accepted meanwhile becomes final.
    const regained = nextLog(cluster, 0, 'quorum-regained');
    await Promise.all([cluster.start(2), cluster.start(3)]);
    const regainedLine = await regained;
    await until('node-0 connecting to its three peers again', async () => {
      const status = (await call(`${url0}/v1/status`)).body as StatusResponse;
      return status.peers.length === 3;
    });
    assert.equal(regainedLine.level, 'info');
    const after = (await call(`${url0}/v1/status`)).body as StatusResponse;
    assert.equal(after.quorumReachable, true);
    assert.equal(after.validatorsReachable, 4);
    assert.equal((await call(`${url0}/readyz`)).status, 200);
    assert.equal(await metric(url0, 'cretoai_quorum_reachable'), 1);
    assert.equal(await metric(url0, 'cretoai_validators_reachable'), 4);
    const final = await client.waitFinal(hash, { timeoutMs: 30_000 });
    assert.equal(final.proof, 'certificate');
  });
});
