/**
 * One simulated run: n replicas, each the `BftEngine` that ships, on a simulated network, disk,
 * clock and signature scheme, all driven by one event queue and one seeded PRNG, so that a seed
 * replays exactly. Clients submit vertices throughout a fault phase in which faults drawn from
 * the seed happen; then, in a clean phase, every client vertex must be final at every honest
 * replica within a bounded virtual time, and every honest replica that is up must be active in
 * one view soon after.
 *
 * What a seed replays is decided by the order in which the run's parts fork their generators
 * (`RunPrngs`) and put events on the queue: the steps below keep both orders, and a change to
 * either changes every seed. How asynchronous code stays deterministic: see `run-loop.ts`.
 */

import type { Evidence } from '../byzantine/index.ts';
import type { BftConfig, EngineTestSeams } from '../engine/index.ts';
import type { StrategyName } from './byzantine/index.ts';
import { Clients } from './clients.ts';
import { buildCluster, scheduleFirstStarts } from './cluster.ts';
import { EventQueue } from './event-queue.ts';
import { scheduleFaults } from './fault-schedule.ts';
import type { SimNode } from './node.ts';
import { Operator, type OperatorCounts } from './operator.ts';
import { RunLoop } from './run-loop.ts';
import { RunObserver, type SimCounters } from './run-observer.ts';
import { planRun } from './run-plan.ts';
import { summarizeRun } from './run-result.ts';
import type { FaultToggles } from './scenario.ts';
import { awaitViewAgreement } from './view-agreement.ts';

export interface SimOptions {
  readonly seed: number;
  readonly replicas: number;
  readonly faults?: FaultToggles;
  /** Virtual time during which faults happen and clients submit. */
  readonly faultPhaseMs?: number;
  /** Virtual time after the fault phase within which everything must be final everywhere. */
  readonly livenessBoundMs?: number;
  /**
   * Virtual time after the run finished within which every honest replica that is up must be
   * active in one view. Default 20,000 ms: past the longest view-change back-off of the
   * simulator's settings (8 s).
   */
  readonly viewAgreementBoundMs?: number;
  /** Client payloads submitted during the fault phase. */
  readonly vertices?: number;
  /** Engine settings for every replica, over the simulator's (the run sets ids and keys). */
  readonly engine?: Partial<BftConfig>;
  /**
   * Byzantine replicas, acting from the first event to the last: `count` of them (at most f),
   * drawn from the seed unless `replicas` names them, each playing `strategy`; with 'all', the
   * strategies take turns by seed (and by replica, when there are several).
   */
  readonly byzantine?: {
    readonly count: number;
    readonly strategy: StrategyName | 'all';
    readonly replicas?: readonly number[];
  };
  /** FOR TESTS ONLY: deliberately broken engine parts for every honest replica (see `engine/seams.ts`). */
  readonly testSeams?: EngineTestSeams;
  /** Return the evidence the honest replicas' detectors hold at the end. */
  readonly collectEvidence?: boolean;
  /**
   * An operator changes the validator set one to three times during the fault phase: key
   * rotations, reorders that renumber every validator, removals (see `operator.ts`).
   */
  readonly reconfigure?: boolean;
  /**
   * For tests: the microtask turns the run lets pass after each event (default
   * `SETTLE_TURNS`). A run must not depend on it: every promise chain an event starts
   * ends within the default.
   */
  readonly settleTurns?: number;
}

/** What became of one Byzantine replica in a run. */
export interface ByzantineOutcome {
  readonly replica: number;
  readonly strategy: StrategyName;
  /** At least one honest replica recorded a violation against it. */
  readonly detected: boolean;
  /** At least one honest replica banned it. */
  readonly banned: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly replicas: number;
  readonly violations: readonly string[];
  readonly stalled: boolean;
  /** Virtual time at which the run ended. */
  readonly virtualMs: number;
  /** Virtual time from the end of faults until everything was final everywhere. */
  readonly recoveryMs: number | null;
  /** The highest sequence finalized by an honest replica. */
  readonly finalizedBatches: number;
  readonly vertices: number;
  readonly messages: number;
  /** Events run (each followed by the microtasks it started). */
  readonly events: number;
  readonly scenario: string;
  readonly counters: SimCounters;
  /** Verdicts the honest replicas' cores gave, by `outcome:reason`. */
  readonly verdicts: Readonly<Record<string, number>>;
  /** High-water marks of the engine collections that have no configured bound. */
  readonly highWater: Readonly<Record<string, number>>;
  /** Each replica's state and what each honest replica still lacks, when the run stalled or broke. */
  readonly diagnosis: readonly string[];
  /** The Byzantine replicas of the run, if any. */
  readonly byzantine: readonly ByzantineOutcome[];
  /** Honest replicas banned by at least one honest replica: always 0 in a correct run. */
  readonly honestBanned: number;
  /** With `collectEvidence`: what the honest replicas' detectors hold at the end. */
  readonly evidence?: readonly Evidence[];
  /** With `reconfigure`: what the operator requested, and the epochs the run reached. */
  readonly reconfiguration?: OperatorCounts & { readonly epochs: number };
}

/** Runs the simulation of `options.seed`: the same options give the same result, to the event. */
export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const plan = planRun(options);
  const { prngs, faultPhaseMs, vertexCount } = plan;
  const queue = new EventQueue();
  const nodes: SimNode[] = [];
  const clients = new Clients({
    queue,
    prng: prngs.clients,
    nodes,
    seed: plan.seed,
    vertexCount,
    faultPhaseMs,
    horizon: plan.resolved.replica.dedupHorizonSequences,
    retryMs: 1500,
  });
  const operatorProposed = new Set<string>();
  const observer = new RunObserver(plan, clients, operatorProposed);
  // The queue's order: each replica's first start, the faults and the end of the fault phase,
  // then the clients' submissions, then the operator's changes.
  const cluster = buildCluster(plan, queue, nodes, observer);
  scheduleFirstStarts(cluster, prngs.starts);
  const faults = scheduleFaults(plan.scenario, faultPhaseMs, cluster, observer.counters, prngs.damage);
  clients.start();
  const operator = plan.reconfigure
    ? new Operator({
        queue,
        prng: prngs.operator,
        nodes,
        directory: observer.epochs,
        faultPhaseMs,
        retryMs: 1500,
        horizon: plan.resolved.replica.dedupHorizonSequences,
        highestFinalized: () => observer.checker.highestSequence,
        faulty: faultyReplicas(plan),
        proposed: operatorProposed,
        // A joiner fetches the history from sequence 1: none where peers prune it.
        joins: plan.scenario.engine.pruning === null,
      })
    : null;
  operator?.start();

  // Run until every vertex is final at every honest validator after the faults, or the bound.
  // Validators are those of the newest epoch: a replica that left delivers no more.
  const honestEver = nodes.filter((node) => node.honest).map((node) => node.id);
  const honestValidators = (): number[] =>
    honestEver.filter((replica) => observer.epochs.isMember(observer.epochs.latest.number, replica));
  const allFinal = (): boolean =>
    faults.over &&
    clients.intentsSubmitted === vertexCount &&
    honestValidators().every((replica) => observer.checker.deliveredCount(replica) >= vertexCount);
  const loop = new RunLoop(queue, plan.settleTurns, () => observer.checkTouched());
  const deadline = faultPhaseMs + plan.livenessBoundMs;
  let finishedAt = await loop.runUntilFinal(deadline, allFinal, () => !observer.clean);
  while (finishedAt !== null && observer.clean) {
    await awaitViewAgreement(loop, nodes, honestEver, finishedAt, plan.viewAgreementBoundMs, (message) =>
      observer.violate(message),
    );
    // A request ordered late may have changed the validators meanwhile, adding one on a new
    // machine that starts its history over: everything must be final at the new set too.
    if (!observer.clean || allFinal()) break;
    finishedAt = await loop.runUntilFinal(deadline, allFinal, () => !observer.clean);
  }
  if (finishedAt !== null && observer.clean) observer.checkResolutions(honestValidators());
  return summarizeRun({
    plan,
    cluster,
    clients,
    observer,
    events: loop.events,
    finishedAt,
    collectEvidence: options.collectEvidence === true,
    operator: operator?.counts ?? null,
  });
}

/**
 * The replicas that may be faulty beyond crashes, which an epoch must tolerate: the Byzantine
 * ones and those whose disk the scenario damages (a wiped replica forgot its votes).
 */
function faultyReplicas(plan: ReturnType<typeof planRun>): Set<number> {
  const faulty = new Set(plan.byzantine.keys());
  for (const crash of plan.scenario.crashes) if (crash.damage) faulty.add(crash.replica);
  return faulty;
}
