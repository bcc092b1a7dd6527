/**
 * The log limiter (src/node/log-limiter.ts): a flood of events an unauthenticated party causes
 * costs a few lines with exact counts, a quiet interval costs nothing more than its line, and
 * memory stays within its caps. Time is a ManualClock: no test sleeps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogLimiter, type LogLimiterOptions } from '../../src/node/log-limiter.ts';
import { ConfigError } from '../../src/protocol/errors.ts';
import { ManualClock } from '../../src/shell/clock.ts';

interface Line {
  readonly event: string;
  readonly fields: Record<string, unknown>;
  readonly atMs: number;
}

function limiter(options: LogLimiterOptions = {}) {
  const clock = new ManualClock(1_000);
  const lines: Line[] = [];
  const log = new LogLimiter((event, fields) => lines.push({ event, fields, atMs: clock.now() }), {
    clock,
    ...options,
  });
  return { clock, lines, log };
}

const summaries = (lines: readonly Line[]) => lines.filter((line) => line.event.endsWith('-summary'));

describe('log limiter', () => {
  it('a flood of 50,000 refusals in one interval logs the first in full and one summary with the exact counts', () => {
    const { clock, lines, log } = limiter({ intervalMs: 10_000 });
    // 10.0.0.1 sends 60%, 10.0.0.2 20%, and 2,000 other addresses 5 each.
    const addressOf = (i: number) => {
      if (i % 5 < 3) return '10.0.0.1';
      if (i % 5 === 3) return '10.0.0.2';
      const k = ((i - 4) / 5) % 2000;
      return `198.18.${Math.floor(k / 256)}.${k % 256}`;
    };
    const codeOf = (i: number) => (i % 4 === 0 ? 'malformed' : 'bad-signature');
    for (let i = 0; i < 50_000; i++) {
      log.record(
        'handshake-refused',
        { code: codeOf(i), address: addressOf(i) },
        { remoteAddress: addressOf(i), code: codeOf(i), detail: `attempt ${i}` },
      );
      if (i % 10 === 9) clock.advance(1); // 50,000 in 5 s
    }
    assert.deepEqual(lines, [
      {
        event: 'handshake-refused',
        fields: { remoteAddress: '10.0.0.1', code: 'malformed', detail: 'attempt 0' },
        atMs: 1_000,
      },
    ]);
    clock.advance(5_000);
    assert.equal(lines.length, 2);
    const summary = lines[1]!;
    assert.equal(summary.event, 'handshake-refused-summary');
    assert.equal(summary.atMs, 11_000);
    assert.deepEqual(summary.fields, {
      intervalMs: 10_000,
      count: 50_000,
      suppressed: 49_999,
      byCode: { malformed: 12_500, 'bad-signature': 37_500 },
      // The others tie at 5: ties go in address order.
      addresses: {
        '10.0.0.1': 30_000,
        '10.0.0.2': 10_000,
        '198.18.0.0': 5,
        '198.18.0.1': 5,
        '198.18.0.10': 5,
      },
      addressesOther: 50_000 - 40_015,
    });
    // Most first.
    assert.deepEqual(Object.keys(summary.fields.addresses as object), [
      '10.0.0.1',
      '10.0.0.2',
      '198.18.0.0',
      '198.18.0.1',
      '198.18.0.10',
    ]);
    assert.equal(clock.pendingTimers, 0);
  });

  it('a flood spanning intervals costs two lines per interval, and the summaries add up to every event', () => {
    const { clock, lines, log } = limiter({ intervalMs: 10_000 });
    for (let i = 0; i < 50_000; i++) {
      log.record('handshake-refused', { code: 'timeout', address: '203.0.113.7' }, { i });
      clock.advance(1); // 50,000 over 50 s: five intervals
    }
    clock.advance(10_000);
    assert.equal(lines.length, 10, JSON.stringify(lines.map((line) => line.event)));
    assert.deepEqual(
      lines.map((line) => line.event),
      Array(5).fill(['handshake-refused', 'handshake-refused-summary']).flat(),
    );
    // Each interval's full line is the first event after the previous one ended.
    assert.deepEqual(
      lines.filter((line) => line.event === 'handshake-refused').map((line) => line.fields.i),
      [0, 10_000, 20_000, 30_000, 40_000],
    );
    const counted = summaries(lines).map((line) => line.fields.count as number);
    assert.deepEqual(counted, [10_000, 10_000, 10_000, 10_000, 10_000]);
    for (const line of summaries(lines)) {
      assert.deepEqual(line.fields.byCode, { timeout: 10_000 });
      assert.deepEqual(line.fields.addresses, { '203.0.113.7': 10_000 });
      assert.equal(line.fields.addressesOther, 0);
    }
  });

  it('a quiet interval logs its one line and nothing more; no timer is left behind', () => {
    const { clock, lines, log } = limiter({ intervalMs: 10_000 });
    log.record(
      'handshake-refused',
      { code: 'wrong-cluster', address: '198.51.100.4' },
      { code: 'wrong-cluster' },
    );
    assert.equal(lines.length, 1);
    clock.advance(60_000);
    assert.equal(lines.length, 1);
    assert.equal(clock.pendingTimers, 0);
    // Nothing at all: nothing logged, no timer.
    const quiet = limiter();
    quiet.clock.advance(60_000);
    assert.deepEqual(quiet.lines, []);
    assert.equal(quiet.clock.pendingTimers, 0);
  });

  it('the addresses counted one by one stay within their cap; the rest are still counted', () => {
    const { clock, lines, log } = limiter({
      intervalMs: 10_000,
      addressesTrackedMax: 100,
      summaryAddressesMax: 3,
    });
    for (let i = 0; i < 20_000; i++) {
      log.record('handshake-refused', { code: 'malformed', address: `2001:db8::${i.toString(16)}` }, {});
      assert.ok(log.addressesTracked('handshake-refused') <= 100);
    }
    assert.equal(log.addressesTracked('handshake-refused'), 100);
    clock.advance(10_000);
    assert.equal(log.addressesTracked('handshake-refused'), 0);
    const summary = summaries(lines)[0]!.fields;
    assert.equal(summary.count, 20_000);
    assert.equal(Object.keys(summary.addresses as object).length, 3);
    assert.equal(summary.addressesOther, 20_000 - 3);
  });

  it('codes beyond the cap are counted as other; an event without an address is counted as unknown', () => {
    const { clock, lines, log } = limiter({ codesMax: 2 });
    for (const code of ['a', 'b', 'c', 'd', 'a']) log.record('refused', { code, address: undefined }, {});
    clock.advance(10_000);
    assert.deepEqual(summaries(lines)[0]!.fields.byCode, { a: 2, b: 1, other: 2 });
    assert.deepEqual(summaries(lines)[0]!.fields.addresses, { unknown: 5 });
  });

  it('each event name has its own interval', () => {
    const { clock, lines, log } = limiter({ intervalMs: 10_000 });
    log.record('handshake-refused', { code: 'replay', address: '10.0.0.9' }, {});
    clock.advance(4_000);
    log.record('dial-failed', { code: 'ECONNREFUSED', address: '10.0.0.3:7100' }, {});
    log.record('dial-failed', { code: 'ECONNREFUSED', address: '10.0.0.3:7100' }, {});
    log.record('handshake-refused', { code: 'replay', address: '10.0.0.9' }, {});
    clock.advance(6_000);
    assert.deepEqual(
      lines.map((line) => [line.event, line.atMs]),
      [
        ['handshake-refused', 1_000],
        ['dial-failed', 5_000],
        ['handshake-refused-summary', 11_000],
      ],
    );
    clock.advance(4_000);
    assert.deepEqual(lines.at(-1)!.event, 'dial-failed-summary');
    assert.equal(lines.at(-1)!.fields.count, 2);
  });

  it('close() logs what is held back at once, with the time the interval ran, and ignores later events', () => {
    const { clock, lines, log } = limiter({ intervalMs: 10_000 });
    for (let i = 0; i < 7; i++) log.record('handshake-refused', { code: 'closed', address: '10.1.1.1' }, {});
    clock.advance(2_500);
    log.close();
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(summaries(lines)[0]!.fields, {
      intervalMs: 2_500,
      count: 7,
      suppressed: 6,
      byCode: { closed: 7 },
      addresses: { '10.1.1.1': 7 },
      addressesOther: 0,
    });
    log.record('handshake-refused', { code: 'closed', address: '10.1.1.1' }, {});
    clock.advance(60_000);
    assert.equal(lines.length, 2);
    assert.equal(clock.pendingTimers, 0);
  });

  it('refuses an interval or a cap that is not a positive integer', () => {
    for (const options of [{ intervalMs: 0 }, { addressesTrackedMax: -1 }, { codesMax: 1.5 }]) {
      assert.throws(() => new LogLimiter(() => {}, options), ConfigError, JSON.stringify(options));
    }
  });
});
