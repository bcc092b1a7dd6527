/**
 * The closed-loop runner of `npm run bench:compare`, on a virtual clock: each caller keeps one
 * request in flight, throughput counts what is done in the measured window, latency what
 * started in it, and failures stop the run past their bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type PutFunction, runClosedLoop, TooManyFailuresError } from '../../bench/closed-loop.ts';
import { ArgumentError } from '../../src/errors.ts';

/**
 * A virtual clock with timers, and a pump that moves it to the next timer whenever the code
 * under test has nothing else to do (its promise callbacks and immediates have run).
 */
function virtualTime(): {
  now(): number;
  after(ms: number): Promise<void>;
  run<T>(work: Promise<T>): Promise<T>;
} {
  let clock = 0;
  let order = 0;
  const timers: { at: number; order: number; fire: () => void }[] = [];
  return {
    now: () => clock,
    after: (ms) =>
      new Promise<void>((resolve) => {
        timers.push({ at: clock + ms, order: order++, fire: resolve });
      }),
    async run(work) {
      // Settled by a handler attached at once, so that a rejection is never unhandled.
      const outcome: { settled: boolean; value?: Awaited<typeof work>; error?: unknown } = { settled: false };
      work.then(
        (value) => Object.assign(outcome, { settled: true, value }),
        (error: unknown) => Object.assign(outcome, { settled: true, error }),
      );
      for (;;) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (outcome.settled) break;
        timers.sort((a, b) => a.at - b.at || a.order - b.order);
        const next = timers.shift();
        if (next === undefined) throw new Error('the work waits, but no timer is set');
        clock = next.at;
        next.fire();
      }
      if ('error' in outcome) throw outcome.error;
      return outcome.value!;
    },
  };
}

/** The histogram keeps 3 significant digits: a percentile reads as the top of its bucket. */
function near(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= expected * 1e-3, `${actual} is not within 0.1% of ${expected}`);
}

test('each caller keeps one request in flight and issues the next when it is done', async () => {
  const time = virtualTime();
  const calls: [number, number, number][] = [];
  let inFlight = 0;
  let inFlightMax = 0;
  const put: PutFunction = async (client, request) => {
    calls.push([client, request, time.now()]);
    inFlight++;
    inFlightMax = Math.max(inFlightMax, inFlight);
    await time.after(client === 0 ? 10 : 30);
    inFlight--;
  };
  const summary = await time.run(runClosedLoop({ clients: 2, durationMs: 300, put, now: time.now }));
  // Caller 0 starts at 0, 10, ..., 290; caller 1 at 0, 30, ..., 270: all done by 300.
  assert.equal(calls.filter(([client]) => client === 0).length, 30);
  assert.equal(calls.filter(([client]) => client === 1).length, 10);
  assert.deepEqual(
    calls.filter(([client]) => client === 1).map(([, request, at]) => [request, at]),
    Array.from({ length: 10 }, (_, i) => [i, i * 30]),
  );
  assert.equal(inFlightMax, 2);
  assert.equal(summary.completed, 40);
  assert.equal(summary.failed, 0);
  assert.equal(summary.measuredSeconds, 0.3);
  assert.ok(Math.abs(summary.opsPerSecond - 40 / 0.3) < 1e-9);
  assert.equal(summary.latency.count, 40);
  near(summary.latency.p50Ms, 10);
  near(summary.latency.p99Ms, 30);
  near(summary.latency.maxMs, 30);
});

test('the warm-up is left out: throughput counts requests done after it, latency those started after it', async () => {
  const time = virtualTime();
  const put: PutFunction = (client) => time.after(client === 0 ? 10 : 30);
  const summary = await time.run(
    runClosedLoop({ clients: 2, durationMs: 300, warmupMs: 100, put, now: time.now }),
  );
  // Done in (100, 300]: caller 0 at 110..300 (20), caller 1 at 120..300 (7).
  assert.equal(summary.completed, 27);
  assert.equal(summary.measuredSeconds, 0.2);
  assert.ok(Math.abs(summary.opsPerSecond - 135) < 1e-9);
  // Started in [100, 300): caller 0 at 100..290 (20), caller 1 at 120..270 (6).
  assert.equal(summary.latency.count, 26);
});

test('a request started before the end is waited for, and counts in latency but not in throughput', async () => {
  const time = virtualTime();
  const put: PutFunction = () => time.after(70);
  const summary = await time.run(runClosedLoop({ clients: 1, durationMs: 100, put, now: time.now }));
  // Starts at 0 and 70; the second is done at 140, after the end.
  assert.equal(time.now(), 140);
  assert.equal(summary.completed, 1);
  assert.equal(summary.latency.count, 2);
  near(summary.latency.maxMs, 70);
});

test('failed requests are counted, not measured, and the caller goes on', async () => {
  const time = virtualTime();
  const put: PutFunction = async (_client, request) => {
    await time.after(10);
    if (request % 2 === 1) throw new Error('refused');
  };
  const summary = await time.run(runClosedLoop({ clients: 1, durationMs: 100, put, now: time.now }));
  assert.equal(summary.completed, 5);
  assert.equal(summary.failed, 5);
  assert.equal(summary.latency.count, 5);
});

test('past failuresMax the run stops and rejects with the last failure', async () => {
  const time = virtualTime();
  let calls = 0;
  const put: PutFunction = async () => {
    calls++;
    await time.after(1);
    throw new Error(`refused ${calls}`);
  };
  await assert.rejects(
    time.run(runClosedLoop({ clients: 1, durationMs: 1000, failuresMax: 3, put, now: time.now })),
    (error: unknown) =>
      error instanceof TooManyFailuresError && error.failures === 4 && error.message.endsWith('refused 4'),
  );
  assert.equal(calls, 4);
});

test('a bad configuration is refused before any request', async () => {
  const put: PutFunction = () => Promise.reject(new Error('not called'));
  await assert.rejects(runClosedLoop({ clients: 0, durationMs: 10, put }), ArgumentError);
  await assert.rejects(runClosedLoop({ clients: 1, durationMs: 10, warmupMs: 10, put }), ArgumentError);
});
