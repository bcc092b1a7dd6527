/**
 * Helpers for the multi-process tests: a cluster of `cretoai-node start` processes (each with a
 * vote log), a client load that survives nodes dying under it, convergence checks, and the vote
 * logs read back to find any two different votes one node signed for one slot.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { initCluster } from '../../src/cli/init.ts';
import { LocalCluster } from '../../src/cli/local-cluster.ts';
import type { StatusResponse, SubmitVerticesResponse } from '../../src/client/api.ts';
import type { LoggedVote } from '../../src/node/vote-log.ts';
import { Prng } from '../../src/sim/prng.ts';
import { type EventReader, readEvents, tempDir } from './support.ts';

/** A seed for a randomized test, printed so that a failure can be replayed. */
export function testSeed(name: string, variable: string): number {
  const fromEnv = process.env[variable];
  const seed = fromEnv === undefined ? Math.floor(Math.random() * 0xffff_ffff) : Number(fromEnv);
  console.log(`# ${name}: seed ${seed} (replay with ${variable}=${seed})`);
  return seed;
}

export { Prng };

/** Four node processes with vote logs, started; stopped when the test ends. */
export async function processCluster(
  t: Pick<TestContext, 'after'> | { after(fn: () => Promise<void> | void): void },
  nodes = 4,
): Promise<LocalCluster> {
  const dir = path.join(tempDir(t, 'cretoai-crash-'), 'cluster');
  await initCluster({
    dir,
    nodes,
    nodeConfig: (i) => ({ debug: { voteLog: `votes/node-${i}.jsonl` }, shutdownDrainMs: 0 }),
  });
  const cluster = LocalCluster.open(dir, { startTimeoutMs: 30_000, stopTimeoutMs: 10_000 });
  t.after(() => cluster.stopAll());
  await cluster.startAll();
  return cluster;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/**
 * A JSON request over a keep-alive agent; rejects on a connection error. A GET whose reused
 * connection the server closed as it was sent (ECONNRESET, the keep-alive race) is sent once
 * more: it changes nothing, and thousands of lookups in a row hit the race now and then.
 */
export async function request(
  url: string,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  try {
    return await requestOnce(url, method, body);
  } catch (error) {
    if (method !== 'GET' || (error as NodeJS.ErrnoException).code !== 'ECONNRESET') throw error;
    return requestOnce(url, method, body);
  }
}

function requestOnce(url: string, method: string, body: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers:
          text === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode!, body: raw.length === 0 ? null : JSON.parse(raw) });
        });
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

export async function status(url: string): Promise<StatusResponse> {
  const answer = await request(`${url}/v1/status`);
  return answer.body as StatusResponse;
}

/**
 * Submits `total` vertices in chunks, round-robin over the nodes that are up, at about
 * `perSecond`; a chunk a node fails to take (it died under the request) goes to the next node.
 * `onSubmitted` sees the running count, so a test can inject faults at chosen points of the load.
 */
export async function submitAll(options: {
  readonly cluster: LocalCluster;
  readonly total: number;
  readonly perSecond: number;
  readonly chunk?: number;
  readonly label: string;
  readonly onSubmitted?: (submitted: number) => Promise<void> | void;
}): Promise<SubmittedVertex[]> {
  const { cluster, total, perSecond } = options;
  const chunk = options.chunk ?? 50;
  const submitted: SubmittedVertex[] = [];
  const started = performance.now();
  let next = 0;
  for (let offset = 0; offset < total; offset += chunk) {
    const vertices = Array.from({ length: Math.min(chunk, total - offset) }, (_, i) => ({
      payload: Buffer.from(`${options.label} ${offset + i}`).toString('base64'),
    }));
    // What a node refused (full, or it died under the request) goes to the next node; what it
    // accepted is never sent again, since a node chooses each vertex's validThrough, and so its
    // hash: the same payload sent elsewhere would be another vertex.
    let remaining = vertices;
    for (let attempt = 0; remaining.length > 0; attempt++) {
      if (attempt > 100) throw new Error(`no node took the chunk at ${offset}`);
      const index = next++ % cluster.size;
      if (!cluster.isRunning(index)) continue;
      const answer = await request(`${cluster.apiUrls[index]}/v1/vertices`, 'POST', {
        vertices: remaining,
      }).catch(() => null);
      const body = answer?.body as SubmitVerticesResponse | undefined;
      if ((answer?.status !== 202 && answer?.status !== 429) || body?.hashes === undefined) continue;
      const refused = new Set(body.rejected.map((entry) => entry.index));
      for (const [i, vertex] of remaining.entries())
        if (!refused.has(i))
          submitted.push({
            hash: body.hashes[i]!,
            payload: vertex.payload,
            validThrough: body.validThrough[i]!,
          });
      remaining = remaining.filter((_, i) => refused.has(i));
    }
    await options.onSubmitted?.(offset + vertices.length);
    // Pace the load: the next chunk is due at (offset + chunk) / perSecond.
    const dueMs = ((offset + chunk) / perSecond) * 1000 - (performance.now() - started);
    if (dueMs > 0) await new Promise((resolve) => setTimeout(resolve, dueMs));
  }
  return submitted;
}

/** A vertex a test submitted: its hash, its payload in base64 and its validThrough. */
export interface SubmittedVertex {
  readonly hash: string;
  readonly payload: string;
  readonly validThrough: number;
}

/** Submits `vertices` again to the node at `url` (what a client does with ones not final in time). */
export async function resubmit(url: string, vertices: readonly SubmittedVertex[]): Promise<void> {
  for (let offset = 0; offset < vertices.length; offset += 500) {
    const answer = await request(`${url}/v1/vertices`, 'POST', {
      vertices: vertices
        .slice(offset, offset + 500)
        .map((vertex) => ({ payload: vertex.payload, validThrough: vertex.validThrough })),
    });
    if (answer.status !== 202) throw new Error(`${url} refused the resubmission: ${answer.status}`);
  }
}

/**
 * Waits until every running node reports the same durable sequence and chain digest and is
 * active in the same view: a node that caught up by sequence may still be learning the view. Checked whenever any node's event stream moves,
 * and every 200 ms besides (a null batch moves no stream).
 */
export async function waitConverged(
  cluster: LocalCluster,
  timeoutMs: number,
): Promise<readonly StatusResponse[]> {
  const deadline = performance.now() + timeoutMs;
  const streams: EventReader[] = [];
  for (let i = 0; i < cluster.size; i++)
    if (cluster.isRunning(i)) streams.push(await readEvents(cluster.apiUrls[i]!));
  try {
    for (;;) {
      const statuses = await Promise.all(
        cluster.apiUrls.filter((_, i) => cluster.isRunning(i)).map((url) => status(url)),
      );
      const [first] = statuses;
      if (
        statuses.every(
          (each) =>
            each.durableSequence === first!.durableSequence &&
            each.chainDigest === first!.chainDigest &&
            each.view === first!.view &&
            each.viewActive,
        )
      ) {
        return statuses;
      }
      if (performance.now() > deadline) {
        throw new Error(
          `the nodes did not converge within ${timeoutMs} ms: ${statuses.map((each) => `${each.nodeId} at ${each.durableSequence} (view ${each.view}${each.viewActive ? '' : ', changing'})`).join(', ')}`,
        );
      }
      await Promise.race([
        ...streams.map((stream) =>
          stream.until((events) => events.length > 0, 200).then(() => stream.events.splice(0)),
        ),
        new Promise((resolve) => setTimeout(resolve, 200)),
      ]).catch(() => undefined);
    }
  } finally {
    for (const stream of streams) stream.close();
  }
}

/**
 * Looks up `hashes` at the node at `url`, 64 at a time, and asserts that each is final there at
 * the place `places` holds for it, recording the place on first sight: looked up at every node,
 * each vertex sits at one place everywhere. Without `proof`, the lookups leave out each batch's
 * proof (the places are all this checks).
 */
export async function assertFinalAtOnePlace(
  url: string,
  hashes: readonly string[],
  places: Map<string, string>,
  options: { readonly proof?: boolean } = {},
): Promise<void> {
  const query = options.proof === true ? '' : '?proof=0';
  for (let offset = 0; offset < hashes.length; offset += 64) {
    const answers = await Promise.all(
      hashes.slice(offset, offset + 64).map((hash) => request(`${url}/v1/vertices/${hash}${query}`)),
    );
    for (const [i, answer] of answers.entries()) {
      const hash = hashes[offset + i]!;
      const body = answer.body as { status: string; sequence: number; index: number };
      assert.equal(body.status, 'final', `${hash} at ${url}`);
      const place = `${body.sequence}/${body.index}`;
      const earlier = places.get(hash);
      if (earlier === undefined) places.set(hash, place);
      else assert.equal(place, earlier, `${hash} sits elsewhere at ${url}`);
    }
  }
}

/**
 * Where each of `hashes` that is final at the node at `url` sits there (`sequence/index`), looked
 * up 64 at a time without proofs; the others are left out.
 */
export async function finalPlaces(url: string, hashes: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let offset = 0; offset < hashes.length; offset += 64) {
    const answers = await Promise.all(
      hashes.slice(offset, offset + 64).map((hash) => request(`${url}/v1/vertices/${hash}?proof=0`)),
    );
    for (const [i, answer] of answers.entries()) {
      const body = answer.body as { status?: string; sequence: number; index: number };
      if (body.status === 'final') found.set(hashes[offset + i]!, `${body.sequence}/${body.index}`);
    }
  }
  return found;
}

/** Resolves once the node at `url` has durably finalized `sequence` (checked on its events, and every 100 ms). */
export async function waitForSequence(url: string, sequence: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const stream = await readEvents(url);
  try {
    for (;;) {
      if ((await status(url)).durableSequence >= sequence) return;
      if (performance.now() > deadline)
        throw new Error(`${url} did not reach sequence ${sequence} in ${timeoutMs} ms`);
      await Promise.race([
        stream.until((events) => events.some((event) => event.sequence >= sequence), 100),
        new Promise((resolve) => setTimeout(resolve, 100)),
      ]).catch(() => undefined);
    }
  } finally {
    stream.close();
  }
}

/** Every pair of different votes a node logged for one slot, across all its lives. */
export function conflictingVotes(cluster: LocalCluster, index: number): string[] {
  const file = path.join(cluster.dir, 'votes', `node-${index}.jsonl`);
  const bySlot = new Map<string, string>();
  const conflicts: string[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.length === 0) continue;
    const vote = JSON.parse(line) as LoggedVote;
    const slot =
      vote.kind === 'checkpoint'
        ? `checkpoint/${vote.epoch}/${vote.sequence}`
        : `${vote.kind}/${vote.epoch}/${vote.view}/${vote.sequence}`;
    const earlier = bySlot.get(slot);
    if (earlier === undefined) bySlot.set(slot, vote.digest);
    else if (earlier !== vote.digest) conflicts.push(`${slot}: ${earlier} then ${vote.digest}`);
  }
  return conflicts;
}

/** How many votes a node logged. */
export function votesLogged(cluster: LocalCluster, index: number): number {
  const file = path.join(cluster.dir, 'votes', `node-${index}.jsonl`);
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0).length;
}
