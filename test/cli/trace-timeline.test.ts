/**
 * The timeline `npm run bench:trace` prints: first occurrences per sample, medians across
 * samples, rows of the uncommon path left out, peers named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTimeline, formatTimeline, type NodeTracePoint } from '../../src/cli/trace-timeline.ts';

const validators = ['node-0', 'node-1'];

test('the timeline takes each step first occurrence per sample and the median across samples', () => {
  const points: NodeTracePoint[] = [];
  const samples = [];
  // Three samples a second apart; node-1 receives the PRE-PREPARE 2, 4 and 9 ms after submission.
  for (const [i, receivedMs] of [2, 4, 9].entries()) {
    const base = 1_000_000_000 + i * 1_000_000;
    samples.push({ sequence: i + 1, submittedAt: base, finalAt: base + 20_000 });
    points.push(
      { node: 'node-0', at: base + 1_000, step: 'assigned', sequence: i + 1 },
      {
        node: 'node-1',
        at: base + receivedMs * 1000,
        step: 'received',
        sequence: i + 1,
        kind: 'pre-prepare',
        peer: 0,
      },
      // A repeat in the same sample does not count.
      { node: 'node-1', at: base + 15_000, step: 'received', sequence: i + 1, kind: 'pre-prepare', peer: 0 },
      // Another sequence's point inside the window does not count either.
      { node: 'node-1', at: base + 3_000, step: 'delivered', sequence: 99 },
    );
  }
  // A step seen in one sample of three is not the common path.
  points.push({ node: 'node-1', at: 1_000_005_000, step: 'sent', sequence: 1, kind: 'status', peer: 'all' });
  const timeline = buildTimeline(points, samples, validators);
  assert.equal(timeline.samples, 3);
  assert.equal(timeline.finalMs, 20);
  assert.deepEqual(
    timeline.rows.map((row) => [row.node, row.step, row.kind, row.peer, row.medianMs, row.samples]),
    [
      ['node-0', 'assigned', '', '', 1, 3],
      ['node-1', 'received', 'pre-prepare', 'node-0', 4, 3],
    ],
  );
  const lines = formatTimeline(timeline);
  assert.match(lines[3]!, /^ {4}1\.00 {4}1\.00 {2}node-0 +assigned/);
  assert.match(lines.at(-1)!, /20\.00 +16\.00 {2}client +final/);
});
