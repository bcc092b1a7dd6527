/**
 * The exactly-once checks of the chaos harness (`chaos/checks.ts`), fed made-up records: each
 * kind of failure the operators reported is counted under its name, and a clean run counts none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CheckInput, checkRun } from '../../chaos/checks.ts';
import type { StreamConnection } from '../../chaos/event-streams.ts';
import type { SubmittedVertex } from '../../chaos/load.ts';
import type { LookupResult, NodeLookups } from '../../chaos/lookups.ts';
import type { StatusSample } from '../../chaos/sampler.ts';

const NODES = 4;

function hash(k: number): string {
  return k.toString(16).padStart(64, '0');
}

function acked(k: number, node = 0, answeredMs = 1000): SubmittedVertex {
  return { k, hash: hash(k), node, sentMs: answeredMs - 5, outcome: 'acked', answeredMs, status: 202 };
}

function final(sequence: number, index: number): LookupResult {
  return { status: 'final', sequence, index, view: 0, batchAgrees: true };
}

function status(durableSequence: number, chainDigest = 'c'.repeat(64)): StatusSample {
  return {
    atMs: 0,
    view: 0,
    viewActive: true,
    leader: 'node-0',
    sequence: durableSequence,
    durableSequence,
    chainDigest,
    pendingProposals: 0,
  };
}

/**
 * A clean run: vertices 0..count-1 at sequence 1 + floor(k / 10), index k % 10, on every node,
 * each node's one connection seeing every one of them there.
 */
function cleanRun(count: number): {
  vertices: SubmittedVertex[];
  streams: StreamConnection[][];
  lookups: NodeLookups[];
  finalStatuses: StatusSample[];
} {
  const vertices = Array.from({ length: count }, (_, k) => acked(k, k % NODES));
  const lookups = Array.from({ length: NODES }, (): NodeLookups => {
    const lookups: NodeLookups = { results: new Map(), sequences: new Map(), listedAt: new Map() };
    for (const vertex of vertices) {
      const sequence = 1 + Math.floor(vertex.k / 10);
      lookups.results.set(vertex.hash, final(sequence, vertex.k % 10));
      lookups.sequences.set(sequence, {
        batchDigest: `b${sequence}`,
        chainDigest: `c${sequence}`,
        view: 0,
        size: 10,
      });
      lookups.listedAt.set(vertex.hash, [sequence]);
    }
    return lookups;
  });
  const streams = Array.from({ length: NODES }, (_, node): StreamConnection[] => [
    {
      node,
      openedMs: 0,
      closedMs: null,
      events: vertices.map((vertex) => ({
        hash: vertex.hash,
        sequence: 1 + Math.floor(vertex.k / 10),
        position: vertex.k % 10,
        view: 0,
        atMs: 2000,
      })),
    },
  ]);
  const last = 1 + Math.floor((count - 1) / 10);
  return { vertices, streams, lookups, finalStatuses: Array.from({ length: NODES }, () => status(last)) };
}

function input(run: ReturnType<typeof cleanRun>, extra: Partial<CheckInput> = {}): CheckInput {
  return { ...run, converged: true, marks: [], ...extra };
}

describe('chaos checks', () => {
  it('a clean run counts nothing lost, duplicated or divergent, and says yes five times', () => {
    const result = checkRun(input(cleanRun(40)));
    assert.deepEqual(
      { acked: result.acked, lost: result.lost, duplicated: result.duplicated, divergent: result.divergent },
      { acked: 40, lost: 0, duplicated: 0, divergent: 0 },
    );
    assert.equal(result.lines.length, 5);
    for (const line of result.lines) assert.match(line, /: yes, /);
  });

  it('an acknowledged vertex missing on one node is lost, and charged to the kill that followed its 202', () => {
    const run = cleanRun(40);
    run.lookups[2]!.results.set(hash(7), { status: 'not-found', detail: 'not-found' });
    const result = checkRun(
      input(run, { marks: [{ node: run.vertices[7]!.node, atMs: 1200, what: 'down' }] }),
    );
    assert.equal(result.lost, 1);
    assert.match(result.lines[0]!, /NO, 1 of 40 not \(node-2: 1 not-found\)/);
    assert.ok(result.notes.some((note) => /1 acknowledged by a node SIGKILLed within 0\.5 s/.test(note)));
  });

  it('a lost vertex whose node was wiped while down is charged to the wipe, not to a kill', () => {
    const run = cleanRun(40);
    run.lookups[2]!.results.set(hash(7), { status: 'not-found', detail: 'not-found' });
    const node = run.vertices[7]!.node;
    const result = checkRun(
      input(run, {
        marks: [
          { node, atMs: 9000, what: 'down' },
          { node, atMs: 9100, what: 'wiped' },
          { node, atMs: 10_000, what: 'up' },
        ],
      }),
    );
    assert.equal(result.lost, 1);
    assert.ok(
      result.notes.some((note) =>
        /1 acknowledged by a node SIGKILLed and wiped more than 5 s later/.test(note),
      ),
      result.notes.join('\n'),
    );
  });

  it('an event place that differs from the lookup place is divergent (the 391.2431 vs 391.2444 report)', () => {
    const run = cleanRun(40);
    run.streams[1]![0]!.events[13] = { ...run.streams[1]![0]!.events[13]!, position: 1 };
    const result = checkRun(input(run));
    assert.equal(result.divergent, 1);
    assert.equal(result.duplicated, 0);
    assert.match(result.lines[3]!, /NO, 1 of 160 events differ/);
  });

  it('a vertex delivered at two places by one node is duplicated', () => {
    const run = cleanRun(40);
    const events = run.streams[0]![0]!.events;
    events.push({ ...events[5]!, sequence: 9, position: 0 });
    const result = checkRun(input(run));
    assert.equal(result.duplicated, 1);
    assert.match(result.lines[2]!, /1 at two places/);
  });

  it('a vertex delivered again at the same place after a reconnect is duplicated, and said so', () => {
    const run = cleanRun(40);
    const again = run.streams[3]![0]!.events[8]!;
    run.streams[3]!.push({ node: 3, openedMs: 3000, closedMs: null, events: [{ ...again, atMs: 3100 }] });
    const result = checkRun(input(run));
    assert.equal(result.duplicated, 1);
    assert.match(result.lines[2]!, /1 again at the same place after a restart/);
  });

  it('a wiped node delivering its history again as it catches up is no duplicate', () => {
    const run = cleanRun(40);
    const replay = run.streams[3]![0]!.events.map((event) => ({ ...event, atMs: 5000 }));
    run.streams[3]!.push({ node: 3, openedMs: 4000, closedMs: null, events: replay });
    const result = checkRun(input(run, { marks: [{ node: 3, atMs: 3000, what: 'wiped' }] }));
    assert.equal(result.duplicated, 0);
    assert.ok(result.notes.some((note) => /^40 events delivered again .* by a wiped node/.test(note)));
  });

  it('a vertex at different places on two nodes, or in a batch whose digests differ, is divergent', () => {
    const run = cleanRun(40);
    run.lookups[3]!.results.set(hash(2), final(1, 3));
    run.lookups[3]!.sequences.set(4, { batchDigest: 'other', chainDigest: 'c4', view: 0, size: 10 });
    const result = checkRun(input(run));
    // Vertex 2 (places differ), and vertices 30..39 (sequence 4) on node 3's side, whose events
    // also still match: 1 + 10 divergent vertices.
    assert.equal(result.divergent, 11);
    assert.match(
      result.lines[1]!,
      /1 vertices at different places, 0 .*, 1 sequences with different batch or chain digests/,
    );
  });

  it('nodes at one durable sequence with two chain digests count as divergent nodes; a lagging node only fails agreement', () => {
    const forked = cleanRun(40);
    forked.finalStatuses[1] = status(4, 'd'.repeat(64));
    const result = checkRun(input(forked));
    assert.equal(result.divergent, 1);
    assert.match(result.lines[4]!, /NO, .*\(1 forked at one sequence\)/);

    const lagging = cleanRun(40);
    lagging.finalStatuses[2] = status(3, 'e'.repeat(64));
    const lagResult = checkRun(input(lagging, { converged: false }));
    assert.equal(lagResult.divergent, 0);
    assert.match(lagResult.lines[4]!, /NO, .*\(not converged\)/);
  });

  it('a vertex never acknowledged but final on some nodes only is divergent, not lost', () => {
    const run = cleanRun(40);
    const extra: SubmittedVertex = { ...acked(99), outcome: 'uncertain', answeredMs: -1, status: 0 };
    run.vertices.push(extra);
    run.lookups[0]!.results.set(extra.hash, final(5, 0));
    for (const node of [1, 2, 3])
      run.lookups[node]!.results.set(extra.hash, { status: 'not-found', detail: '' });
    const result = checkRun(input(run));
    assert.equal(result.lost, 0);
    assert.equal(result.divergent, 1);
  });
});
