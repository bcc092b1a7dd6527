/**
 * The invariants of an exactly-once cluster, checked on what a run recorded (a pure function:
 * the unit tests feed it made-up records):
 *
 * 1. every acknowledged vertex is final on every node (lookups);
 * 2. at the same sequence and position on every node, in batches with the same digests;
 * 3. no vertex twice in any node's event stream, nor at two places;
 * 4. every event's place is the place the node's lookup gives;
 * 5. the nodes agree on (durableSequence, chainDigest) once converged.
 *
 * Counts, as the last line prints them: lost = acknowledged and not final on some node;
 * duplicated = delivered at two places, or seen twice, by one node's event streams (within a
 * connection, or again by a later connection after a restart; not after a wipe, when the node
 * delivers its history again as it fetches it); divergent = a vertex whose place,
 * batch or chain digest differs between nodes, that is final on some nodes and missing on
 * others, or whose event place differs from its lookup place, plus each node whose final
 * (durableSequence, chainDigest) differs from the others' at the same sequence.
 */
import type { StreamConnection } from './event-streams.ts';
import type { SubmittedVertex } from './load.ts';
import type { NodeLookups } from './lookups.ts';
import type { StatusSample } from './sampler.ts';
import type { ProcessMark } from './timeline.ts';

/** What the checks read. */
export interface CheckInput {
  readonly vertices: readonly SubmittedVertex[];
  /** Per node, its event-stream connections. */
  readonly streams: readonly (readonly StreamConnection[])[];
  /** Per node, its lookups. */
  readonly lookups: readonly NodeLookups[];
  /** Per node, its status once the run converged (or gave up), null if it did not answer. */
  readonly finalStatuses: readonly (StatusSample | null)[];
  /** Whether the nodes converged on one (durableSequence, chainDigest) in time. */
  readonly converged: boolean;
  /** Process marks, to tell when the node that acknowledged a lost vertex went down. */
  readonly marks: readonly ProcessMark[];
  /** The run time that printed times count from (the start of the load). Default 0. */
  readonly originMs?: number;
}

/** What the checks found. */
export interface CheckResult {
  readonly acked: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly divergent: number;
  /** One line per invariant, in the order of the module comment. */
  readonly lines: readonly string[];
  /** More lines that explain the failures (lost by cause, examples). */
  readonly notes: readonly string[];
  /** Up to a few hashes per kind of failure, for the JSON report. */
  readonly examples: Readonly<Record<string, readonly string[]>>;
}

/** Examples kept per kind of failure. */
const EXAMPLES_MAX = 5;

function place(sequence: number, position: number): string {
  return `${sequence}.${position}`;
}

function short(hash: string): string {
  return hash.slice(0, 12);
}

/** A set of failing hashes with a few readable examples. */
class Failures {
  readonly hashes = new Set<string>();
  readonly examples: string[] = [];

  add(hash: string, example: () => string): void {
    if (this.hashes.has(hash)) return;
    this.hashes.add(hash);
    if (this.examples.length < EXAMPLES_MAX) this.examples.push(example());
  }

  get size(): number {
    return this.hashes.size;
  }
}

function verdict(failures: number, okText: string, failText: string): string {
  return failures === 0 ? `yes, ${okText}` : `NO, ${failText}`;
}

export function checkRun(input: CheckInput): CheckResult {
  const nodes = input.lookups.length;
  const originMs = input.originMs ?? 0;
  const acked = input.vertices.filter((vertex) => vertex.outcome === 'acked');
  const notes: string[] = [];

  // 1. Every acknowledged vertex is final on every node.
  const lost = new Failures();
  const missingPerNode = Array.from({ length: nodes }, () => new Map<string, number>());
  for (const vertex of acked) {
    for (let node = 0; node < nodes; node++) {
      const result = input.lookups[node]!.results.get(vertex.hash);
      const status = result?.status ?? 'not looked up';
      if (status === 'final') continue;
      const counts = missingPerNode[node]!;
      counts.set(status, (counts.get(status) ?? 0) + 1);
      lost.add(
        vertex.hash,
        () =>
          `${short(vertex.hash)} (vertex ${vertex.k}) acknowledged by node-${vertex.node} at ${((vertex.answeredMs - originMs) / 1000).toFixed(2)} s, ${status} on node-${node}`,
      );
    }
  }
  const missingText = missingPerNode
    .map((counts, node) =>
      counts.size === 0
        ? ''
        : `node-${node}: ${[...counts].map(([status, count]) => `${count} ${status}`).join(', ')}`,
    )
    .filter((text) => text.length > 0)
    .join('; ');
  const line1 = `every acknowledged vertex final on every node: ${verdict(
    lost.size,
    `${acked.length} of ${acked.length}`,
    `${lost.size} of ${acked.length} not (${missingText})`,
  )}`;
  if (lost.size > 0) notes.push(...lostByCause(acked, lost.hashes, input.marks));

  // 2. The same place on every node, in batches with the same digests.
  const divergent = new Failures();
  const finalPlaces = new Map<string, (string | null)[]>();
  for (let node = 0; node < nodes; node++) {
    for (const [hash, result] of input.lookups[node]!.results) {
      let places = finalPlaces.get(hash);
      if (places === undefined) {
        places = Array.from({ length: nodes }, () => null);
        finalPlaces.set(hash, places);
      }
      if (result.status === 'final') places[node] = place(result.sequence, result.index);
    }
  }
  const ackedHashes = new Set(acked.map((vertex) => vertex.hash));
  let placeDiffers = 0;
  let partlyFinal = 0;
  let finalSomewhere = 0;
  for (const [hash, places] of finalPlaces) {
    const distinct = new Set(places.filter((each) => each !== null));
    if (distinct.size > 0) finalSomewhere++;
    if (distinct.size > 1) {
      placeDiffers++;
      divergent.add(
        hash,
        () => `${short(hash)} at ${places.map((each, node) => `node-${node} ${each ?? '-'}`).join(', ')}`,
      );
    } else if (distinct.size === 1 && places.includes(null) && !ackedHashes.has(hash)) {
      // Not acknowledged (it is counted as lost otherwise), yet final on some nodes only.
      partlyFinal++;
      divergent.add(
        hash,
        () =>
          `${short(hash)} final on some nodes only: ${places.map((each, node) => `node-${node} ${each ?? '-'}`).join(', ')}`,
      );
    }
  }
  let sequencesDiffer = 0;
  const allSequences = new Set<number>();
  for (const lookups of input.lookups)
    for (const sequence of lookups.sequences.keys()) allSequences.add(sequence);
  const differingSequences = new Set<number>();
  for (const sequence of allSequences) {
    const records = input.lookups
      .map((lookups) => lookups.sequences.get(sequence))
      .filter((each) => each !== undefined);
    const digests = new Set(records.map((record) => `${record.batchDigest}/${record.chainDigest}`));
    if (digests.size > 1) {
      sequencesDiffer++;
      differingSequences.add(sequence);
    }
  }
  if (differingSequences.size > 0) {
    for (let node = 0; node < nodes; node++) {
      for (const [hash, result] of input.lookups[node]!.results) {
        if (result.status === 'final' && differingSequences.has(result.sequence))
          divergent.add(
            hash,
            () =>
              `${short(hash)} at sequence ${result.sequence}, whose batch or chain digest differs between nodes`,
          );
      }
    }
  }
  const line2Failures = placeDiffers + partlyFinal + sequencesDiffer;
  const line2 = `same sequence and position on every node: ${verdict(
    line2Failures,
    `${finalSomewhere} final vertices in ${allSequences.size} sequences`,
    `${placeDiffers} vertices at different places, ${partlyFinal} unacknowledged vertices final on some nodes only, ${sequencesDiffer} sequences with different batch or chain digests`,
  )}`;

  // 3. No vertex twice in a node's event stream, nor at two places.
  const duplicated = new Failures();
  let twoPlaces = 0;
  let twiceInConnection = 0;
  let redelivered = 0;
  let listedTwice = 0;
  let replayedAfterWipe = 0;
  for (let node = 0; node < nodes; node++) {
    const wipes = input.marks.filter((mark) => mark.node === node && mark.what === 'wiped');
    const seen = new Map<string, { place: string; connection: number; atMs: number }>();
    for (const [connectionIndex, connection] of input.streams[node]!.entries()) {
      for (const event of connection.events) {
        const at = place(event.sequence, event.position);
        const earlier = seen.get(event.hash);
        if (earlier === undefined) {
          seen.set(event.hash, { place: at, connection: connectionIndex, atMs: event.atMs });
          continue;
        }
        const describe = (): string =>
          `${short(event.hash)} on node-${node}: ${earlier.place} then ${at}${earlier.connection === connectionIndex ? ' on one connection' : ' on a later connection'}`;
        if (earlier.place !== at) twoPlaces++;
        else if (earlier.connection === connectionIndex) twiceInConnection++;
        else if (wipes.some((wipe) => wipe.atMs >= earlier.atMs && wipe.atMs <= connection.openedMs)) {
          // A wiped node forgot what it had delivered and delivers its history again as it
          // fetches it by state transfer, at the same places: a new replica, not a duplicate.
          replayedAfterWipe++;
          seen.set(event.hash, { place: at, connection: connectionIndex, atMs: event.atMs });
          continue;
        } else redelivered++;
        duplicated.add(event.hash, describe);
      }
    }
    for (const [hash, sequences] of input.lookups[node]!.listedAt) {
      if (sequences.length > 1) {
        listedTwice++;
        if (listedTwice <= EXAMPLES_MAX)
          notes.push(
            `listed in two batches on node-${node}: ${short(hash)} at sequences ${sequences.join(', ')}`,
          );
      }
    }
  }
  const line3 = `no vertex twice in an event stream or at two places: ${verdict(
    duplicated.size,
    `${input.streams.reduce((sum, list) => sum + list.length, 0)} connections`,
    `${duplicated.size} vertices (${twoPlaces} at two places, ${twiceInConnection} twice on one connection, ${redelivered} again at the same place after a restart)`,
  )}`;
  if (replayedAfterWipe > 0)
    notes.push(
      `${replayedAfterWipe} events delivered again at their old places by a wiped node as it caught up by state transfer (not counted)`,
    );
  if (listedTwice > 0)
    notes.push(
      `${listedTwice} (node, vertex) pairs listed in the batches of two sequences (lookups' batch lists)`,
    );

  // 4. Every event place equals the node's lookup place.
  let eventMismatches = 0;
  let batchDisagrees = 0;
  let eventsChecked = 0;
  for (let node = 0; node < nodes; node++) {
    const results = input.lookups[node]!.results;
    for (const connection of input.streams[node]!) {
      for (const event of connection.events) {
        eventsChecked++;
        const result = results.get(event.hash);
        const at = place(event.sequence, event.position);
        if (result?.status === 'final' && place(result.sequence, result.index) === at) continue;
        eventMismatches++;
        const lookupText =
          result === undefined
            ? 'not looked up'
            : result.status === 'final'
              ? place(result.sequence, result.index)
              : result.status;
        divergent.add(
          event.hash,
          () => `${short(event.hash)} on node-${node}: event ${at}, lookup ${lookupText}`,
        );
      }
    }
    for (const [hash, result] of results) {
      if (result.status === 'final' && !result.batchAgrees) {
        batchDisagrees++;
        divergent.add(
          hash,
          () =>
            `${short(hash)} on node-${node}: lookup ${place(result.sequence, result.index)} but its batch lists another hash there`,
        );
      }
    }
  }
  const line4 = `every event place equals the lookup place: ${verdict(
    eventMismatches + batchDisagrees,
    `${eventsChecked} events`,
    `${eventMismatches} of ${eventsChecked} events differ from the lookup${batchDisagrees > 0 ? `, ${batchDisagrees} lookups whose batch lists another hash at their index` : ''}`,
  )}`;

  // 5. One (durableSequence, chainDigest) on every node.
  const answered = input.finalStatuses.map((status, node) => ({ status, node }));
  const describeStatus = (entry: { status: StatusSample | null; node: number }): string =>
    entry.status === null
      ? `node-${entry.node} silent`
      : `node-${entry.node} ${entry.status.durableSequence}/${entry.status.chainDigest.slice(0, 12)}`;
  const byPair = new Map<string, number>();
  for (const { status } of answered) {
    if (status === null) continue;
    const key = `${status.durableSequence}/${status.chainDigest}`;
    byPair.set(key, (byPair.get(key) ?? 0) + 1);
  }
  // Nodes at the same durable sequence with another chain digest: a forked history.
  const bySequence = new Map<number, Set<string>>();
  for (const { status } of answered) {
    if (status === null) continue;
    const digests = bySequence.get(status.durableSequence) ?? new Set<string>();
    digests.add(status.chainDigest);
    bySequence.set(status.durableSequence, digests);
  }
  let forkedNodes = 0;
  for (const [sequence, digests] of bySequence) {
    if (digests.size < 2) continue;
    const counts = answered
      .filter((entry) => entry.status?.durableSequence === sequence)
      .map((entry) => entry.status!.chainDigest);
    const majority = Math.max(
      ...[...digests].map((digest) => counts.filter((each) => each === digest).length),
    );
    forkedNodes += counts.length - majority;
  }
  const agreed = byPair.size === 1 && answered.every((entry) => entry.status !== null);
  const line5 = `nodes agree on (durableSequence, chainDigest): ${
    agreed && input.converged
      ? `yes, ${answered[0]!.status!.durableSequence}/${answered[0]!.status!.chainDigest.slice(0, 12)}`
      : `NO, ${answered.map(describeStatus).join(', ')}${forkedNodes > 0 ? ` (${forkedNodes} forked at one sequence)` : ' (not converged)'}`
  }`;

  return {
    acked: acked.length,
    lost: lost.size,
    duplicated: duplicated.size,
    divergent: divergent.size + forkedNodes,
    lines: [line1, line2, line3, line4, line5],
    notes,
    examples: {
      lost: lost.examples,
      duplicated: duplicated.examples,
      divergent: divergent.examples,
    },
  };
}

/**
 * Lost vertices by what happened to the node that acknowledged them next: were they acknowledged
 * by a node that went down (killed, wiped, or exited) soon after?
 */
function lostByCause(
  acked: readonly SubmittedVertex[],
  lostHashes: ReadonlySet<string>,
  marks: readonly ProcessMark[],
): string[] {
  const buckets = new Map<string, { count: number; minMs: number; maxMs: number }>();
  for (const vertex of acked) {
    if (!lostHashes.has(vertex.hash)) continue;
    const down = marks
      .filter((mark) => mark.node === vertex.node && (mark.what === 'down' || mark.what === 'exited'))
      .filter((mark) => mark.atMs >= vertex.answeredMs)
      .reduce<number | null>(
        (first, mark) => (first === null || mark.atMs < first ? mark.atMs : first),
        null,
      );
    const gapMs = down === null ? null : down - vertex.answeredMs;
    // A wipe destroys the one store that held an acknowledged vertex nobody had ordered yet:
    // told apart from a kill, which the store survives.
    const nextUp = marks.find(
      (mark) => mark.node === vertex.node && mark.what === 'up' && mark.atMs > (down ?? 0),
    );
    const wiped =
      down !== null &&
      marks.some(
        (mark) =>
          mark.node === vertex.node &&
          mark.what === 'wiped' &&
          mark.atMs >= down &&
          (nextUp === undefined || mark.atMs <= nextUp.atMs),
      );
    const fate = wiped ? 'SIGKILLed and wiped' : 'SIGKILLed';
    const bucket =
      gapMs === null
        ? 'acknowledged by a node that never went down after'
        : gapMs <= 500
          ? `acknowledged by a node ${fate} within 0.5 s`
          : gapMs <= 5000
            ? `acknowledged by a node ${fate} 0.5-5 s later`
            : `acknowledged by a node ${fate} more than 5 s later`;
    const entry = buckets.get(bucket) ?? { count: 0, minMs: Number.POSITIVE_INFINITY, maxMs: 0 };
    entry.count++;
    if (gapMs !== null) {
      entry.minMs = Math.min(entry.minMs, gapMs);
      entry.maxMs = Math.max(entry.maxMs, gapMs);
    }
    buckets.set(bucket, entry);
  }
  return [...buckets].map(
    ([bucket, { count, minMs, maxMs }]) =>
      `lost: ${count} ${bucket}${maxMs > 0 ? ` (${(minMs / 1000).toFixed(3)}-${(maxMs / 1000).toFixed(3)} s after the 202)` : ''}`,
  );
}
