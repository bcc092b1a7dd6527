/**
 * Crash recovery with real processes (four `cretoai-node start` processes on loopback, LMDB
 * stores with synced commits, ML-DSA-87 on every message):
 *
 * - 10,000 vertices go in through the HTTP API while a backup and then the leader are killed
 *   with SIGKILL at seeded moments and restarted from their stores. Afterwards every vertex
 *   acknowledged as final is final on all four at the same place, the four hold the same
 *   history (same sequence and chain digest), nothing was finalized twice, no node ever signed
 *   two different votes for one slot (each node logs every vote before it leaves), and no node
 *   holds evidence against another.
 * - A node whose data directory is wiped rejoins by state transfer and converges on the same
 *   history.
 *
 * Seeds: CRASH_SEED replays a run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wipeNode } from '../../src/cli/admin.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import {
  assertFinalAtOnePlace,
  conflictingVotes,
  Prng,
  processCluster,
  request,
  resubmit,
  status,
  submitAll,
  testSeed,
  votesLogged,
  waitConverged,
  waitForSequence,
} from './process-cluster.ts';
import { readEvents } from './support.ts';

const TOTAL = 10_000;

describe('crash recovery, four node processes', { timeout: 120_000 }, () => {
  it(`SIGKILL of a backup and then of the leader under a load of ${TOTAL} vertices: they restart from their stores, never contradict a vote, and catch up`, async (t) => {
    const seed = testSeed('crash recovery', 'CRASH_SEED');
    const prng = new Prng(seed);
    const cluster = await processCluster(t);
    const backup = 1 + prng.int(3);
    const observer = backup === 3 ? 2 : 3;
    const leader = 0;
    // Faults at seeded points of the load: kill after k vertices were submitted, restart m later.
    const killBackupAt = prng.between(1500, 3500);
    const restartBackupAt = killBackupAt + prng.between(200, 900);
    // The leader stays down past the view-change timeout (2 s, about 1,400 vertices at this
    // pace), so the others replace it before it comes back.
    const killLeaderAt = prng.between(5000, 6500);
    const restartLeaderAt = killLeaderAt + prng.between(1800, 2600);
    t.diagnostic(
      `backup node-${backup} killed after ${killBackupAt} vertices, restarted after ${restartBackupAt}; ` +
        `leader node-${leader} killed after ${killLeaderAt}, restarted after ${restartLeaderAt}; observer node-${observer}`,
    );

    const events = await readEvents(cluster.apiUrls[observer]!);
    const recoveries: string[] = [];
    const restart = async (index: number): Promise<void> => {
      const target = (await status(cluster.apiUrls[observer]!)).durableSequence;
      const started = performance.now();
      await cluster.start(index);
      const startedMs = performance.now() - started;
      await waitForSequence(cluster.apiUrls[index]!, target, 30_000);
      recoveries.push(
        `node-${index}: process up in ${startedMs.toFixed(0)} ms, caught up to sequence ${target} in ${(performance.now() - started).toFixed(0)} ms`,
      );
    };
    const pendingRestarts: Promise<void>[] = [];
    const loadStarted = performance.now();
    const submitted = await submitAll({
      cluster,
      total: TOTAL,
      perSecond: 700,
      label: `crash ${seed}`,
      onSubmitted: async (submitted) => {
        if (submitted >= killBackupAt && submitted - 50 < killBackupAt) await cluster.kill(backup, 'SIGKILL');
        if (submitted >= restartBackupAt && submitted - 50 < restartBackupAt)
          pendingRestarts.push(restart(backup));
        if (submitted >= killLeaderAt && submitted - 50 < killLeaderAt) await cluster.kill(leader, 'SIGKILL');
        if (submitted >= restartLeaderAt && submitted - 50 < restartLeaderAt)
          pendingRestarts.push(restart(leader));
      },
    });
    await Promise.all(pendingRestarts);
    const hashes = submitted.map((vertex) => vertex.hash);
    const wanted = new Set(hashes);
    const allFinal = (seen: readonly { hash: string }[]) =>
      seen.filter((event) => wanted.has(event.hash)).length >= wanted.size;
    // A 202 means accepted, not durable: vertices a node accepted and had not yet passed on when
    // it was killed are gone with it, and a client submits them again (as BftClient users do
    // when waitFinal times out).
    let resubmitted = 0;
    // Wait while vertices keep becoming final; once 3 s pass without one, what is missing was lost.
    for (;;) {
      const before = events.events.length;
      try {
        await events.until(allFinal, 3000);
        break;
      } catch {
        if (events.events.length > before) continue;
      }
      const final = new Set(events.events.map((event) => event.hash));
      const missing = submitted.filter((vertex) => !final.has(vertex.hash));
      resubmitted = missing.length;
      await resubmit(cluster.apiUrls[observer]!, missing);
      await events.until(allFinal, 30_000);
      break;
    }
    const loadMs = performance.now() - loadStarted;
    const statuses = await waitConverged(cluster, 30_000);
    events.close();

    // Nothing finalized twice, as the observer saw it; everything acknowledged was final there.
    const seenHashes = events.events.map((event) => event.hash);
    assert.equal(new Set(seenHashes).size, seenHashes.length, 'a vertex was finalized twice');
    assert.ok(statuses[0]!.view >= 1, 'the leader was replaced while it was down');
    // The same history everywhere: one sequence, one chain digest (which commits to every batch).
    assert.equal(new Set(statuses.map((each) => `${each.durableSequence}/${each.chainDigest}`)).size, 1);
    // Every acknowledged vertex is final at the observer, and so, by the equal chain digests, at
    // the same place on the other three; a seeded sample of 1,000 is looked up there too. The
    // places are all this checks, so the lookups leave out each batch's proof.
    const checkStarted = performance.now();
    const places = new Map<string, string>();
    const sample = hashes.filter(() => prng.int(hashes.length) < 1000);
    for (const [index, url] of cluster.apiUrls.entries()) {
      await assertFinalAtOnePlace(url, index === observer ? hashes : sample, places);
    }
    t.diagnostic(
      `looked up ${hashes.length} vertices at the observer and ${sample.length} at each other node in ${(performance.now() - checkStarted).toFixed(0)} ms`,
    );
    // No node ever signed two different votes for one slot, across its lives.
    for (let i = 0; i < cluster.size; i++) {
      assert.deepEqual(conflictingVotes(cluster, i), [], `node-${i} contradicted itself`);
      assert.ok(votesLogged(cluster, i) > 0);
    }
    // And no node holds evidence against another, or banned one.
    for (const url of cluster.apiUrls) {
      assert.deepEqual((await request(`${url}/v1/evidence`)).body, { evidence: [] });
      assert.deepEqual((await status(url)).banned, []);
    }
    t.diagnostic(
      `load of ${TOTAL} vertices with two SIGKILLs: ${(loadMs / 1000).toFixed(1)} s to final at the observer` +
        (resubmitted > 0
          ? ` (${resubmitted} accepted by a node killed before it passed them on, submitted again)`
          : ''),
    );
    t.diagnostic(`final state: sequence ${statuses[0]!.durableSequence}, view ${statuses[0]!.view}`);
    for (const line of recoveries) t.diagnostic(`recovery: ${line}`);
  });

  it('a node whose data directory was wiped rejoins by state transfer', async (t) => {
    const seed = testSeed('wiped node', 'CRASH_SEED');
    const prng = new Prng(seed);
    const cluster = await processCluster(t);
    const victim = 1 + prng.int(3);
    await submitAll({ cluster, total: 2000, perSecond: 1000, label: `before wipe ${seed}` });
    await waitConverged(cluster, 30_000);
    await cluster.kill(victim, 'SIGKILL');
    const movedTo = wipeNode(loadNodeSettings(cluster.configFile(victim)));
    assert.ok(movedTo !== null);
    await submitAll({ cluster, total: 1000, perSecond: 1000, label: `while wiped ${seed}` });
    const target = (await status(cluster.apiUrls[0]!)).durableSequence;

    const started = performance.now();
    await cluster.start(victim);
    assert.equal((await status(cluster.apiUrls[victim]!)).durableSequence <= target, true);
    await waitForSequence(cluster.apiUrls[victim]!, target, 30_000);
    const caughtUpMs = performance.now() - started;
    const statuses = await waitConverged(cluster, 30_000);
    assert.equal(new Set(statuses.map((each) => `${each.durableSequence}/${each.chainDigest}`)).size, 1);
    // It serves the history it fetched, with certificates.
    const sample = await request(`${cluster.apiUrls[victim]!}/v1/status`);
    assert.equal((sample.body as { durableSequence: number }).durableSequence, statuses[0]!.durableSequence);
    assert.deepEqual(
      conflictingVotes(cluster, victim),
      [],
      `node-${victim} contradicted a vote of its earlier life`,
    );
    for (const url of cluster.apiUrls)
      assert.deepEqual((await request(`${url}/v1/evidence`)).body, { evidence: [] });
    t.diagnostic(
      `node-${victim} wiped: rejoined and caught up ${target} sequences by state transfer in ${caughtUpMs.toFixed(0)} ms`,
    );
  });
});
