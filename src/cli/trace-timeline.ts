/**
 * The timeline of lone vertices, from the trace files of every node (`--trace-vertex`): where
 * the time between a client's submission and its vertex's finality goes, step by step, across
 * the nodes. `npm run bench:trace` submits vertices one at a time and prints it.
 *
 * Each sample is one vertex: its sequence, when the client sent it and when the client heard it
 * was final. A step that happened at a node for that sequence (or, for steps without a sequence,
 * inside the sample's window) counts at its first occurrence; a row of the timeline is one step
 * at one node (and peer), with its median offset from the submission over the samples that have
 * it. Rows seen in fewer than half of the samples are left out: they are not the common path.
 */
import type { TracePoint } from '../engine/index.ts';

/** A trace point as a trace file holds it: with the node that recorded it. */
export type NodeTracePoint = TracePoint & { readonly node: string };

/** One vertex submitted alone. */
export interface TraceSample {
  readonly sequence: number;
  /** Microseconds since the Unix epoch, as the trace points. */
  readonly submittedAt: number;
  readonly finalAt: number;
}

export interface TimelineRow {
  readonly node: string;
  readonly step: string;
  readonly kind: string;
  /** Where the message came from or went, as the node id, or '' when none. */
  readonly peer: string;
  /** Median milliseconds after the submission. */
  readonly medianMs: number;
  /** How many samples had this step. */
  readonly samples: number;
}

export interface Timeline {
  readonly samples: number;
  /** Median milliseconds from submission to the client hearing the vertex was final. */
  readonly finalMs: number;
  readonly rows: readonly TimelineRow[];
}

/**
 * Builds the timeline of `samples` from every node's points.
 *
 * @param validators - node ids by replica index, to name the peers of messages.
 */
export function buildTimeline(
  points: readonly NodeTracePoint[],
  samples: readonly TraceSample[],
  validators: readonly string[],
): Timeline {
  const sorted = [...points].sort((a, b) => a.at - b.at);
  const offsets = new Map<string, { row: Omit<TimelineRow, 'medianMs' | 'samples'>; ms: number[] }>();
  for (const sample of samples) {
    const seen = new Set<string>();
    for (const point of sorted) {
      if (point.at < sample.submittedAt) continue;
      if (point.at > sample.finalAt) break;
      if (point.sequence !== null && point.sequence !== sample.sequence) continue;
      const peer = peerName(point.peer, validators);
      const kind = point.kind ?? '';
      const key = `${point.node}\u0000${point.step}\u0000${kind}\u0000${peer}`;
      if (seen.has(key)) continue;
      seen.add(key);
      let entry = offsets.get(key);
      if (entry === undefined) {
        entry = { row: { node: point.node, step: point.step, kind, peer }, ms: [] };
        offsets.set(key, entry);
      }
      entry.ms.push((point.at - sample.submittedAt) / 1000);
    }
  }
  const rows: TimelineRow[] = [];
  for (const { row, ms } of offsets.values()) {
    if (ms.length * 2 < samples.length) continue;
    rows.push({ ...row, medianMs: median(ms), samples: ms.length });
  }
  rows.sort((a, b) => a.medianMs - b.medianMs);
  const finalMs = median(samples.map((sample) => (sample.finalAt - sample.submittedAt) / 1000));
  return { samples: samples.length, finalMs, rows };
}

/** The timeline as a table: offset, the gap since the row before, node, step, kind, peer. */
export function formatTimeline(timeline: Timeline): string[] {
  const lines = [
    `${timeline.samples} vertices, each submitted alone; median milliseconds after the submission`,
    '',
    `${'at ms'.padStart(8)} ${'+ms'.padStart(7)}  ${'node'.padEnd(10)} ${'step'.padEnd(9)} ${'kind'.padEnd(13)} peer`,
  ];
  let previous = 0;
  for (const row of timeline.rows) {
    lines.push(
      `${row.medianMs.toFixed(2).padStart(8)} ${(row.medianMs - previous).toFixed(2).padStart(7)}  ` +
        `${row.node.padEnd(10)} ${row.step.padEnd(9)} ${row.kind.padEnd(13)} ${row.peer}`,
    );
    previous = row.medianMs;
  }
  lines.push(
    `${timeline.finalMs.toFixed(2).padStart(8)} ${(timeline.finalMs - previous).toFixed(2).padStart(7)}  client     final`,
  );
  return lines;
}

function peerName(peer: TracePoint['peer'], validators: readonly string[]): string {
  if (peer === undefined) return '';
  if (typeof peer === 'number') return validators[peer] ?? `replica ${peer}`;
  return peer;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
