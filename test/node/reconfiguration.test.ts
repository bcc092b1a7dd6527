/**
 * Reconfiguration with real processes (five `cretoai-node start` processes on loopback, LMDB,
 * ML-DSA-87): under a load through the HTTP API, an operator removes the leader and rotates
 * another validator's key in one request, signed with the operator key `init` wrote and ordered
 * with `cretoai-node validators submit`. Afterwards every member of the new epoch is in it, the
 * removed node says it left, every acknowledged vertex is final once and at one place on every
 * member, they hold one history (sequence and chain digest), no node contradicted a vote
 * (vote logs, across ids that changed), and nobody holds evidence or banned anyone.
 *
 * The second test grows a cluster of four to seven, one joiner at a time (each a new node process
 * started with the chain of requests that adds it, fetching the history as a learner), then
 * removes the leader, rotates a key and shrinks back to four, all under load.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { initCluster, writePrivateKey } from '../../src/cli/init.ts';
import { LocalCluster } from '../../src/cli/local-cluster.ts';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import {
  BftClient,
  certificateEpoch,
  clusterKeysOf,
  EpochChain,
  type EpochEntry,
  type EpochsResponse,
  type FinalVertexResponse,
} from '../../src/client/index.ts';
import { importPrivateKeyPem, mlDsa87 } from '../../src/crypto/index.ts';
import { readPrivateKeyFile } from '../../src/node/key-file.ts';
import { epochZero } from '../../src/reconfig/epoch.ts';
import type { Operation } from '../../src/reconfig/operations.ts';
import {
  followChain,
  proposeRequest,
  type ReconfigurationRequest,
  signRequest,
} from '../../src/reconfig/request.ts';
import { formatRequestFile } from '../../src/reconfig/request-file.ts';
import { runCli } from '../cli/support.ts';
import {
  assertFinalAtOnePlace,
  conflictingVotes,
  finalPlaces,
  request,
  status,
  submitAll,
  votesLogged,
  waitConverged,
} from './process-cluster.ts';
import { readEvents, tempDir } from './support.ts';

const TOTAL = 3000;

describe('reconfiguration with node processes', { timeout: 300_000 }, () => {
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
    await assertClientFollowsChain(init.clusterFile, cluster.apiUrls.slice(1), 1);
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

  it('grows from four to seven by joiners, removes the leader, rotates a key, shrinks back to four', async (t) => {
    const dir = path.join(tempDir(t, 'cretoai-grow-'), 'cluster');
    // Seven nodes' keys, addresses and configurations; epoch 0 is the first four of them.
    const init = await initCluster({
      dir,
      nodes: 7,
      nodeConfig: (i) => ({ debug: { voteLog: `votes/node-${i}.jsonl` }, shutdownDrainMs: 0 }),
    });
    const all = loadClusterFile(init.clusterFile);
    const cluster = LocalCluster.open(dir, { startTimeoutMs: 30_000, stopTimeoutMs: 10_000 });
    t.after(() => cluster.stopAll());
    const written = JSON.parse(fs.readFileSync(init.clusterFile, 'utf8')) as { validators: unknown[] };
    fs.writeFileSync(
      init.clusterFile,
      JSON.stringify({ ...written, validators: written.validators.slice(0, 4) }, null, 2),
    );
    const zero = loadClusterFile(init.clusterFile);
    const rotated = mlDsa87.generateKeyPair();
    const configOf = (i: number) => JSON.parse(fs.readFileSync(init.configFiles[i]!, 'utf8')) as object;
    const setConfig = (i: number, extra: object): void =>
      fs.writeFileSync(init.configFiles[i]!, JSON.stringify({ ...configOf(i), ...extra }, null, 2));
    const keyFile = path.join(dir, 'keys', 'node-3.next.key.pem');
    writePrivateKey(keyFile, rotated);
    setConfig(3, { nextPrivateKeys: [path.relative(path.dirname(init.configFiles[3]!), keyFile)] });

    // The chain of requests, each signed by init's operator against the epoch before it.
    const operator = importPrivateKeyPem(readPrivateKeyFile(init.operatorKeyFile));
    const steps: { readonly what: string; readonly operations: Operation[] }[] = [
      { what: 'add node-4', operations: [{ op: 'add', validator: all.validators[4]! }] },
      { what: 'add node-5', operations: [{ op: 'add', validator: all.validators[5]! }] },
      { what: 'add node-6', operations: [{ op: 'add', validator: all.validators[6]! }] },
      { what: 'remove node-0, the leader', operations: [{ op: 'remove', nodeId: 'node-0' }] },
      {
        what: "rotate node-3's key",
        operations: [{ op: 'rotate-key', nodeId: 'node-3', publicKey: rotated.publicKey }],
      },
      {
        what: 'shrink to four',
        operations: [
          { op: 'remove', nodeId: 'node-1' },
          { op: 'remove', nodeId: 'node-5' },
        ],
      },
    ];
    const chain: ReconfigurationRequest[] = [];
    const files: string[] = [];
    for (const [i, step] of steps.entries()) {
      const epoch = followChain(zero, chain);
      chain.push(signRequest(proposeRequest(epoch, step.operations), epoch, operator));
      files.push(path.join(dir, `change-${i + 1}.json`));
      fs.writeFileSync(files.at(-1)!, formatRequestFile(chain.at(-1)!));
    }
    // Each joiner is started with the chain up to the request that adds it.
    for (const joiner of [4, 5, 6])
      setConfig(joiner, {
        chain: files
          .slice(0, joiner - 3)
          .map((file) => path.relative(path.dirname(init.configFiles[joiner]!), file)),
      });

    for (const i of [0, 1, 2, 3]) await cluster.start(i);
    // Long enough that the last change, two validators leaving at once, happens under load.
    const load = submitAll({ cluster, total: 9000, perSecond: 300, label: 'grow' });
    const timings: string[] = [];
    for (const [i, step] of steps.entries()) {
      // A joiner starts as its request is submitted: it learns as soon as its peers are in its epoch.
      if (i < 3) await cluster.start(4 + i);
      const started = performance.now();
      const submitted = await runCli(
        [
          'validators',
          'submit',
          '--request',
          files[i]!,
          '--cluster',
          init.clusterFile,
          ...files.slice(0, i).flatMap((file) => ['--chain', file]),
          '--timeout',
          '60000',
          '--json',
        ],
        { timeoutMs: 90_000 },
      );
      if (submitted.code !== 0) {
        const kept = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-grow-failed-'));
        fs.cpSync(path.join(dir, 'logs'), kept, { recursive: true });
        assert.fail(`${step.what}: ${submitted.stderr}\nlogs kept in ${kept}`);
      }
      const report = JSON.parse(submitted.stdout) as { epoch: number; activeMs: Record<string, number> };
      assert.equal(report.epoch, i + 1);
      timings.push(
        `${step.what}: epoch ${report.epoch} active everywhere after ${Math.round(performance.now() - started)} ms`,
      );
    }
    const submitted = await load;
    t.diagnostic(timings.join('; '));

    // The removed nodes say so; the four that stay converge on one history.
    // What each removed node finalized while it was a member, read before it stops.
    const hashes = submitted.map((vertex) => vertex.hash);
    const finalAtLeavers = new Map<number, Map<string, string>>();
    for (const gone of [0, 1, 5]) {
      const left = await status(cluster.apiUrls[gone]!);
      assert.equal(left.member, false, `node-${gone} left`);
      finalAtLeavers.set(gone, await finalPlaces(cluster.apiUrls[gone]!, hashes));
      await cluster.stop(gone);
    }
    const statuses = await waitConverged(cluster, 60_000);
    for (const each of statuses) {
      assert.equal(each.epoch, 6);
      assert.equal(each.member, true);
      assert.equal(each.learning, false);
      assert.deepEqual(each.validators, ['node-2', 'node-3', 'node-4', 'node-6']);
      assert.deepEqual(each.banned, []);
    }
    assert.equal(new Set(statuses.map((each) => `${each.durableSequence}/${each.chainDigest}`)).size, 1);

    // Every acknowledged vertex is final once, at one place, on each of them (the joiners hold
    // what was final before they joined too), and no node contradicted a vote of its own.
    assert.equal(new Set(hashes).size, hashes.length);
    const places = new Map<string, string>();
    for (const i of [2, 3, 4, 6]) {
      await assertFinalAtOnePlace(cluster.apiUrls[i]!, hashes, places);
      assert.deepEqual((await request(`${cluster.apiUrls[i]}/v1/evidence`)).body, { evidence: [] });
    }
    // A node that left holds what was final while it was a member, each at the same place.
    for (const [gone, found] of finalAtLeavers) {
      assert.ok(found.size > 0, `node-${gone} finalized vertices while a member`);
      for (const [hash, place] of found) assert.equal(place, places.get(hash), `${hash} at node-${gone}`);
    }
    for (let i = 0; i < cluster.size; i++) {
      assert.deepEqual(conflictingVotes(cluster, i), [], `node-${i} contradicted itself`);
      assert.ok(votesLogged(cluster, i) > 0, `node-${i} voted`);
    }
    const members = [2, 3, 4, 6].map((i) => cluster.apiUrls[i]!);
    await assertClientFollowsChain(init.clusterFile, members, 6);
  });
});

/**
 * A client that trusts only the cluster file submits a vertex, follows the chain of epochs the
 * nodes serve, and accepts its certificate, of epoch `epoch`; a chain with a link altered is
 * refused.
 */
async function assertClientFollowsChain(
  clusterFile: string,
  nodes: readonly string[],
  epoch: number,
): Promise<void> {
  const zero = loadClusterFile(clusterFile);
  const client = BftClient.fromClusterFile(zero, { nodes });
  const { hash } = await client.submit({ payload: new TextEncoder().encode(`after epoch ${epoch}`) });
  const finality = await client.waitFinal(hash, { proof: 'certificate', timeoutMs: 30_000 });
  assert.equal(finality.proof, 'certificate');
  const answer = (await request(`${finality.nodes[0]}/v1/vertices/${hash}`)).body as FinalVertexResponse;
  assert.equal(certificateEpoch(answer), epoch, 'the vertex is certified by the last epoch');
  // Epoch 0's keys alone do not take it.
  assert.throws(() => new BftClient({ nodes, cluster: clusterKeysOf(zero) }).verify(hash, answer), {
    code: 'invalid-certificate',
  });
  const served = (await request(`${nodes[0]}/v1/epochs`)).body as EpochsResponse;
  assert.equal(served.epochs.length, epoch + 1);
  const chain = new EpochChain(zero);
  chain.follow(served);
  assert.equal(chain.latest, epoch);
  // Altered links are refused: a COMMIT short of the quorum, a request changed after signing.
  const last = served.epochs.at(-1)!;
  const altered = (entry: EpochEntry): EpochsResponse => ({
    ...served,
    epochs: [...served.epochs.slice(0, -1), entry],
  });
  const short = altered({ ...last, proof: { ...last.proof!, commits: last.proof!.commits.slice(1) } });
  assert.throws(() => new EpochChain(zero).follow(short), { code: 'invalid-certificate' });
  const payload = Buffer.from(last.opening!.payload, 'base64');
  payload[payload.length - 2] = payload[payload.length - 2]! ^ 1;
  const changed = altered({ ...last, opening: { ...last.opening!, payload: payload.toString('base64') } });
  assert.throws(() => new EpochChain(zero).follow(changed), { code: 'invalid-certificate' });
  assert.throws(() => new EpochChain(zero).follow({ ...served, clusterId: 'another' }), {
    code: 'invalid-certificate',
  });
}
