/**
 * The chaos harness end to end, in this process: four node processes under an open-loop load of
 * unique vertices, each submitted once, while a seeded schedule kills, stops and wipes nodes and
 * delays and resets their links; afterwards every acknowledged vertex must be final exactly
 * once, at one place, on every node, and the nodes must agree on one history.
 *
 * CHAOS_SEED replays another seed; the default one draws a wipe, two nodes down, and loss and
 * delay on the links within the run. Long runs stay behind `npm run chaos`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runChaos } from '../../chaos/chaos.ts';
import { formatReport } from '../../chaos/report.ts';

const seed = Number(process.env.CHAOS_SEED ?? 3);
const durationS = 22;
// Low enough that the lookups at the end (every vertex on every node, about 1,000 a second on
// two cores) keep the whole test near 40 s.
const ratePerSecond = 150;

describe('chaos: exactly once under faults, four node processes', { timeout: 120_000 }, () => {
  it(`every acknowledged vertex is final once, at one place, on every node (seed ${seed}; replay: npm run chaos -- --duration ${durationS} --seed ${seed} --rate ${ratePerSecond})`, async (t) => {
    const report = await runChaos({ durationS, seed, ratePerSecond, log: (line) => t.diagnostic(line) });
    for (const line of formatReport(report)) t.diagnostic(line);
    assert.ok(report.acked > 1000, 'the load was acknowledged');
    assert.ok(
      report.faults.filter((fault) => fault.skipped === null).length >= 3,
      'the schedule injected faults',
    );
    assert.deepEqual(
      { lost: report.lost, duplicated: report.duplicated, divergent: report.divergent },
      { lost: 0, duplicated: 0, divergent: 0 },
      report.check.lines.join('\n'),
    );
    assert.ok(report.converged, 'the nodes converged on one history');
    assert.deepEqual(report.unexpectedExits, [], 'no node exited on its own');
  });
});
