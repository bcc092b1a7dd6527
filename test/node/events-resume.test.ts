/**
 * `GET /v1/events` resumed on a real node (one validator, LMDB, in this process): `?from=` and
 * `Last-Event-ID` replay the store before the live stream, with the same event ids and data as
 * the live stream; malformed start points get 400; a start the store no longer holds gets 410
 * `pruned`, naming the oldest sequence it holds, and BftClient.finalized reports it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { BftClient } from '../../src/client/client.ts';
import { BftClientError } from '../../src/client/errors.ts';
import { SseParser } from '../../src/client/sse.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import { LmdbStore } from '../../src/storage/index.ts';
import { call, clusterDir, startNode } from './support.ts';

interface RawEvent {
  readonly id: string;
  readonly data: string;
}

/** An open event stream: the response has arrived, so the node streams to it from now on. */
interface Stream {
  /** The next `count` finalized events (after those already taken). */
  take(count: number): Promise<RawEvent[]>;
  close(): void;
}

function openStream(url: string, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const events: RawEvent[] = [];
    const waiters = new Set<() => void>();
    let taken = 0;
    let ended = false;
    const request = http.get(url, { headers }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`status ${response.statusCode}`));
        response.resume();
        return;
      }
      const parser = new SseParser();
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        for (const event of parser.push(text)) {
          if (event.type === 'finalized') events.push({ id: event.lastEventId, data: event.data });
        }
        for (const waiter of [...waiters]) waiter();
      });
      response.on('close', () => {
        ended = true;
        for (const waiter of [...waiters]) waiter();
      });
      resolve({
        take(count) {
          return new Promise((done, fail) => {
            const check = (): void => {
              if (events.length >= taken + count) {
                waiters.delete(check);
                const from = taken;
                taken += count;
                done(events.slice(from, taken));
              } else if (ended) {
                waiters.delete(check);
                fail(new Error(`the stream ended after ${events.length} events (${taken + count} awaited)`));
              }
            };
            waiters.add(check);
            check();
          });
        },
        close: () => request.destroy(),
      });
    });
    request.on('error', () => undefined);
  });
}

/** Reads `count` finalized events of `url` (with `headers`), then closes the stream. */
async function readEvents(
  url: string,
  count: number,
  headers: Record<string, string> = {},
): Promise<RawEvent[]> {
  const stream = await openStream(url, headers);
  try {
    return await stream.take(count);
  } finally {
    stream.close();
  }
}

/** Submits `count` vertices in one request and waits until the node's stream shows them. */
async function submitAndWait(client: BftClient, url: string, label: string, count: number, seen: number) {
  const live = await openStream(`${url}/v1/events`);
  try {
    const answer = await client.submitMany(
      Array.from({ length: count }, (_, i) => ({ payload: new TextEncoder().encode(`${label} ${i}`) })),
    );
    assert.equal(answer.accepted, count);
    return { events: await live.take(count), total: seen + count };
  } finally {
    live.close();
  }
}

describe('GET /v1/events resumed on a node', { timeout: 90_000 }, () => {
  test('?from and Last-Event-ID replay the store, then go live; bad start points get 400', async (t) => {
    const cluster = await clusterDir(t, 1);
    const { url } = await startNode(t, cluster, 0);
    const client = new BftClient({ nodes: [url] });
    const live: RawEvent[] = [];
    let total = 0;
    for (const label of ['a', 'b', 'c']) {
      const step = await submitAndWait(client, url, label, 10, total);
      live.push(...step.events);
      total = step.total;
    }
    // The live events, as a stream open from the start saw them, are what a replay gives.
    const replayed = await readEvents(`${url}/v1/events?from=1`, 30);
    assert.deepEqual(replayed, live);
    // Last-Event-ID: strictly after that place; it wins over ?from (what EventSource reconnects with).
    const resumed = await readEvents(`${url}/v1/events?from=1`, 20, { 'last-event-id': live[9]!.id });
    assert.deepEqual(resumed, live.slice(10));
    // A replay that catches up goes on live.
    const tail = await openStream(`${url}/v1/events`, { 'last-event-id': live[19]!.id });
    assert.deepEqual(await tail.take(10), live.slice(20));
    const more = await submitAndWait(client, url, 'd', 10, total);
    assert.deepEqual(await tail.take(10), more.events);
    tail.close();
    // With payloads, the replayed events carry them.
    const [withPayload] = await readEvents(`${url}/v1/events?from=1&payload=1`, 1);
    assert.equal(JSON.parse(withPayload!.data).payload, Buffer.from('a 0').toString('base64'));

    for (const [query, headers] of [
      ['?from=0', {}],
      ['?from=x', {}],
      ['', { 'last-event-id': 'latest' }],
    ] as const) {
      const answer = await call(`${url}/v1/events${query}`, { headers });
      assert.equal(answer.status, 400, `${query} ${JSON.stringify(headers)}`);
      assert.equal(answer.body.error.code, 'bad-request');
    }
  });

  test("a start the store no longer holds gets 410 'pruned' naming the oldest it holds", async (t) => {
    const cluster = await clusterDir(t, 1);
    const first = await startNode(t, cluster, 0);
    const client = new BftClient({ nodes: [first.url] });
    let total = 0;
    for (const label of ['a', 'b', 'c', 'd'])
      total = (await submitAndWait(client, first.url, label, 5, total)).total;
    const before = await readEvents(`${first.url}/v1/events?from=1`, total);
    const sequences = [...new Set(before.map((event) => Number(event.id.split('.')[0])))];
    assert.ok(sequences.length >= 3, `${sequences.length} sequences`);
    // Prune the stopped node's store through its second sequence, as logRetention would.
    await first.node.stop();
    const settings = loadNodeSettings(cluster.configFiles[0]!);
    const store = await LmdbStore.open({
      path: settings.dataDir,
      clusterId: settings.cluster.clusterId,
      replica: 0,
    });
    await store.pruneFinalized(sequences[1]!);
    await store.close();
    const { url } = await startNode(t, cluster, 0);

    const refused = await call(`${url}/v1/events?from=1`);
    assert.equal(refused.status, 410);
    assert.equal(refused.body.error.code, 'pruned');
    assert.match(refused.body.error.message, new RegExp(`the oldest it holds is ${sequences[2]}\\b`));
    // A stream from the oldest held sequence, or resumed after a place in it, works.
    const held = before.filter((event) => Number(event.id.split('.')[0]) >= sequences[2]!);
    assert.deepEqual(await readEvents(`${url}/v1/events?from=${sequences[2]}`, held.length), held);
    assert.deepEqual(
      await readEvents(`${url}/v1/events?from=1`, held.length - 1, { 'last-event-id': held[0]!.id }),
      held.slice(1),
    );

    const following = new BftClient({ nodes: [url] }).finalized({ from: 1 });
    await assert.rejects(following.next(), (error: unknown) => {
      assert.ok(error instanceof BftClientError);
      assert.equal(error.code, 'rejected');
      assert.equal(error.status, 410);
      assert.equal(error.apiCode, 'pruned');
      return true;
    });
  });
});
