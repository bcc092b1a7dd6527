import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InFlightLimit } from '../../src/cli/load.ts';

/** The limits of `ticks` ticks in a row without a refusal. */
function ticks(limit: InFlightLimit, count: number): number[] {
  return Array.from({ length: count }, () => limit.tick());
}

describe("the bench 'max' load's vertices in flight", () => {
  it('keeps its whole window in flight while no node refuses', () => {
    const limit = new InFlightLimit(20_000);
    assert.deepEqual(new Set(ticks(limit, 100)), new Set([20_000]));
  });

  it('drops below what the cluster held when a node refuses as full, then grows back to the window', () => {
    const limit = new InFlightLimit(16_384);
    limit.tick();
    limit.refused(5_000);
    assert.equal(limit.limit, 4_375);
    // The tick after a refusal holds the limit; the later ones raise it by a 1,024th each.
    assert.equal(limit.tick(), 4_375);
    assert.deepEqual(ticks(limit, 3), [4_380, 4_385, 4_390]);
    const later = ticks(limit, 2_000);
    for (let i = 1; i < later.length; i++) assert.ok(later[i]! >= later[i - 1]!, `tick ${i} shrank`);
    assert.equal(later.at(-1), 16_384);
  });

  it('stays at the lowest refusal of a tick and never below its floor', () => {
    const limit = new InFlightLimit(16_384, 64);
    limit.refused(8_000);
    // A later answer of the same tick, from a node that held more, does not raise it again.
    limit.refused(12_000);
    assert.equal(limit.limit, 7_000);
    limit.refused(10);
    assert.equal(limit.limit, 64);
    assert.equal(limit.tick(), 64);
    assert.equal(limit.tick(), 65);
  });

  it('never exceeds a window smaller than its floor', () => {
    const limit = new InFlightLimit(10, 64);
    limit.refused(0);
    assert.equal(limit.limit, 10);
    assert.deepEqual(ticks(limit, 3), [10, 10, 10]);
  });
});
