/**
 * The chaos harness's reading of time (`chaos/timeline.ts`): stalls and the faults they are
 * charged to, the view timelines, and a node alone in a higher view.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusSample } from '../../chaos/sampler.ts';
import {
  aloneInHigherView,
  findStalls,
  formatTimeline,
  longestStallByKind,
  viewTimeline,
} from '../../chaos/timeline.ts';

function sample(atMs: number, view: number, viewActive = true): StatusSample {
  return {
    atMs,
    view,
    viewActive,
    leader: `node-${view % 4}`,
    sequence: 0,
    durableSequence: 0,
    chainDigest: '',
    pendingProposals: 0,
  };
}

describe('stalls', () => {
  it('every gap between progress moments is a stall, charged to the fault active when it began', () => {
    const stalls = findStalls([100, 200, 3000, 3100], 0, 3200, [{ kind: 'kill', startMs: 150, endMs: 2500 }]);
    assert.deepEqual(
      stalls.map((stall) => [stall.fromMs, stall.toMs, stall.kinds]),
      [
        [0, 100, []],
        [100, 200, ['kill']], // the kill started within the slack after this gap opened
        [200, 3000, ['kill']],
        [3000, 3100, ['kill']], // none active: the most recent one
        [3100, 3200, ['kill']],
      ],
    );
    const longest = longestStallByKind(stalls);
    assert.equal(longest.get('kill')?.durationMs, 2800);
    assert.equal(longest.get('none')?.durationMs, 100);
  });

  it('a fault injected more than the slack after a gap opened is not charged with it', () => {
    const stalls = findStalls([0, 5000], 0, 5000, [
      { kind: 'delay', startMs: -5000, endMs: -4000 },
      { kind: 'wipe', startMs: 2000, endMs: 2500 },
    ]);
    assert.deepEqual(stalls[0]!.kinds, ['delay']);
    assert.deepEqual(stalls[0]!.injectedDuring, ['wipe'], 'but it is named as injected during the stall');
  });

  it('overlapping faults share a stall', () => {
    const [stall] = findStalls([1000], 0, 1000, [
      { kind: 'loss', startMs: 0, endMs: 900 },
      { kind: 'kill', startMs: 300, endMs: 2000 },
    ]);
    assert.deepEqual([...stall!.kinds].sort(), ['kill', 'loss']);
  });
});

describe('view timelines', () => {
  it('records each change of view or view state, and the process marks, in time order', () => {
    const entries = viewTimeline(
      [sample(0, 0), sample(250, 0), sample(500, 1, false), sample(750, 1), sample(1000, 1)],
      [{ node: 0, atMs: 600, what: 'down' }],
    );
    assert.equal(formatTimeline(entries), 'v0@0.0 v1(vc)@0.5 down@0.6 v1@0.8');
  });

  it('keeps a long timeline to its first and last entries', () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({ atMs: i * 1000, label: `v${i}` }));
    const text = formatTimeline(entries, 4);
    assert.equal(text, 'v0@0.0 v1@1.0 ... 26 more ... v28@28.0 v29@29.0');
  });

  it('finds the longest time a node spent alone in a view above every other live node', () => {
    const samples = [
      [sample(0, 1), sample(1000, 1), sample(2000, 1), sample(3000, 1)],
      [sample(10, 1), sample(1010, 1), sample(2010, 1), sample(3010, 1)],
      [sample(20, 1), sample(1020, 4), sample(2020, 4), sample(3020, 1)],
    ];
    const [alone] = aloneInHigherView(samples, 1500);
    assert.deepEqual(
      { node: alone!.node, view: alone!.view, othersView: alone!.othersView, fromMs: alone!.fromMs },
      { node: 2, view: 4, othersView: 1, fromMs: 1020 },
    );
    // Alone until the sample that shows it back in view 1.
    assert.equal(alone!.durationMs, 3020 - 1020);
  });

  it('does not count a node as alone against nodes that stopped answering', () => {
    const samples = [[sample(0, 1)], [sample(0, 1), sample(5000, 3), sample(6000, 3)]];
    assert.deepEqual(aloneInHigherView(samples, 1000), []);
  });
});
