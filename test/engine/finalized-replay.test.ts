/**
 * `engine.finalized({ from })` and `finalized({ after })`: what the store still holds is replayed,
 * then the stream goes on live, every vertex once and in the order the engine delivered it; a
 * sequence no longer held is refused with code 'pruned'. Without options the stream starts with
 * the next delivery (so a subscription made after `propose` resolved sees nothing of it).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type BftEngine,
  FinalizedHistoryError,
  type FinalizedVertex,
  ManualClock,
} from '../../src/engine/index.ts';
import { ArgumentError } from '../../src/errors.ts';
import { Prng } from '../../src/sim/prng.ts';
import { Cluster, payload } from './cluster.ts';

/** Every vertex the engine delivers to `finalized` listeners, as places in order. */
function recordPlaces(engine: BftEngine): string[] {
  const places: string[] = [];
  engine.on('finalized', (final) => places.push(placeOf(final)));
  return places;
}

function placeOf(final: FinalizedVertex): string {
  return `${final.sequence}.${final.position}:${Buffer.from(final.hash).toString('hex').slice(0, 16)}`;
}

/** Proposes `count` vertices at `engine`, `perSequence` at a time (each group one batch or so). */
async function proposeSome(engine: BftEngine, label: string, count: number, perSequence = 3): Promise<void> {
  for (let i = 0; i < count; i += perSequence) {
    const group = Array.from({ length: Math.min(perSequence, count - i) }, (_, j) =>
      engine.propose(engine.createVertex(payload(label, i + j))),
    );
    await Promise.all(group);
  }
}

/** The next `count` items of `stream`. */
async function take(stream: AsyncIterator<FinalizedVertex>, count: number): Promise<FinalizedVertex[]> {
  const items: FinalizedVertex[] = [];
  while (items.length < count) {
    const result = await stream.next();
    if (result.done) throw new Error(`the stream ended after ${items.length} of ${count}`);
    items.push(result.value);
  }
  return items;
}

describe('finalized() with a start point', { timeout: 30_000 }, () => {
  test('from 1 replays what the store holds, then goes on live: each vertex once, in order', async () => {
    const cluster = new Cluster();
    const engine = cluster.engines[0]!;
    const delivered = recordPlaces(engine);
    await cluster.start();
    try {
      await proposeSome(engine, 'before', 12);
      const late = engine.finalized();
      const stream = engine.finalized({ from: 1 });
      const replayed = await take(stream, 12);
      assert.deepEqual(replayed.map(placeOf), delivered.slice(0, 12));
      // The replayed items are the vertices themselves, as the live stream gives them.
      assert.ok(replayed.every((item) => Buffer.from(item.vertex.hash).equals(Buffer.from(item.hash))));
      await proposeSome(engine, 'after', 9);
      const live = await take(stream, 9);
      assert.deepEqual(live.map(placeOf), delivered.slice(12, 21));
      // A plain subscription made after the first proposals resolved saw only the later ones.
      assert.deepEqual((await take(late, 9)).map(placeOf), delivered.slice(12, 21));
    } finally {
      await cluster.stop();
    }
  });

  test('after a place resumes after it, within its batch', async () => {
    const cluster = new Cluster();
    const engine = cluster.engines[1]!;
    const delivered = recordPlaces(engine);
    await cluster.start();
    try {
      await proposeSome(engine, 'resume', 15, 5);
      const all = await take(engine.finalized({ from: 1 }), 15);
      // A place in the middle of a batch of several vertices.
      const k = all.findIndex((item, i) => i > 0 && all[i + 1]?.sequence === item.sequence);
      assert.ok(k > 0, 'some batch holds more than one vertex');
      const after = { sequence: all[k]!.sequence, position: all[k]!.position };
      const resumed = await take(engine.finalized({ after }), 15 - k - 1);
      assert.deepEqual(resumed.map(placeOf), delivered.slice(k + 1, 15));
    } finally {
      await cluster.stop();
    }
  });

  test('replays that catch up while vertices keep being finalized miss none and repeat none', async () => {
    const seed = Number(process.env.REPLAY_TEST_SEED ?? Math.floor(Math.random() * 0xffff_ffff));
    console.log(`# replay race: seed ${seed} (replay with REPLAY_TEST_SEED=${seed})`);
    const prng = new Prng(seed);
    const cluster = new Cluster();
    const engine = cluster.engines[2]!;
    const delivered = recordPlaces(engine);
    await cluster.start();
    try {
      const total = 80;
      // Readers start from sequence 1 at moments drawn from the seed, and pause a drawn number of
      // event-loop turns between items, so that each crosses from the store to the live stream
      // at another moment, while proposals keep finalizing sequences.
      const readers: Promise<string[]>[] = [];
      const read = async (): Promise<string[]> => {
        const stream = engine.finalized({ from: 1 });
        const consumed: string[] = [];
        while (consumed.length < total) {
          const result = await stream.next();
          if (result.done) break;
          consumed.push(placeOf(result.value));
          for (let pause = prng.int(3); pause > 0; pause--) await new Promise((r) => setImmediate(r));
        }
        await stream.return?.();
        return consumed;
      };
      let proposed = 0;
      while (proposed < total) {
        if (prng.chance(0.5)) readers.push(read());
        const group = Math.min(total - proposed, 1 + prng.int(4));
        // Proposals are not awaited one by one: a new batch is under way while readers catch up.
        const batch = Array.from({ length: group }, (_, j) =>
          engine.propose(engine.createVertex(payload('race', proposed + j))),
        );
        proposed += group;
        await Promise.race([Promise.all(batch), new Promise((r) => setImmediate(r))]);
        await Promise.all(batch);
      }
      assert.ok(readers.length > 3, `${readers.length} readers`);
      // Every proposal is final here; stopping ends the streams, so a reader that missed a
      // vertex ends short instead of waiting for it.
      await cluster.stop();
      for (const consumed of await Promise.all(readers))
        assert.deepEqual(consumed, delivered.slice(0, total));
    } finally {
      await cluster.stop();
    }
  });

  test('a sequence not reached yet is waited for', async () => {
    const cluster = new Cluster();
    const engine = cluster.engines[0]!;
    const delivered = recordPlaces(engine);
    await cluster.start();
    try {
      await proposeSome(engine, 'first', 3, 1);
      const from = engine.status().sequence + 2;
      const stream = engine.finalized({ from });
      await proposeSome(engine, 'second', 4, 1);
      const [first] = await take(stream, 1);
      assert.equal(first!.sequence, from);
      assert.equal(
        placeOf(first!),
        delivered.find((place) => place.startsWith(`${from}.`)),
      );
    } finally {
      await cluster.stop();
    }
  });

  test('a restarted engine replays, from its store, history finalized before the restart', async () => {
    const cluster = new Cluster();
    const engine = cluster.engines[3]!;
    const delivered = recordPlaces(engine);
    await cluster.start();
    try {
      await proposeSome(cluster.engines[0]!, 'before-restart', 9);
      // Wait until node-3 delivered them too (it may lag the proposer by a message).
      await take(engine.finalized({ from: 1 }), 9);
      await engine.stop();
      const restarted = cluster.createEngine(3, cluster.stores[3]!);
      cluster.engines[3] = restarted;
      await restarted.start();
      assert.deepEqual((await take(restarted.finalized({ from: 1 }), 9)).map(placeOf), delivered.slice(0, 9));
    } finally {
      await cluster.stop();
    }
  });

  test("a sequence the store no longer holds is refused with code 'pruned'", async () => {
    const checkpointInterval = 4;
    const watermarkWindow = 8;
    const dedupHorizonSequences = 4 * watermarkWindow;
    const cluster = new Cluster({
      clock: new ManualClock(),
      config: {
        checkpointInterval,
        watermarkWindow,
        dedupHorizonSequences,
        logRetention: dedupHorizonSequences,
      },
    });
    const engine = cluster.engines[0]!;
    await cluster.start();
    try {
      // One vertex per sequence, well past the retention, so that early sequences are pruned.
      await proposeSome(engine, 'prune', 3 * dedupHorizonSequences, 1);
      await new Promise((resolve) => setImmediate(resolve));
      const stream = engine.finalized({ from: 1 });
      await assert.rejects(stream.next(), (error: unknown) => {
        assert.ok(error instanceof FinalizedHistoryError);
        assert.equal(error.code, 'pruned');
        assert.equal(error.sequence, 1);
        return true;
      });
      // A recent sequence is still held.
      const recent = engine.status().sequence - 2;
      const [item] = await take(engine.finalized({ from: recent }), 1);
      assert.equal(item!.sequence, recent);
    } finally {
      await cluster.stop();
    }
  });

  test('bad start points are refused at once', () => {
    const cluster = new Cluster();
    const engine = cluster.engines[0]!;
    for (const options of [{ from: 0 }, { from: 1.5 }, { after: { sequence: -1, position: 0 } }]) {
      assert.throws(() => engine.finalized(options), ArgumentError, JSON.stringify(options));
    }
    assert.throws(() => engine.finalized({ from: 2, after: { sequence: 1, position: 0 } }), ArgumentError);
  });

  test('the stream ends when the engine stops, also during a replay', async () => {
    const cluster = new Cluster();
    const engine = cluster.engines[0]!;
    await cluster.start();
    await proposeSome(engine, 'end', 3);
    const stream = engine.finalized({ from: 1 });
    await take(stream, 3);
    const ended = stream.next();
    await cluster.stop();
    assert.deepEqual(await ended, { value: undefined, done: true });
  });
});
