/**
 * What a chaos run is asked to do: its length, seed, cluster size, load and the fault kinds it
 * may inject. Parsed from the command line by `run.ts`, passed as is by the test.
 */

/** Every kind of fault the harness injects. */
export const FAULT_KINDS = Object.freeze([
  'kill',
  'kill-leader',
  'stop-leader',
  'two-down',
  'wipe',
  'delay',
  'loss',
] as const);

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that act on node processes: one at a time, so that at most f nodes are down at once. */
export const PROCESS_FAULTS: readonly FaultKind[] = Object.freeze([
  'kill',
  'kill-leader',
  'stop-leader',
  'two-down',
  'wipe',
]);

/** Faults that act on the consensus links, through the proxies; they may overlap a process fault. */
export const NETWORK_FAULTS: readonly FaultKind[] = Object.freeze(['delay', 'loss']);

/** Options of `runChaos`. */
export interface ChaosOptions {
  /** The whole run, fault phase and quiet phase, in seconds. */
  readonly durationS: number;
  /** Seeds every random choice the harness makes (load targets, fault schedule, link faults). */
  readonly seed: number;
  /** Node processes. Default 4. */
  readonly nodes?: number;
  /** Vertices offered per second during the fault phase. Default 400. */
  readonly ratePerSecond?: number;
  /** The fault kinds that may be injected. Default all. */
  readonly faults?: readonly FaultKind[];
  /** The cluster directory (must be new or empty); kept at exit. Default: a temporary one. */
  readonly dir?: string;
  /** Keep the temporary directory at exit. */
  readonly keep?: boolean;
  /** The share of the run at its end in which no fault starts and no load is offered. Default 0.15. */
  readonly quietFraction?: number;
  /** How long the nodes may take to agree once the run is over. Default 45,000 ms. */
  readonly convergeTimeoutMs?: number;
  /** Each line of progress, as the run goes. Default: nowhere. */
  readonly log?: (line: string) => void;
  /** Aborts the run (Ctrl-C): every node is killed and the directory removed. */
  readonly signal?: AbortSignal;
}

/** The options with every default filled in. */
export interface ResolvedChaosOptions {
  readonly durationS: number;
  readonly seed: number;
  readonly nodes: number;
  readonly ratePerSecond: number;
  readonly faults: readonly FaultKind[];
  readonly dir: string | null;
  readonly keep: boolean;
  readonly quietFraction: number;
  readonly convergeTimeoutMs: number;
}

/** A bad option; the message names it. */
export class ChaosOptionError extends Error {
  override readonly name = 'ChaosOptionError';
}

/** Parses `all` or a comma list of fault kinds; `none` (or an empty list) injects nothing. */
export function parseFaultList(text: string): FaultKind[] {
  const trimmed = text.trim();
  if (trimmed === 'all') return [...FAULT_KINDS];
  if (trimmed === '' || trimmed === 'none') return [];
  const kinds: FaultKind[] = [];
  for (const part of trimmed.split(',')) {
    const name = part.trim();
    if (!(FAULT_KINDS as readonly string[]).includes(name)) {
      throw new ChaosOptionError(
        `--faults: unknown fault '${name}'; choose from all, none, ${FAULT_KINDS.join(', ')}`,
      );
    }
    if (!kinds.includes(name as FaultKind)) kinds.push(name as FaultKind);
  }
  return kinds;
}

export function resolveOptions(options: ChaosOptions): ResolvedChaosOptions {
  const nodes = options.nodes ?? 4;
  if (!Number.isSafeInteger(nodes) || nodes < 4 || nodes > 16)
    throw new ChaosOptionError(`--nodes must be a whole number from 4 to 16, got ${nodes}`);
  if (!(options.durationS >= 5) || !Number.isFinite(options.durationS))
    throw new ChaosOptionError(`--duration must be at least 5 seconds, got ${options.durationS}`);
  if (!Number.isSafeInteger(options.seed) || options.seed < 0)
    throw new ChaosOptionError(`--seed must be a non-negative whole number, got ${options.seed}`);
  const ratePerSecond = options.ratePerSecond ?? 400;
  if (!(ratePerSecond > 0) || ratePerSecond > 20_000)
    throw new ChaosOptionError(`--rate must be above 0 and at most 20000 vertices/s, got ${ratePerSecond}`);
  const quietFraction = options.quietFraction ?? 0.15;
  if (!(quietFraction > 0 && quietFraction < 0.9))
    throw new ChaosOptionError(`the quiet fraction must be between 0 and 0.9, got ${quietFraction}`);
  return {
    durationS: options.durationS,
    seed: options.seed,
    nodes,
    ratePerSecond,
    faults: options.faults ?? [...FAULT_KINDS],
    dir: options.dir ?? null,
    keep: options.keep ?? false,
    quietFraction,
    convergeTimeoutMs: options.convergeTimeoutMs ?? 45_000,
  };
}
