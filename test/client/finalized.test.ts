/**
 * BftClient.finalized: it follows a node's event stream through dropped connections and
 * refused reconnections (a TCP proxy in front of the node cuts them at moments drawn from a
 * seed), resuming after the last vertex it handed out, so that the caller sees every vertex
 * once, in the total order; it moves to another node when its node is gone; it ends when
 * the caller breaks out or aborts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BftClient } from '../../src/client/client.ts';
import { BftClientError } from '../../src/client/errors.ts';
import type { StreamedVertex } from '../../src/client/follow.ts';
import { Prng } from '../../src/sim/prng.ts';
import { clusterDir, startNode } from '../node/support.ts';
import { tcpProxy } from '../support/tcp-proxy.ts';

const encoder = new TextEncoder();

/** Consumes `iterator` in the background, keeping what it yields, with a way to wait for a count. */
function collect(iterator: AsyncGenerator<StreamedVertex, void, undefined>) {
  const seen: StreamedVertex[] = [];
  const waiters = new Set<() => void>();
  let failure: unknown = null;
  const done = (async () => {
    try {
      for await (const vertex of iterator) {
        seen.push(vertex);
        for (const waiter of [...waiters]) waiter();
      }
    } catch (error) {
      failure = error;
      for (const waiter of [...waiters]) waiter();
    }
  })();
  return {
    seen,
    done,
    until(count: number): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (failure !== null) reject(failure);
          else if (seen.length >= count) resolve();
          else return;
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

const placeOf = (vertex: StreamedVertex): string => `${vertex.sequence}.${vertex.position}:${vertex.hash}`;

describe('BftClient.finalized', { timeout: 120_000 }, () => {
  test('through cut connections and refused reconnections: every vertex once, in order (seeded)', async (t) => {
    const seed = Number(process.env.FOLLOW_TEST_SEED ?? Math.floor(Math.random() * 0xffff_ffff));
    console.log(`# follow through cuts: seed ${seed} (replay with FOLLOW_TEST_SEED=${seed})`);
    const prng = new Prng(seed);
    const cluster = await clusterDir(t, 1);
    const { url } = await startNode(t, cluster, 0);
    const port = Number(new URL(url).port);
    const proxy = await tcpProxy(port);
    t.after(() => proxy.close());
    const submitter = new BftClient({ nodes: [url] });
    const submitted = new Set<string>();
    const submit = async (count: number): Promise<void> => {
      const answer = await submitter.submitMany(
        Array.from({ length: count }, () => ({
          payload: encoder.encode(`v${submitted.size}-${prng.int(1e9)}`),
        })),
      );
      for (const hash of answer.hashes) submitted.add(hash);
    };

    await submit(20);
    const stop = new AbortController();
    const follower = collect(
      new BftClient({ nodes: [proxy.url] }).finalized({ from: 1, signal: stop.signal, reconnectDelayMs: 20 }),
    );
    await follower.until(20);
    for (let round = 0; round < 6; round++) {
      // Cut while vertices are being finalized, at a drawn moment.
      const finalizing = submit(5 + prng.int(20));
      if (prng.chance(0.5)) await finalizing;
      proxy.cut();
      await finalizing;
      if (round % 2 === 1) {
        // Refuse reconnections while more are finalized: the follower resumes from the store.
        proxy.refuse(true);
        await submit(10);
        proxy.refuse(false);
      }
      await follower.until(submitted.size);
    }
    stop.abort();
    await follower.done;
    assert.ok(proxy.connections >= 7, `${proxy.connections} connections: the follower reconnected`);
    // The node's own order, read straight from it.
    const reference: StreamedVertex[] = [];
    for await (const vertex of new BftClient({ nodes: [url] }).finalized({ from: 1 })) {
      reference.push(vertex);
      if (reference.length === submitted.size) break;
    }
    assert.deepEqual(follower.seen.map(placeOf), reference.map(placeOf));
    assert.deepEqual(new Set(follower.seen.map((vertex) => vertex.hash)), submitted);
  });

  test('after a place, with payloads; breaking out of the loop ends it', async (t) => {
    const cluster = await clusterDir(t, 1);
    const { url } = await startNode(t, cluster, 0);
    const client = new BftClient({ nodes: [url] });
    const payloads = Array.from({ length: 12 }, (_, i) => encoder.encode(`payload ${i}`));
    await client.submitMany(payloads.map((payload) => ({ payload })));
    const all: StreamedVertex[] = [];
    for await (const vertex of client.finalized({ from: 1, payload: true })) {
      all.push(vertex);
      if (all.length === 12) break;
    }
    assert.deepEqual(
      all.map((vertex) => Buffer.from(vertex.payload!).toString()),
      payloads.map((payload) => Buffer.from(payload).toString()),
    );
    const tail: StreamedVertex[] = [];
    for await (const vertex of client.finalized({ after: all[4]! })) {
      tail.push(vertex);
      if (tail.length === 7) break;
    }
    assert.deepEqual(tail.map(placeOf), all.slice(5).map(placeOf));
    assert.equal(tail[0]!.node, url);
  });

  test('moves to the next node when its node is gone, resuming after the last vertex', async (t) => {
    const created = await clusterDir(t, 4);
    const nodes = await Promise.all([0, 1, 2, 3].map((index) => startNode(t, created, index)));
    const proxy = await tcpProxy(Number(new URL(nodes[0]!.url).port));
    t.after(() => proxy.close());
    const submitter = new BftClient({ nodes: nodes.map((node) => node.url) });
    const submit = (label: string, count: number) =>
      submitter.submitMany(
        Array.from({ length: count }, (_, i) => ({ payload: encoder.encode(`${label} ${i}`) })),
        nodes[1]!.url,
      );
    await submit('first', 10);
    const stop = new AbortController();
    const follower = collect(
      new BftClient({ nodes: [proxy.url, nodes[2]!.url] }).finalized({
        from: 1,
        signal: stop.signal,
        reconnectDelayMs: 20,
      }),
    );
    await follower.until(10);
    assert.ok(follower.seen.every((vertex) => vertex.node === proxy.url));
    // node-0 (behind the proxy) becomes unreachable; the follower goes on at node-2.
    proxy.refuse(true);
    await submit('second', 10);
    await follower.until(20);
    stop.abort();
    await follower.done;
    assert.equal(follower.seen.at(-1)!.node, nodes[2]!.url);
    const reference: StreamedVertex[] = [];
    for await (const vertex of new BftClient({ nodes: [nodes[3]!.url] }).finalized({ from: 1 })) {
      reference.push(vertex);
      if (reference.length === 20) break;
    }
    assert.deepEqual(follower.seen.map(placeOf), reference.map(placeOf));
  });

  test('gives up when no node answers, and refuses bad options', async () => {
    const client = new BftClient({ nodes: ['http://127.0.0.1:9'] });
    await assert.rejects(
      client.finalized({ giveUpAfterMs: 50, reconnectDelayMs: 10 }).next(),
      (error: unknown) => error instanceof BftClientError && error.code === 'unreachable',
    );
    for (const options of [
      { from: 0 },
      { from: 2, after: { sequence: 1, position: 0 } },
      { after: { sequence: 1, position: -1 } },
    ]) {
      await assert.rejects(
        client.finalized(options).next(),
        (error: unknown) => error instanceof BftClientError && error.code === 'misuse',
        JSON.stringify(options),
      );
    }
  });
});
