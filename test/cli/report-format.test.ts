import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReports } from '../../src/cli/cluster-commands.ts';
import { failureCause, type LoadReport } from '../../src/cli/load.ts';

function report(overrides: Partial<LoadReport>): LoadReport {
  return {
    rate: 10_000,
    payloadBytes: 256,
    measuredSeconds: 25,
    offered: 300_000,
    measuredOffered: 250_000,
    accepted: 250_000,
    rejected: 0,
    rejectedByCode: {},
    failed: 0,
    failedByCause: {},
    finalized: 250_000,
    unfinished: 0,
    offeredPerSecond: 10_000,
    finalizedPerSecond: 10_000,
    eventStreamLost: false,
    latency: { count: 250_000, p50Ms: 48.2, p90Ms: 80, p99Ms: 120.5, p999Ms: 150, maxMs: 180, meanMs: 50 },
    ...overrides,
  };
}

describe('the bench summary', () => {
  it('has one row a rate and no refusal line when nothing was refused', () => {
    const lines = formatReports([report({ rate: 100 }), report({})]);
    assert.equal(lines.length, 3);
    assert.match(
      lines[0]!,
      /rate\s+offered\/s\s+finalized\/s\s+p50 ms\s+p99 ms\s+p99\.9 ms\s+max ms\s+rejected\s+unfinished/,
    );
    assert.match(lines[2]!, /^\s*10000\s+10000\s+10000\s+48\.2\s+120\.5\s+150\.0\s+180\.0\s+0\s+0$/);
  });

  it('says what the rejected column counts, by the node code and failed requests by cause', () => {
    const lines = formatReports([
      report({ rate: 100 }),
      report({
        rejected: 1_606,
        rejectedByCode: { full: 1_604, expired: 2 },
        failed: 3,
        failedByCause: { 'HTTP 503': 2, ECONNRESET: 1 },
      }),
    ]);
    assert.equal(lines.length, 4);
    assert.match(lines[2]!, /\s1609\s+0$/);
    assert.equal(
      lines[3],
      'rate 10000: 1609 rejected (expired 2, full 1604, failed requests 3: ECONNRESET 1, HTTP 503 2)',
    );
  });

  it('names a failed request by its socket error code, or else its message', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.equal(failureCause(reset), 'ECONNRESET');
    assert.equal(failureCause(new Error('the answer was not JSON')), 'the answer was not JSON');
    assert.equal(failureCause('closed'), 'closed');
  });
});
