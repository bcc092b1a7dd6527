/**
 * What `npm run bench:compare` prints: a table of each system's scenarios, the ratios of
 * cretoai to etcd, and what differs between the two beyond the numbers. Pure functions of the
 * figures, so that tests check the text.
 */
import type { ClosedLoopSummary } from './closed-loop.ts';

/** The systems compared, in the order they are printed. */
export const SYSTEMS = Object.freeze(['etcd', 'cretoai'] as const);
export type System = (typeof SYSTEMS)[number];

/** One system under one scenario (a number of closed-loop callers). */
export interface ScenarioResult {
  readonly system: System;
  readonly clients: number;
  readonly summary: ClosedLoopSummary;
}

/** cretoai's figure over etcd's for one scenario; null where etcd's is 0. */
export interface ScenarioRatio {
  readonly clients: number;
  readonly opsPerSecond: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

/** The ratios for every scenario that both systems ran, in the order of `results`. */
export function ratiosOf(results: readonly ScenarioResult[]): ScenarioRatio[] {
  const ratio = (cretoai: number, etcd: number): number | null => (etcd === 0 ? null : cretoai / etcd);
  const ratios: ScenarioRatio[] = [];
  for (const etcd of results) {
    if (etcd.system !== 'etcd') continue;
    const cretoai = results.find((each) => each.system === 'cretoai' && each.clients === etcd.clients);
    if (cretoai === undefined) continue;
    const [a, b] = [cretoai.summary, etcd.summary];
    ratios.push({
      clients: etcd.clients,
      opsPerSecond: ratio(a.opsPerSecond, b.opsPerSecond),
      p50Ms: ratio(a.latency.p50Ms, b.latency.p50Ms),
      p99Ms: ratio(a.latency.p99Ms, b.latency.p99Ms),
      maxMs: ratio(a.latency.maxMs, b.latency.maxMs),
    });
  }
  return ratios;
}

/** Right-aligned columns but the first, two spaces apart. */
function columns(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)];
}

function clientsLabel(clients: number): string {
  return clients === 1 ? '1 client' : `${clients} clients`;
}

/** A ratio with three significant figures at most, as "0.523x" or "12.3x"; "-" for none. */
export function formatRatio(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return '-';
  const digits = ratio >= 100 ? 0 : ratio >= 10 ? 1 : ratio >= 1 ? 2 : 3;
  return `${ratio.toFixed(digits)}x`;
}

/** The figures table, then the ratios table (when both systems ran a scenario). */
export function formatComparison(results: readonly ScenarioResult[]): string[] {
  const ms = (value: number): string => value.toFixed(2);
  const figures = columns(
    ['system', 'scenario', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'failed'],
    results.map(({ system, clients, summary }) => [
      system,
      clientsLabel(clients),
      summary.opsPerSecond.toFixed(0),
      ms(summary.latency.p50Ms),
      ms(summary.latency.p99Ms),
      ms(summary.latency.maxMs),
      String(summary.failed),
    ]),
  );
  const ratios = ratiosOf(results);
  if (ratios.length === 0) return figures;
  return [
    ...figures,
    '',
    'cretoai / etcd (ops/s above 1x: cretoai does more; latency above 1x: cretoai takes longer)',
    ...columns(
      ['scenario', 'ops/s', 'p50', 'p99', 'max'],
      ratios.map((ratio) => [
        clientsLabel(ratio.clients),
        formatRatio(ratio.opsPerSecond),
        formatRatio(ratio.p50Ms),
        formatRatio(ratio.p99Ms),
        formatRatio(ratio.maxMs),
      ]),
    ),
  ];
}

/** Facts of the run that the "what differs" text names. */
export interface RunFacts {
  readonly etcdVersion: string;
  readonly etcdMembers: number;
  readonly cretoaiNodes: number;
  readonly valueBytes: number;
  readonly cpus: number;
}

/**
 * What differs between the two systems beyond the figures, as paragraphs: what each
 * tolerates and proves, when each answers, and what of the setup favours one or the other.
 */
export function whatDiffers(facts: RunFacts): string[] {
  const f = Math.floor((facts.cretoaiNodes - 1) / 3);
  const majority = Math.floor(facts.etcdMembers / 2) + 1;
  const quorum = 2 * f + 1;
  return [
    `Fault model. etcd ${facts.etcdVersion} (Raft) tolerates crashes: ${facts.etcdMembers} members survive ` +
      `${facts.etcdMembers - majority} crashing, but every member is trusted, and one that lies can ` +
      'corrupt what the others store; its messages carry no signatures. cretoai (PBFT) tolerates ' +
      `Byzantine faults: ${facts.cretoaiNodes} nodes survive ${f} that behaves arbitrarily or maliciously. ` +
      'Every vote is signed with ML-DSA-87 (a post-quantum signature of several kilobytes) and ' +
      'verified by every node that receives it, and a final vertex comes with a commit certificate ' +
      "that a client checks with the validators' public keys alone.",
    `Agreement. etcd commits an entry once ${majority} of ${facts.etcdMembers} members have it, one round ` +
      `trip from the leader; cretoai needs ${quorum} of ${facts.cretoaiNodes} nodes in two all-to-all ` +
      'rounds of signed votes (prepare, then commit) after the leader proposes.',
    'When a put is answered. Both sync to disk before answering: etcd fsyncs its write-ahead log ' +
      '(its defaults, no --unsafe-no-fsync), cretoai commits synced LMDB transactions. etcd answers ' +
      'once a majority has the entry in its log and the leader has applied it; a cretoai put is done ' +
      'when the vertex is final at the leader (ordered in a committed batch and executed), as its ' +
      'event stream reports.',
    'The client. Both are driven over HTTP/1.1 and JSON by the same Node.js code, one request per ' +
      "put, to the leader, one keep-alive connection per client. etcd's JSON gateway translates " +
      'each request to gRPC inside etcd, a step its native gRPC clients skip; cretoai serves JSON ' +
      `itself. Each put carries a ${facts.valueBytes}-byte value; etcd's also carries a key of a ` +
      'few dozen bytes. The cretoai client hashes each vertex itself, to know its finality event. ' +
      "cretoai's own bench (cretoai-node bench) sends many vertices per request instead; both " +
      'systems batch concurrent puts on their own.',
    `The machine. Everything ran on one machine of ${facts.cpus} CPUs shared by the members and the ` +
      `load driver: etcd as ${facts.etcdMembers} Go processes (multi-threaded), cretoai as ` +
      `${facts.cretoaiNodes} Node.js processes (one event loop each, signing on the libuv thread ` +
      'pool), one system at a time, the other stopped. Loopback adds almost no network latency: ' +
      "between machines every round trip adds the network's, and cretoai's extra round costs it more " +
      'than here. etcd ran with its ' +
      'defaults; cretoai as cretoai-node bench starts it, with the per-address connection cap ' +
      'raised to let every client connect from 127.0.0.1. Compare the ratios of one run, on a ' +
      'quiet machine, rather than figures across machines.',
  ];
}

/** Words of `text` in lines of at most `width` characters. */
export function wrap(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((each) => each !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
