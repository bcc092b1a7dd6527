/**
 * The event hub's resumed streams, on a real HTTP server with a scripted history in place of the
 * engine and its store: a replay that joins the live stream while vertices keep being delivered
 * gives every vertex once, in order, whatever the moment it catches up (seeded schedules); the
 * replay reads the store no faster than the client reads; a sequence pruned during a replay ends
 * the stream with an `error` event.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { FinalizedEvent } from '../../src/client/api.ts';
import { SseParser } from '../../src/client/sse.ts';
import type { FinalizedVertex } from '../../src/engine/index.ts';
import { EventHub, resumePoint } from '../../src/node/events.ts';
import { Logger } from '../../src/node/log.ts';
import { createVertex, type FinalizedRecord, type Vertex, vertexKey } from '../../src/protocol/index.ts';
import { Prng } from '../../src/sim/prng.ts';

/** A stand-in for the engine and its store: records appended, then delivered to the hub. */
class ScriptedHistory {
  readonly records = new Map<number, FinalizedRecord>();
  delivered = 0;
  reads = 0;
  /** Sequences at or below this read as pruned. */
  prunedThrough = 0;

  finalizedAt(sequence: number): FinalizedRecord | undefined {
    this.reads++;
    return sequence <= this.prunedThrough ? undefined : this.records.get(sequence);
  }

  /** Finalizes the next sequence with `count` vertices (the first skipped as a duplicate when `skipFirst`). */
  deliver(hub: EventHub, count: number, skipFirst = false): void {
    const sequence = this.delivered + 1;
    const batch: Vertex[] = Array.from({ length: count }, (_, i) =>
      createVertex(new TextEncoder().encode(`v${sequence}.${i}`), { validThrough: 1_000_000 }),
    );
    this.deliverBatch(hub, batch, 0, skipFirst);
  }

  /** Finalizes the next sequence with `batch`, committed in `view`. */
  deliverBatch(hub: Pick<EventHub, 'push'>, batch: Vertex[], view: number, skipFirst = false): void {
    const sequence = this.delivered + 1;
    const delivered = batch.map((_, i) => i).filter((i) => !(skipFirst && i === 0));
    const record = { sequence, view, batch, delivered } as unknown as FinalizedRecord;
    this.records.set(sequence, record);
    this.delivered = sequence;
    for (const position of delivered) {
      const vertex = batch[position]!;
      hub.push({ vertex, hash: vertex.hash, sequence, position, view } satisfies FinalizedVertex);
    }
  }
}

interface Server {
  readonly url: string;
  readonly hub: EventHub;
  close(): Promise<void>;
}

async function serve(
  history: ScriptedHistory,
  follow?: (push: (item: FinalizedVertex) => void) => () => void,
): Promise<Server> {
  const hub = new EventHub({
    follow,
    clientsMax: 16,
    bufferBytesMax: 8 << 20,
    logger: new Logger('test', 'error', { sink: () => undefined }),
    history: {
      finalizedAt: (sequence) => history.finalizedAt(sequence),
      deliveredSequence: () => history.delivered,
    },
  });
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const after = resumePoint(
      request.headers['last-event-id'] as string | undefined,
      url.searchParams.get('from'),
    );
    if (after !== null && 'error' in after) {
      response.writeHead(400).end(after.error);
      return;
    }
    hub.add(request, response, { payload: url.searchParams.get('payload') === '1', after });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hub,
    close: async () => {
      hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A raw event-stream reader: every event's type, id and parsed data. */
interface Reader {
  readonly events: {
    type: string;
    id: string;
    data: { sequence?: number; position?: number; code?: string };
    /** The data as it came, before parsing. */
    text: string;
  }[];
  readonly response: http.IncomingMessage;
  readonly ended: Promise<void>;
  until(predicate: () => boolean): Promise<void>;
  close(): void;
}

function open(url: string, headers: Record<string, string> = {}): Promise<Reader> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      const parser = new SseParser();
      const events: Reader['events'] = [];
      const waiters = new Set<() => void>();
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        for (const event of parser.push(text))
          events.push({
            type: event.type,
            id: event.lastEventId,
            data: JSON.parse(event.data),
            text: event.data,
          });
        for (const waiter of [...waiters]) waiter();
      });
      const ended = new Promise<void>((done) => response.on('close', () => done()));
      resolve({
        events,
        response,
        ended,
        until(predicate) {
          if (predicate()) return Promise.resolve();
          return new Promise((done, fail) => {
            const check = (): void => {
              if (!predicate()) return;
              waiters.delete(check);
              done();
            };
            waiters.add(check);
            ended.then(() => {
              if (!predicate()) fail(new Error(`the stream ended after ${events.length} events`));
            });
          });
        },
        close: () => request.destroy(),
      });
    });
    request.on('error', reject);
  });
}

/** The ids the history's records give, in order, after `after` (exclusive). */
/** Waits, one event-loop turn at a time, until `predicate` holds. */
async function waitFor(predicate: () => boolean): Promise<void> {
  for (let turn = 0; !predicate(); turn++) {
    if (turn > 100_000) throw new Error('the condition never held');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function idsAfter(history: ScriptedHistory, after: { sequence: number; position: number }): string[] {
  const ids: string[] = [];
  for (let sequence = 1; sequence <= history.delivered; sequence++) {
    for (const position of history.records.get(sequence)!.delivered) {
      if (sequence > after.sequence || (sequence === after.sequence && position > after.position))
        ids.push(`${sequence}.${position}`);
    }
  }
  return ids;
}

describe('GET /v1/events resumed (the hub, with a scripted history)', { timeout: 60_000 }, () => {
  test('resumePoint: Last-Event-ID wins over ?from; malformed ones are refused', () => {
    assert.deepEqual(resumePoint('12.3', '1'), { sequence: 12, position: 3 });
    assert.deepEqual(resumePoint(undefined, '7'), { sequence: 7, position: -1 });
    assert.deepEqual(resumePoint('', null), null);
    for (const [id, from] of [
      ['12', null],
      ['a.b', null],
      ['1.2.3', null],
      [undefined, '0'],
      [undefined, '-3'],
      [undefined, '1e3'],
    ] as const) {
      const result = resumePoint(id, from);
      assert.ok(result !== null && 'error' in result, `${id} ${from}`);
    }
  });

  test('replays that catch up while sequences keep being delivered give each vertex once, in order (seeded)', async () => {
    const seed = Number(process.env.EVENT_REPLAY_SEED ?? Math.floor(Math.random() * 0xffff_ffff));
    console.log(`# event replay: seed ${seed} (replay with EVENT_REPLAY_SEED=${seed})`);
    const prng = new Prng(seed);
    const history = new ScriptedHistory();
    const server = await serve(history);
    try {
      for (let i = 0; i < 40; i++) history.deliver(server.hub, 1 + prng.int(5), prng.chance(0.2));
      const readers: { reader: Reader; after: { sequence: number; position: number } }[] = [];
      const total = 400;
      // Readers join at seeded moments, from seeded places (some mid-batch, some ahead of what
      // is delivered), while sequences keep being delivered a few per event-loop turn.
      while (history.delivered < total) {
        if (prng.chance(0.15)) {
          const sequence = 1 + prng.int(history.delivered + 5);
          const record = history.records.get(sequence);
          // Resume after a delivered vertex (a batch may deliver none: then from the sequence).
          const first = record?.delivered[0];
          const position = first !== undefined && prng.chance(0.5) ? first : -1;
          const after = { sequence, position };
          const reader =
            position < 0
              ? await open(`${server.url}/v1/events?from=${sequence}`)
              : await open(`${server.url}/v1/events`, { 'last-event-id': `${sequence}.${position}` });
          readers.push({ reader, after: position < 0 ? { sequence, position: -1 } : after });
        }
        for (let n = prng.int(3); n >= 0; n--) history.deliver(server.hub, 1 + prng.int(5), prng.chance(0.2));
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(readers.length >= 5, `${readers.length} readers`);
      for (const { reader, after } of readers) {
        const expected = idsAfter(history, after);
        await reader.until(() => reader.events.length >= expected.length);
        assert.deepEqual(
          reader.events.map((event) => event.id),
          expected,
          `reader after ${after.sequence}.${after.position}`,
        );
        reader.close();
      }
    } finally {
      await server.close();
    }
  });

  test("an event's data is its FinalizedEvent's JSON, byte for byte, live and replayed", async () => {
    const history = new ScriptedHistory();
    const server = await serve(history);
    // Payloads of every length modulo 3 (base64 padding), an empty one, bytes of every value.
    const payloads = [0, 1, 2, 3, 255, 256, 1000].map((length) =>
      Uint8Array.from({ length }, (_, i) => (i * 37 + length) & 255),
    );
    const expected = (view: number, withPayload: boolean): string[] => {
      const texts: string[] = [];
      for (let sequence = 1; sequence <= history.delivered; sequence++) {
        const record = history.records.get(sequence)!;
        for (const position of record.delivered) {
          const vertex = record.batch[position]!;
          const event: FinalizedEvent = {
            hash: vertexKey(vertex),
            sequence,
            position,
            view,
            payloadBytes: vertex.payload.length,
            ...(withPayload ? { payload: Buffer.from(vertex.payload).toString('base64') } : {}),
          };
          texts.push(JSON.stringify(event));
        }
      }
      return texts;
    };
    try {
      const live = await open(`${server.url}/v1/events`);
      const liveWithPayload = await open(`${server.url}/v1/events?payload=1`);
      const view = 2 ** 40 + 3;
      const batch = payloads.map((payload) => createVertex(payload, { validThrough: 2 ** 50 }));
      history.deliverBatch(server.hub, batch, view, true);
      const second = payloads.slice(0, 2).map((payload) => createVertex(payload, { validThrough: 7 }));
      history.deliverBatch(server.hub, second, view);
      // The first vertex of the first batch is skipped, as a duplicate would be.
      const count = payloads.length - 1 + second.length;
      await live.until(() => live.events.length === count);
      await liveWithPayload.until(() => liveWithPayload.events.length === count);
      const replayed = await open(`${server.url}/v1/events?from=1&payload=1`);
      await replayed.until(() => replayed.events.length === count);
      assert.deepEqual(
        live.events.map((event) => event.text),
        expected(view, false),
      );
      assert.deepEqual(
        liveWithPayload.events.map((event) => event.text),
        expected(view, true),
      );
      assert.deepEqual(
        replayed.events.map((event) => event.text),
        expected(view, true),
      );
      for (const reader of [live, liveWithPayload, replayed]) reader.close();
    } finally {
      await server.close();
    }
  });

  test('the hub follows the engine only while it has clients', async () => {
    const history = new ScriptedHistory();
    const engine = new EventEmitter<{ finalized: [FinalizedVertex] }>();
    const server = await serve(history, (push) => {
      engine.on('finalized', push);
      return () => engine.off('finalized', push);
    });
    const finalize = (payload: string): void => {
      const vertex = createVertex(new TextEncoder().encode(payload), { validThrough: 10 });
      history.deliverBatch({ push: (item) => engine.emit('finalized', item) }, [vertex], 0);
    };
    try {
      finalize('before any client');
      assert.equal(engine.listenerCount('finalized'), 0);
      const first = await open(`${server.url}/v1/events`);
      const second = await open(`${server.url}/v1/events?from=1`);
      await second.until(() => second.events.length === 1);
      assert.equal(engine.listenerCount('finalized'), 1);
      finalize('followed');
      await first.until(() => first.events.length === 1);
      await second.until(() => second.events.length === 2);
      assert.deepEqual(
        [first.events.map((event) => event.id), second.events.map((event) => event.id)],
        [['2.0'], ['1.0', '2.0']],
      );
      first.close();
      await first.ended;
      await waitFor(() => server.hub.clients === 1);
      assert.equal(engine.listenerCount('finalized'), 1);
      second.close();
      await second.ended;
      await waitFor(() => server.hub.clients === 0);
      assert.equal(engine.listenerCount('finalized'), 0);
    } finally {
      await server.close();
    }
  });

  test('a replay reads the store no faster than the client reads', async () => {
    const history = new ScriptedHistory();
    const server = await serve(history);
    try {
      // About 16 MB of events: more than the socket buffers hold.
      for (let i = 0; i < 20_000; i++) history.deliver(server.hub, 4);
      const reader = await open(`${server.url}/v1/events?from=1&payload=1`);
      reader.response.pause();
      // Give the replay event-loop turns (not wall-clock time) to run ahead if it would.
      let stable = 0;
      let reads = history.reads;
      for (let turn = 0; turn < 10_000 && stable < 200; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
        stable = history.reads === reads ? stable + 1 : 0;
        reads = history.reads;
      }
      assert.ok(
        history.reads < 10_000,
        `the replay read ${history.reads} of 20,000 records ahead of a paused client`,
      );
      reader.response.resume();
      await reader.until(() => reader.events.length === 80_000);
      assert.deepEqual(
        reader.events.map((event) => event.id),
        idsAfter(history, { sequence: 0, position: -1 }),
      );
      reader.close();
    } finally {
      await server.close();
    }
  });

  test('a sequence pruned while the replay runs ends the stream with an error event', async () => {
    const history = new ScriptedHistory();
    const server = await serve(history);
    try {
      for (let i = 0; i < 4000; i++) history.deliver(server.hub, 16);
      const reader = await open(`${server.url}/v1/events?from=1&payload=1`);
      reader.response.pause();
      history.prunedThrough = 3500;
      reader.response.resume();
      await reader.ended;
      const last = reader.events.at(-1)!;
      assert.equal(last.type, 'error');
      assert.equal(last.data.code, 'pruned');
      const finalized = reader.events.filter((event) => event.type === 'finalized');
      assert.ok(finalized.length < 3500 * 16, `${finalized.length} events before the error`);
      assert.deepEqual(
        finalized.map((event) => event.id),
        idsAfter(history, { sequence: 0, position: -1 }).slice(0, finalized.length),
      );
    } finally {
      await server.close();
    }
  });
});
