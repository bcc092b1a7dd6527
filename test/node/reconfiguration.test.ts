/**
 * Reconfiguration with real processes (five `cretoai-node start` processes on loopback, LMDB,
 * ML-DSA-87): under a load through the HTTP API, an operator removes the leader and rotates
 * another validator's key in one request, signed with the operator key `init` wrote and ordered
 * with `cretoai-node validators submit`. Afterwards every member of the new epoch is in it, the
 * removed node says it left, every acknowledged vertex is final once and at one place on every
 * member, they hold one history (sequence and chain digest), no node contradicted a vote
 * (vote logs, across ids that changed), and nobody holds evidence or banned anyone.
 *
 * Joining validators (add, replace, growing to 7) wait for state transfer to joiners (#17 step 5).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { initCluster, writePrivateKey } from '../../src/cli/init.ts';
import { LocalCluster } from '../../src/cli/local-cluster.ts';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import { importPrivateKeyPem, mlDsa87 } from '../../src/crypto/index.ts';
import { readPrivateKeyFile } from '../../src/node/key-file.ts';
import { epochZero } from '../../src/reconfig/epoch.ts';
import { proposeRequest, signRequest } from '../../src/reconfig/request.ts';
import { formatRequestFile } from '../../src/reconfig/request-file.ts';
import { runCli } from '../cli/support.ts';
import {
  assertFinalAtOnePlace,
  conflictingVotes,
  request,
  status,
  submitAll,
  votesLogged,
  waitConverged,
} from './process-cluster.ts';
import { readEvents, tempDir } from './support.ts';

const TOTAL = 3000;

describe('reconfiguration, five node processes', { timeout: 240_000 }, () => {
  it('removes the leader and rotates a key under load: one history, every vertex final once', async (t) => {
    const dir = path.join(tempDir(t, 'cretoai-reconfig-'), 'cluster');
    const init = await initCluster({
      dir,
      nodes: 5,
      nodeConfig: (i) => ({ debug: { voteLog: `votes/node-${i}.jsonl` }, shutdownDrainMs: 0 }),
    });
    // node-2's next key: an operator installs it before proposing the rotation.
    const nextKey = mlDsa87.generateKeyPair();
    writePrivateKey(path.join(dir, 'keys', 'node-2.next.key.pem'), nextKey);
    const config = JSON.parse(fs.readFileSync(init.configFiles[2]!, 'utf8')) as Record<string, unknown>;
    const nextKeyFile = path.relative(
      path.dirname(init.configFiles[2]!),
      path.join(dir, 'keys', 'node-2.next.key.pem'),
    );
    fs.writeFileSync(
      init.configFiles[2]!,
      JSON.stringify({ ...config, nextPrivateKeys: [nextKeyFile] }, null, 2),
    );

    // The request: node-0, the leader of epoch 0, leaves; node-2 moves to its next key.
    const epoch = epochZero(loadClusterFile(init.clusterFile));
    const operator = importPrivateKeyPem(readPrivateKeyFile(init.operatorKeyFile));
    const signed = signRequest(
      proposeRequest(epoch, [
        { op: 'remove', nodeId: 'node-0' },
        { op: 'rotate-key', nodeId: 'node-2', publicKey: nextKey.publicKey },
      ]),
      epoch,
      operator,
    );
    const requestFile = path.join(dir, 'change.json');
    fs.writeFileSync(requestFile, formatRequestFile(signed));

    const cluster = LocalCluster.open(dir, { startTimeoutMs: 30_000, stopTimeoutMs: 10_000 });
    t.after(() => cluster.stopAll());
    await cluster.startAll();
    const observer = 3;
    const events = await readEvents(cluster.apiUrls[observer]!);

    // The change is submitted a third of the way into the load, which goes on meanwhile.
    let submitting: ReturnType<typeof runCli> | null = null;
    let submittedAtMs = 0;
    const loadStarted = performance.now();
    // The observer's finalized count, sampled to measure throughput around the change.
    const samples: [number, number][] = [];
    const sampler = setInterval(
      () => samples.push([performance.now() - loadStarted, events.events.length]),
      250,
    );
    const submitted = await submitAll({
      cluster,
      total: TOTAL,
      perSecond: 300,
      label: 'reconfiguration',
      onSubmitted: (count) => {
        if (submitting !== null || count < TOTAL / 3) return;
        submittedAtMs = performance.now() - loadStarted;
        submitting = runCli(
          [
            'validators',
            'submit',
            '--request',
            requestFile,
            '--cluster',
            init.clusterFile,
            '--timeout',
            '30000',
            '--json',
          ],
          { timeoutMs: 60_000 },
        );
      },
    });
    const submittedCli = await submitting!;
    if (submittedCli.code !== 0) {
      // Where every node stood, and their logs kept for a look.
      const kept = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-reconfig-failed-'));
      fs.cpSync(path.join(dir, 'logs'), kept, { recursive: true });
      const standing = await Promise.all(
        cluster.apiUrls.map((url) =>
          status(url).then(
            (each) =>
              `${each.nodeId} epoch ${each.epoch} member ${each.member} view ${each.view} at ${each.sequence}`,
            (error: unknown) => `${url}: ${String(error)}`,
          ),
        ),
      );
      assert.fail(`${submittedCli.stderr}\n${standing.join('\n')}\nlogs kept in ${kept}`);
    }
    const report = JSON.parse(submittedCli.stdout) as {
      epoch: number;
      acceptedMs: number;
      activeMs: Record<string, number>;
    };
    assert.equal(report.epoch, 1);
    assert.deepEqual(Object.keys(report.activeMs).sort(), ['node-1', 'node-2', 'node-3', 'node-4']);

    // Everything acknowledged becomes final at the observer (a member throughout).
    const hashes = new Set(submitted.map((vertex) => vertex.hash));
    await events.until(
      (seen) => seen.filter((event) => hashes.has(event.hash)).length >= hashes.size,
      60_000,
    );
    const seenHashes = events.events.map((event) => event.hash);
    assert.equal(new Set(seenHashes).size, seenHashes.length, 'a vertex was finalized twice');
    clearInterval(sampler);
    events.close();

    // node-0 left: it says so, and takes no more vertices.
    const left = await status(cluster.apiUrls[0]!);
    assert.equal(left.epoch, 1);
    assert.equal(left.member, false);
    await cluster.stop(0);
    const statuses = await waitConverged(cluster, 30_000);
    for (const each of statuses) {
      assert.equal(each.epoch, 1);
      assert.equal(each.member, true);
      assert.deepEqual(each.validators, ['node-1', 'node-2', 'node-3', 'node-4']);
      assert.equal(each.quorum, 3);
      // node-0 is stopped, and no longer counted anyway: the four members reach each other.
      assert.equal(each.validatorsReachable, 4);
      assert.equal(each.quorumReachable, true);
      assert.deepEqual(each.banned, []);
    }
    assert.equal(new Set(statuses.map((each) => `${each.durableSequence}/${each.chainDigest}`)).size, 1);

    // Every acknowledged vertex is final at one place on every member.
    const places = new Map<string, string>();
    for (const url of cluster.apiUrls.slice(1)) {
      await assertFinalAtOnePlace(url, [...hashes], places);
      assert.deepEqual((await request(`${url}/v1/evidence`)).body, { evidence: [] });
    }
    for (let i = 0; i < cluster.size; i++) {
      assert.deepEqual(conflictingVotes(cluster, i), [], `node-${i} contradicted itself`);
      assert.ok(votesLogged(cluster, i) > 0);
    }
    const active = Object.values(report.activeMs);
    // Finalized per second over each second of the load: before the change, and the lowest while
    // it took effect (from submission until the last member was in epoch 1, plus a second).
    const rate = (from: number, to: number): number => {
      const at = (ms: number) => samples.find(([time]) => time >= ms)?.[1] ?? samples.at(-1)![1];
      return ((at(to) - at(from)) * 1000) / (to - from);
    };
    const changeEndMs = submittedAtMs + Math.max(...active) + 1000;
    const before = rate(1000, submittedAtMs);
    let lowest = Number.POSITIVE_INFINITY;
    for (let ms = submittedAtMs; ms + 1000 <= changeEndMs; ms += 250)
      lowest = Math.min(lowest, rate(ms, ms + 1000));
    t.diagnostic(
      `throughput at the observer: ${before.toFixed(0)}/s before the change, lowest 1-s window during it ${lowest.toFixed(0)}/s`,
    );
    t.diagnostic(
      `request accepted ${report.acceptedMs} ms after submission; epoch 1 active at every member ` +
        `${Math.min(...active) - report.acceptedMs} to ${Math.max(...active) - report.acceptedMs} ms after acceptance ` +
        `(${Object.entries(report.activeMs)
          .map(([node, ms]) => `${node} ${ms - report.acceptedMs}`)
          .join(
            ', ',
          )}); load of ${TOTAL} at 300/s in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
    );
  });
});
