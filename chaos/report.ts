/**
 * The run's report as lines of text: the load, the faults with the longest stall each was
 * charged, the view timelines, the five checks, and last the one-line verdict
 * `acked: A, lost: L, duplicated: D, divergent: V`.
 */
import type { ChaosReport } from './chaos.ts';
import { formatTimeline } from './timeline.ts';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** The final line, exactly as the issue quotes it. */
export function verdictLine(
  report: Pick<ChaosReport, 'acked' | 'lost' | 'duplicated' | 'divergent'>,
): string {
  return `acked: ${report.acked}, lost: ${report.lost}, duplicated: ${report.duplicated}, divergent: ${report.divergent}`;
}

export function formatReport(report: ChaosReport): string[] {
  const lines: string[] = [];
  const { options, load } = report;
  const at = (ms: number): string => `${((ms - report.loadStartMs) / 1000).toFixed(1)} s`;
  lines.push(
    `chaos: seed ${options.seed}, ${options.nodes} nodes, ${options.durationS} s (faults until ${at(report.faultPhaseEndMs)}), ${options.ratePerSecond} vertices/s`,
  );
  const refused = Object.entries(load.refusedByStatus)
    .map(([status, count]) => `${count} x ${status}`)
    .join(', ');
  lines.push(
    `load: ${load.offered} offered, ${load.acked} acknowledged (202), ${load.refused} refused${refused === '' ? '' : ` (${refused})`}, ${load.unreachable} unreachable, ${load.uncertain} without an answer, ${load.notSent} not sent`,
  );
  for (const anomaly of load.anomalies.slice(0, 5)) lines.push(`load anomaly: ${anomaly}`);

  lines.push('faults (injected; longest stall without a new finalized sequence, charged to the kind):');
  for (const entry of report.faultKinds) {
    const name = entry.kind === 'none' ? '(before any fault)' : entry.kind;
    const stall =
      entry.longestStall === null
        ? 'no stall'
        : `longest stall ${seconds(entry.longestStall.durationMs)} from ${at(entry.longestStall.fromMs)}`;
    const count =
      entry.kind === 'none'
        ? ''
        : `${entry.injected} injected${entry.skipped > 0 ? ` (${entry.skipped} skipped)` : ''}, `;
    lines.push(`  ${name.padEnd(18)} ${count}${stall}`);
  }
  const top = report.longestStalls.slice(0, 5);
  lines.push(
    `longest stalls: ${top.map((stall) => `${seconds(stall.durationMs)} from ${at(stall.fromMs)} (${stall.kinds.length === 0 ? 'no fault' : stall.kinds.join('+')}${stall.injectedDuring.length === 0 ? '' : `, then ${stall.injectedDuring.join('+')}`})`).join('; ')}`,
  );

  lines.push(
    'views (view@s from the start of the load; (vc): changing view; down/up/stopped/continued/wiped/exited: the process):',
  );
  report.timelines.forEach((entries, node) => {
    const shifted = entries.map((entry) => ({ ...entry, atMs: entry.atMs - report.loadStartMs }));
    lines.push(`  node-${node}: ${formatTimeline(shifted)}`);
  });
  const alone = report.aloneInView[0];
  lines.push(
    alone === undefined
      ? 'alone in a higher view: never'
      : `alone in a higher view: longest node-${alone.node} ${seconds(alone.durationMs)} in view ${alone.view} (others at ${alone.othersView}) from ${at(alone.fromMs)}`,
  );
  lines.push(
    report.unexpectedExits.length === 0
      ? 'unexpected exits: none'
      : `unexpected exits: ${report.unexpectedExits.map((exit) => `node-${exit.node} at ${at(exit.atMs)} (${exit.signal ?? `status ${exit.code}`})`).join(', ')}`,
  );
  if (report.proxies !== null) {
    const sum = (key: 'connections' | 'resets' | 'chunksDelayed' | 'overflows'): number =>
      report.proxies!.reduce((total, stats) => total + stats[key], 0);
    lines.push(
      `proxies: ${sum('connections')} connections, ${sum('resets')} reset by loss, ${sum('chunksDelayed')} chunks delayed, ${sum('overflows')} overflows`,
    );
  }
  lines.push(
    `events seen per node: ${report.eventsSeen.map((count, node) => `node-${node} ${count}`).join(', ')}; ${report.converged ? `converged in ${seconds(report.convergeMs)}` : 'NOT converged'}`,
  );
  for (const line of report.check.lines) lines.push(`check: ${line}`);
  for (const note of report.check.notes) lines.push(`note: ${note}`);
  for (const [kind, examples] of Object.entries(report.check.examples))
    for (const example of examples) lines.push(`example ${kind}: ${example}`);
  lines.push(verdictLine(report));
  return lines;
}

/** The report as JSON: everything but the per-connection events, which can be large. */
export function reportJson(report: ChaosReport): unknown {
  return {
    timesMs: 'every *Ms field counts from the start of the harness; the load started at loadStartMs',
    ...report,
    timelines: report.timelines.map((entries) =>
      entries.map((entry) => ({
        atS: Number(((entry.atMs - report.loadStartMs) / 1000).toFixed(3)),
        label: entry.label,
      })),
    ),
    lines: formatReport(report),
  };
}
