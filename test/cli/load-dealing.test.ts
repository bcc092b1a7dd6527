import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunDealer } from '../../src/cli/load.ts';

/** The nodes of a tick's `count` vertices, in the order they were dealt. */
function tick(dealer: RunDealer, count: number): number[] {
  dealer.startTick(count);
  return Array.from({ length: count }, () => dealer.next());
}

/** How many vertices each node got, for `nodes` nodes. */
function perNode(dealt: readonly number[], nodes: number): number[] {
  const counts = new Array<number>(nodes).fill(0);
  for (const node of dealt) counts[node]!++;
  return counts;
}

describe('the bench load dealing vertices to nodes', () => {
  it('sends a tick smaller than a run to one node, the next tick to the next node', () => {
    const dealer = new RunDealer(4, 64);
    // 10,000/s in 5 ms ticks: 50 vertices a tick, one request to one node per tick.
    const turns = [0, 1, 2, 3, 4, 5].map(() => tick(dealer, 50));
    for (const [i, dealt] of turns.entries()) assert.deepEqual(new Set(dealt), new Set([i % 4]), `tick ${i}`);
  });

  it('splits a large tick evenly, one run per node', () => {
    const dealer = new RunDealer(4, 64);
    // A 'max' load filling its window of 5,000.
    assert.deepEqual(perNode(tick(dealer, 5000), 4), [1250, 1250, 1250, 1250]);
    // The next tick starts with the node after the last one served.
    assert.equal(tick(dealer, 10)[0], 0);
  });

  it('deals a middling tick in runs of the minimum, starting where the last tick stopped', () => {
    const dealer = new RunDealer(4, 64);
    const dealt = tick(dealer, 150);
    assert.deepEqual(perNode(dealt, 4), [64, 64, 22, 0]);
    // Runs are contiguous: a node's vertices are not interleaved with another's.
    assert.deepEqual(dealt.slice(0, 64), new Array(64).fill(0));
    assert.equal(tick(dealer, 1)[0], 3);
  });

  it('gives one node everything', () => {
    const dealer = new RunDealer(1, 64);
    assert.deepEqual(perNode(tick(dealer, 500), 1), [500]);
    assert.deepEqual(perNode(tick(dealer, 3), 1), [3]);
  });
});
