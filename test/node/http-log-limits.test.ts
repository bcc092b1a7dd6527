/**
 * The rate-limited log of client-caused HTTP events: one line per event per interval, every
 * occurrence accounted for in a line's `suppressed` count, on a manual clock (no test sleeps).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimitedLog } from '../../src/node/http-log-limits.ts';
import { Logger } from '../../src/node/log.ts';
import { ManualClock } from '../../src/shell/clock.ts';
import { Prng } from '../../src/sim/prng.ts';

interface Line {
  readonly at: number;
  readonly level: string;
  readonly event: string;
  readonly suppressed: number;
  readonly [field: string]: unknown;
}

function setup(intervalMs = 1_000) {
  const clock = new ManualClock();
  const lines: Line[] = [];
  const logger = new Logger('node-0', 'debug', (text) => {
    const json = JSON.parse(text);
    lines.push({ ...json, at: clock.now(), suppressed: json.suppressed ?? 0 });
  });
  return { clock, lines, log: new RateLimitedLog({ logger, intervalMs, clock }) };
}

describe('rate-limited HTTP log', () => {
  it('writes the first occurrence at once, and a flood within the interval as one line with its count when the interval ends', () => {
    const { clock, lines, log } = setup(1_000);
    log.log('info', 'http-request-aborted', { address: '10.0.0.1' });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.suppressed, 0);
    assert.equal(lines[0]!.address, '10.0.0.1');
    for (let i = 0; i < 10_000; i++) {
      clock.advance(0.05);
      log.log('info', 'http-request-aborted', { address: `10.0.0.${i % 200}` });
    }
    assert.equal(lines.length, 1, 'nothing more within the interval');
    clock.advance(1_000);
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.suppressed, 10_000, 'the 10,000 occurrences after the first');
    assert.equal(lines[1]!.at, 1_000, 'the summary comes when the interval ends');
    assert.equal(lines[1]!.address, '10.0.0.199', 'with the latest occurrence’s fields');
    assert.equal(clock.pendingTimers, 0);
    // Quiet since: the next occurrence is written at once.
    clock.advance(5_000);
    log.log('warn', 'http-request-aborted');
    assert.equal(lines.length, 3);
    assert.equal(lines[2]!.level, 'warn');
    assert.equal(lines[2]!.suppressed, 0);
  });

  it('limits each event on its own', () => {
    const { lines, log } = setup();
    log.log('warn', 'http-connection-refused', { reason: 'total' });
    log.log('info', 'http-request-aborted');
    log.log('warn', 'http-connection-refused', { reason: 'total' });
    assert.deepEqual(
      lines.map((line) => line.event),
      ['http-connection-refused', 'http-request-aborted'],
    );
  });

  it('close() writes what is still suppressed and leaves no timer', () => {
    const { clock, lines, log } = setup();
    log.log('info', 'http-client-error', { kind: 'malformed' });
    log.log('info', 'http-client-error', { kind: 'timeout' });
    log.log('info', 'http-client-error', { kind: 'timeout' });
    log.close();
    assert.equal(clock.pendingTimers, 0);
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.suppressed, 2);
    assert.equal(lines[1]!.kind, 'timeout');
  });

  it('random floods: lines of one event are an interval apart, and every occurrence is counted once', () => {
    const seed = Number(process.env.HTTP_LOG_SEED ?? Math.floor(Math.random() * 0xffff_ffff));
    console.log(`# rate-limited HTTP log: seed ${seed} (replay with HTTP_LOG_SEED=${seed})`);
    const prng = new Prng(seed);
    const intervalMs = 1 + prng.int(2_000);
    const { clock, lines, log } = setup(intervalMs);
    const events = ['a', 'b', 'c'];
    const calls = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      // Bursts and lulls: mostly small steps, sometimes a long quiet.
      clock.advance(prng.chance(0.01) ? prng.int(5 * intervalMs) : prng.float() * 5);
      const event = prng.pick(events);
      calls.set(event, (calls.get(event) ?? 0) + 1);
      log.log('info', event);
    }
    log.close();
    for (const event of events) {
      const own = lines.filter((line) => line.event === event);
      for (let i = 1; i < own.length - 1; i++) {
        // The last line may be close()'s flush, which comes when the node stops.
        assert.ok(own[i]!.at - own[i - 1]!.at >= intervalMs, `seed ${seed}: ${event} lines ${i - 1}, ${i}`);
      }
      // A line with `suppressed: n` stands for the n occurrences since the line before it.
      const counted = own.reduce((sum, line) => sum + (line.suppressed > 0 ? line.suppressed : 1), 0);
      assert.equal(counted, calls.get(event), `seed ${seed}: ${event}`);
    }
    assert.equal(clock.pendingTimers, 0, `seed ${seed}`);
  });
});
