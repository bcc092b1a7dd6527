/**
 * What the samples and the harness's own actions say over time, as pure functions of recorded
 * data: each node's view timeline, the longest time a node spent alone in a view above every
 * other live node's, and the stalls of the cluster with the faults they followed.
 */
import type { FaultKind } from './options.ts';
import type { StatusSample } from './sampler.ts';

/** Something the harness did to a node process. */
export interface ProcessMark {
  readonly node: number;
  readonly atMs: number;
  readonly what: 'down' | 'up' | 'stopped' | 'continued' | 'wiped' | 'exited';
}

/** One entry of a node's timeline. */
export interface TimelineEntry {
  readonly atMs: number;
  /** `v3` (view 3, active), `v3(vc)` (changing to view 3), or a process mark. */
  readonly label: string;
}

/** A node's timeline: a new entry whenever its view or view state changes, and every mark. */
export function viewTimeline(
  samples: readonly StatusSample[],
  marks: readonly ProcessMark[],
): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  let last = '';
  for (const sample of samples) {
    const label = `v${sample.view}${sample.viewActive ? '' : '(vc)'}`;
    if (label === last) continue;
    last = label;
    entries.push({ atMs: sample.atMs, label });
  }
  for (const mark of marks) entries.push({ atMs: mark.atMs, label: mark.what });
  // Samples and marks interleave; a mark shares its moment with no sample, so order by time.
  return entries.sort((a, b) => a.atMs - b.atMs);
}

/** A timeline on one line, at most `entriesMax` entries (the first and last halves). */
export function formatTimeline(entries: readonly TimelineEntry[], entriesMax = 24): string {
  const text = (entry: TimelineEntry): string => `${entry.label}@${(entry.atMs / 1000).toFixed(1)}`;
  if (entries.length <= entriesMax) return entries.map(text).join(' ');
  const half = Math.floor(entriesMax / 2);
  return [
    ...entries.slice(0, half).map(text),
    `... ${entries.length - 2 * half} more ...`,
    ...entries.slice(-half).map(text),
  ].join(' ');
}

/** The longest stretch one node spent in a view above every other live node's. */
export interface AloneInView {
  readonly node: number;
  readonly fromMs: number;
  readonly durationMs: number;
  readonly view: number;
  readonly othersView: number;
}

/**
 * For each node, the longest time its view was above every other node's latest view, counting
 * only nodes sampled within `freshMs` (a node that is down or stopped has no say). Returns one
 * entry per node that was ever alone above, longest first.
 */
export function aloneInHigherView(
  samples: readonly (readonly StatusSample[])[],
  freshMs = 1000,
): AloneInView[] {
  const merged: { node: number; sample: StatusSample }[] = [];
  for (const [node, list] of samples.entries()) for (const sample of list) merged.push({ node, sample });
  merged.sort((a, b) => a.sample.atMs - b.sample.atMs);
  const latest: (StatusSample | undefined)[] = samples.map(() => undefined);
  const best = new Map<number, AloneInView>();
  let streak: { node: number; fromMs: number; view: number; othersView: number } | null = null;
  const closeStreak = (atMs: number): void => {
    if (streak === null) return;
    const durationMs = atMs - streak.fromMs;
    const previous = best.get(streak.node);
    if (previous === undefined || durationMs > previous.durationMs)
      best.set(streak.node, { ...streak, durationMs });
    streak = null;
  };
  for (const { node, sample } of merged) {
    latest[node] = sample;
    const now = sample.atMs;
    const live = latest
      .map((each, index) => ({ index, each }))
      .filter((entry) => entry.each !== undefined && now - entry.each.atMs <= freshMs);
    let alone: { node: number; view: number; othersView: number } | null = null;
    if (live.length >= 2) {
      const views = live.map((entry) => entry.each!.view);
      const top = Math.max(...views);
      const atTop = live.filter((entry) => entry.each!.view === top);
      if (atTop.length === 1) {
        const othersView = Math.max(
          ...live.filter((entry) => entry.each!.view !== top).map((e) => e.each!.view),
        );
        alone = { node: atTop[0]!.index, view: top, othersView };
      }
    }
    if (streak !== null && (alone === null || alone.node !== streak.node || alone.view !== streak.view))
      closeStreak(now);
    if (alone !== null && streak === null) streak = { ...alone, fromMs: now };
    if (streak !== null) {
      const previous = best.get(streak.node);
      const durationMs = now - streak.fromMs;
      if (previous === undefined || durationMs > previous.durationMs)
        best.set(streak.node, { ...streak, durationMs });
    }
  }
  return [...best.values()].filter((each) => each.durationMs > 0).sort((a, b) => b.durationMs - a.durationMs);
}

/** A fault as it happened: injected at `startMs`, over (nodes back and caught up) at `endMs`. */
export interface FaultWindow {
  readonly kind: FaultKind;
  readonly startMs: number;
  readonly endMs: number;
}

/** A time without a new finalized sequence anywhere in the cluster. */
export interface Stall {
  readonly fromMs: number;
  readonly toMs: number;
  readonly durationMs: number;
  /** The faults it is charged to; empty when no fault had been injected yet. */
  readonly kinds: readonly FaultKind[];
  /** Faults injected later, while it lasted (not charged with it, but worth knowing). */
  readonly injectedDuring: readonly FaultKind[];
}

/**
 * Every gap between consecutive moments of cluster-wide progress (a sequence higher than any
 * seen before, at any node) within [fromMs, toMs], charged to the faults active when it began,
 * or to the most recently injected one when none was active.
 *
 * "When it began" has a slack: the last progress before a fault is injected comes a little
 * before the fault, so a fault that starts within `slackMs` after the gap opens is counted as
 * active at its start. Without it a kill would never be blamed for the stall it causes.
 */
export function findStalls(
  progressMs: readonly number[],
  fromMs: number,
  toMs: number,
  faults: readonly FaultWindow[],
  slackMs = 500,
): Stall[] {
  const moments = [fromMs, ...progressMs.filter((at) => at > fromMs && at < toMs), toMs].sort(
    (a, b) => a - b,
  );
  const stalls: Stall[] = [];
  for (let i = 1; i < moments.length; i++) {
    const start = moments[i - 1]!;
    const end = moments[i]!;
    if (end <= start) continue;
    const horizon = Math.min(end, start + slackMs);
    let kinds = faults
      .filter((fault) => fault.startMs <= horizon && fault.endMs >= start)
      .map((fault) => fault.kind);
    if (kinds.length === 0) {
      const before = faults.filter((fault) => fault.startMs <= start);
      const latest = before.reduce<FaultWindow | null>(
        (found, fault) => (found === null || fault.startMs > found.startMs ? fault : found),
        null,
      );
      if (latest !== null) kinds = [latest.kind];
    }
    const injectedDuring = faults
      .filter((fault) => fault.startMs > horizon && fault.startMs < end)
      .map((fault) => fault.kind);
    stalls.push({
      fromMs: start,
      toMs: end,
      durationMs: end - start,
      kinds: [...new Set(kinds)],
      injectedDuring: [...new Set(injectedDuring)],
    });
  }
  return stalls;
}

/** The longest stall charged to each kind ('none' for stalls before any fault). */
export function longestStallByKind(stalls: readonly Stall[]): Map<FaultKind | 'none', Stall> {
  const longest = new Map<FaultKind | 'none', Stall>();
  for (const stall of stalls) {
    const kinds: (FaultKind | 'none')[] = stall.kinds.length === 0 ? ['none'] : [...stall.kinds];
    for (const kind of kinds) {
      const previous = longest.get(kind);
      if (previous === undefined || stall.durationMs > previous.durationMs) longest.set(kind, stall);
    }
  }
  return longest;
}
