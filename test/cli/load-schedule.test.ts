import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sleepBeforeNext, verticesDue } from '../../src/cli/load.ts';

describe('the bench load schedule at a fixed rate', () => {
  it('offers vertex k as soon as it is due at k / rate, not one interval later', () => {
    // 100/s: vertex 0 is due at 0 ms, vertex 1 at 10 ms.
    assert.equal(verticesDue(0, 100, 1000), 1);
    assert.equal(verticesDue(9.99, 100, 1000), 1);
    assert.equal(verticesDue(10, 100, 1000), 2);
    assert.equal(verticesDue(995, 100, 1000), 100);
  });

  it('offers exactly rate x duration vertices, the last one due before the end', () => {
    assert.equal(verticesDue(1000, 100, 1000), 100);
    assert.equal(verticesDue(5000, 100, 1000), 100);
    assert.equal(verticesDue(30_000, 10_000, 30_000), 300_000);
    // A rate that does not divide the duration: vertices due at 0, 333.3 and 666.7 ms.
    assert.equal(verticesDue(1000, 3, 1000), 3);
  });

  it('sleeps until the next vertex is due, between 1 ms and one tick', () => {
    // At 100/s, 2 ms after vertex 1 was due, vertex 2 is due in 8 ms: one tick (5 ms) at most.
    assert.equal(sleepBeforeNext(12, 2, 100), 5);
    assert.equal(sleepBeforeNext(17.5, 2, 100), 3);
    // Already due (a late wake), or due within the timers' resolution: 1 ms.
    assert.equal(sleepBeforeNext(25, 2, 100), 1);
    assert.equal(sleepBeforeNext(0.95, 10, 10_000), 1);
  });
});
