/**
 * One simulated run: n replicas, each the `BftEngine` that ships, on a simulated network, disk,
 * clock and signature scheme, all driven by one event queue and one seeded PRNG, so that a seed
 * replays exactly. Clients submit vertices throughout a fault phase in which faults drawn from
 * the seed happen; then, in a clean phase, every client vertex must be final at every honest
 * replica within a bounded virtual time, and every honest replica that is up must be active in
 * one view soon after.
 *
 * Determinism with asynchronous code: the engine is promise-based, and every promise it waits
 * on is settled by an event of the queue (a sync completing, a signature finishing, a frame
 * arriving, a timer firing). After each event the run lets the microtask queue run until the
 * promise chains that event started have finished, before the next event: what an event causes
 * happens at its virtual time, in an order that depends on nothing but the seed. Nothing in a
 * run touches real timers, `setImmediate` or I/O.
 */

import type { Evidence } from '../byzantine/index.ts';
import { toHex } from '../crypto/digest.ts';
import { insecureSimulationScheme, type KeyPair } from '../crypto/index.ts';
import { type BftConfig, type EngineTestSeams, resolveBftConfig } from '../engine/index.ts';
import { ArgumentError } from '../errors.ts';
import {
  type Delivery,
  type Input,
  isSignedKind,
  type Message,
  primaryOf,
  type Ready,
} from '../protocol/index.ts';
import { verifyMessage } from '../shell/signing.ts';
import { decodeMessage } from '../wire/index.ts';
import { BoundsChecker } from './bounds-checker.ts';
import { createByzantineNode, STRATEGY_NAMES, type StrategyName } from './byzantine/index.ts';
import { SafetyChecker } from './checkers.ts';
import { Clients } from './clients.ts';
import { SimDisk } from './disk.ts';
import { EventQueue } from './event-queue.ts';
import { HonestReplica } from './honest-replica.ts';
import type { EngineInstance } from './instance.ts';
import { SimNetwork } from './network.ts';
import type { SimContext, SimNode } from './node.ts';
import { Prng } from './prng.ts';
import { ALL_FAULTS, describeScenario, drawScenario, type FaultToggles } from './scenario.ts';
import { SendOrderChecker } from './send-order.ts';
import { StreamChecker } from './streams.ts';

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
   * For tests: the microtask turns the run lets pass after each event (default
   * {@link SETTLE_TURNS}). A run must not depend on it: every promise chain an event starts
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

export interface SimCounters {
  viewChanges: number;
  stateTransfers: number;
  checkpoints: number;
  crashes: number;
  partitions: number;
  oneWayCuts: number;
  slowLinks: number;
  rejected: number;
  dropped: number;
  /** Frames dropped because their sender was banned by the receiver. */
  droppedFromBanned: number;
  /** Frames dropped because their sender had too many waiting (`inboundFramesPerPeerMax`). */
  droppedOverloaded: number;
  evidence: number;
  /** Bans by honest replicas' detectors (one per banning replica and banned replica). */
  bans: number;
  /** Client vertices that expired unfinalized and were submitted again as new vertices. */
  expired: number;
  /** Processes halted by a failed sync (and restarted). */
  syncFailures: number;
  /** Starts refused on a damaged disk. */
  refusals: number;
  /** Disks wiped after a refusal (the replica rejoined by state transfer). */
  wipes: number;
  /** `accept` results checked against every honest replica's finalized stream. */
  resolutionsChecked: number;
  /** Vertices whose one place in the order the run held every honest delivery to (exactly once). */
  verticesPlaced: number;
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
}

/**
 * Which replicas are Byzantine in a run, and what each plays. Drawn from a generator of its
 * own, so that runs without Byzantine replicas draw exactly what they drew before.
 */
export function drawByzantine(
  seed: number,
  replicas: number,
  byzantine: NonNullable<SimOptions['byzantine']>,
): Map<number, StrategyName> {
  const f = Math.floor((replicas - 1) / 3);
  if (!Number.isInteger(byzantine.count) || byzantine.count < 0 || byzantine.count > f) {
    throw new ArgumentError(
      `${byzantine.count} Byzantine replicas among ${replicas}: at most f = ${f} may be faulty`,
    );
  }
  const prng = new Prng((seed ^ 0x5bd1e995) >>> 0);
  const order = Array.from({ length: replicas }, (_, replica) => replica);
  for (let i = order.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const chosen = byzantine.replicas ?? order.slice(0, byzantine.count);
  if (chosen.length !== byzantine.count)
    throw new ArgumentError('byzantine.replicas must name count replicas');
  const strategies = new Map<number, StrategyName>();
  for (const [k, replica] of chosen.entries()) {
    const strategy =
      byzantine.strategy === 'all' ? STRATEGY_NAMES[(seed + k) % STRATEGY_NAMES.length]! : byzantine.strategy;
    strategies.set(replica, strategy);
  }
  return strategies;
}

/**
 * The engine settings the simulator runs with: small windows and short timeouts, so that
 * checkpoints, watermarks and view changes happen often in a few seconds of virtual time.
 */
export const SIM_ENGINE_DEFAULTS: Partial<BftConfig> = Object.freeze({
  tickMs: 10,
  checkpointInterval: 8,
  watermarkWindow: 16,
  pipelineDepth: 8,
  batchMaxVertices: 16,
  batchMaxBytes: 64 * 1024,
  vertexPayloadBytesMax: 1024,
  vertexParentsMax: 4,
  viewChangeTimeoutMs: 500,
  finalityTimeoutMs: 250,
  primaryUnreachableMs: 500,
  dedupHorizonSequences: 2048,
  // A wiped replica replays the whole history from its peers: they keep all of it, unless the
  // run exercises pruning (see `scenario.ts`).
  logRetention: 1_000_000_000,
  maxFrameBytes: 16 << 20,
});

/** The replicas' keys in every run (insecure simulation scheme, from fixed seeds). */
export function simulationKeys(replicas: number): KeyPair[] {
  return Array.from({ length: replicas }, (_, replica) => {
    const seed = new Uint8Array(32);
    new DataView(seed.buffer).setUint32(0, replica);
    return insecureSimulationScheme.keyPairFromSeed(seed);
  });
}

/** The cluster id of the run of `seed`: it binds every signature of the run. */
export function simulationClusterId(seed: number): string {
  return `sim-${seed}`;
}

/**
 * Microtask turns the run lets pass after each event: deeper than any promise chain one event
 * starts in the engine (a test checks that runs are the same with far deeper settling).
 */
export const SETTLE_TURNS = 8;

/** Lets the promise chains the last event started run to their end. */
async function settle(turns: number): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await undefined;
}

/** Message kinds that carry signatures of replicas other than their sender. */
const NESTING_KINDS = new Set<Message['kind']>(['view-change', 'new-view', 'state-reply']);

export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const n = options.replicas;
  const faultPhaseMs = options.faultPhaseMs ?? 6000;
  const livenessBoundMs = options.livenessBoundMs ?? 60_000;
  const viewAgreementBoundMs = options.viewAgreementBoundMs ?? 20_000;
  const vertexCount = options.vertices ?? 40;
  const faults = options.faults ?? ALL_FAULTS;
  const settleTurns = options.settleTurns ?? SETTLE_TURNS;
  const byzantine = options.byzantine
    ? drawByzantine(options.seed, n, options.byzantine)
    : new Map<number, StrategyName>();
  const isHonest = (replica: number): boolean => !byzantine.has(replica);
  const f = Math.floor((n - 1) / 3);
  const prng = new Prng(options.seed);
  // A wiped replica forgot the votes it signed: it counts against f (README, "wipe").
  const scenario = drawScenario(prng.fork(), n, faultPhaseMs, faults, byzantine.size === 0 ? f : 0);
  const clusterId = simulationClusterId(options.seed);
  const queue = new EventQueue();
  const nodeIds = Array.from({ length: n }, (_, replica) => String(replica));

  // With pruning drawn, the replicas keep no more history than they must (the horizon).
  const pruning = scenario.engine.pruning;
  const horizon =
    options.engine?.dedupHorizonSequences ??
    pruning?.dedupHorizonSequences ??
    SIM_ENGINE_DEFAULTS.dedupHorizonSequences;
  const engineConfig = (replica: number, honest: boolean): BftConfig => ({
    ...SIM_ENGINE_DEFAULTS,
    batchMaxDelayMs: scenario.engine.batchMaxDelayMs,
    verifiedCacheMax: scenario.engine.verifiedCacheMax,
    inboundFramesPerPeerMax: scenario.engine.inboundFramesPerPeerMax,
    pendingProposalsMax: scenario.engine.pendingProposalsMax,
    dedupHorizonSequences: horizon,
    ...(pruning === null ? {} : { logRetention: horizon }),
    ...options.engine,
    nodeId: nodeIds[replica]!,
    validators: nodeIds,
    clusterId,
    byzantineDetectionEnabled: honest,
  });
  const resolved = resolveBftConfig(engineConfig(0, true), insecureSimulationScheme.signatureBytes);
  const keys = simulationKeys(n);
  const publicKeys = keys.map((pair) => pair.publicKey);

  const counters: SimCounters = {
    viewChanges: 0,
    stateTransfers: 0,
    checkpoints: 0,
    crashes: 0,
    partitions: 0,
    oneWayCuts: 0,
    slowLinks: 0,
    rejected: 0,
    dropped: 0,
    droppedFromBanned: 0,
    droppedOverloaded: 0,
    evidence: 0,
    bans: 0,
    expired: 0,
    syncFailures: 0,
    refusals: 0,
    wipes: 0,
    resolutionsChecked: 0,
    verticesPlaced: 0,
  };
  const verdicts: Record<string, number> = {};
  /** Replicas against which an honest replica recorded a proven violation, and ones it banned. */
  const detected = new Set<number>();
  const bannedByHonest = new Set<number>();
  const nodes: SimNode[] = [];
  const clients = new Clients({
    queue,
    prng: prng.fork(),
    nodes,
    seed: options.seed,
    vertexCount,
    faultPhaseMs,
    horizon: resolved.replica.dedupHorizonSequences,
    retryMs: 1500,
  });
  /** Vertices Byzantine replicas forwarded of their own (see `noteByzantineProposals`). */
  const byzantineProposed = new Set<string>();
  const checker = new SafetyChecker(n, clients.proposed, isHonest, byzantineProposed);
  const violate = (message: string): void => checker.violate(message);
  const streams = new StreamChecker(n, violate);
  const bounds = new BoundsChecker(violate);
  const sendOrder = new SendOrderChecker(n, violate);
  /** Processes an event ran in, checked once its microtasks have run. */
  const touched: EngineInstance[] = [];
  const scheme = insecureSimulationScheme;

  const stepped = (replica: number, input: Input, ready: Ready): void => {
    if (!isHonest(replica)) return;
    for (const event of ready.events) {
      if (event.kind === 'view-change-started') counters.viewChanges++;
      else if (event.kind === 'state-transfer-requested') counters.stateTransfers++;
      else if (event.kind === 'checkpoint-stable') counters.checkpoints++;
    }
    for (const evidence of ready.evidence) {
      counters.evidence++;
      detected.add(evidence.replica);
      if (isHonest(evidence.replica))
        violate(
          `evidence: replica ${replica} holds equivocation evidence against honest replica ${evidence.replica}`,
        );
    }
    if (input.kind !== 'message') return;
    const { message, from } = input;
    const verdict = ready.verdict;
    if (verdict !== null) {
      const label = verdict.outcome === 'accepted' ? 'accepted' : `${verdict.outcome}:${verdict.reason}`;
      verdicts[label] = (verdicts[label] ?? 0) + 1;
      if (verdict.outcome === 'rejected') {
        counters.rejected++;
        detected.add(verdict.offender);
        // An honest replica never sends anything another honest replica can prove wrong.
        if (isHonest(verdict.offender))
          violate(
            `blame: replica ${replica} rejected a ${message.kind} from ${from} as ${verdict.reason}, blaming honest replica ${verdict.offender}`,
          );
      }
    }
    // The core takes only authenticated messages: every signature in what reached it verifies.
    // Only a Byzantine replica makes bad signatures (an honest one that did would be caught
    // by the drop check): a message from one, or one carrying others' signatures, may hold one.
    if (
      byzantine.size > 0 &&
      from !== replica &&
      isSignedKind(message) &&
      (!isHonest(from) || NESTING_KINDS.has(message.kind))
    ) {
      if (!verifyMessage(scheme, publicKeys, clusterId, message))
        violate(
          `authenticity: replica ${replica} stepped a ${message.kind} from ${from} whose signatures do not verify`,
        );
    }
  };

  const context: SimContext = {
    queue,
    network: new SimNetwork(queue, prng.fork(), n, { ...scenario.network }),
    replicaCount: n,
    clusterId,
    nodeIds,
    keys,
    publicKeys,
    limits: resolved.limits,
    configFor: engineConfig,
    disks: Array.from({ length: n }, (_, replica) => new SimDisk(replica)),
    prng: prng.fork(),
    clockRates: scenario.clockRates,
    syncLatencyMs: scenario.syncLatencyMs,
    cryptoLatencyMicros: scenario.cryptoLatencyMicros,
    restartDelayMs: [50, 500],
    operatorDelayMs: [500, 2000],
    mayStartWiped: (replica) => {
      // Every other replica runs, active in one view led by another: the wiped replica can then
      // never lead a view in which it ordered anything before (see `HostOptions.mayStartWiped`).
      let view: number | null = null;
      for (const node of nodes) {
        if (!node.honest || node.id === replica) continue;
        const instance = node.hosts[0]!.instance;
        if (!instance?.running) return false;
        const status = instance.engine.status();
        if (!status.viewActive || (view !== null && status.view !== view)) return false;
        view = status.view;
      }
      return view !== null && primaryOf({ replicaCount: n }, view) !== replica;
    },
    ...(options.testSeams === undefined ? {} : { testSeams: options.testSeams }),
    observer: {
      stepped,
      delivered(replica: number, delivery: Delivery) {
        checker.delivered(replica, delivery);
        if (isHonest(replica)) clients.finalized(delivery);
      },
      released(replica, released) {
        if (isHonest(replica)) sendOrder.released(replica, released);
      },
      sent(replica, message) {
        if (isHonest(replica)) sendOrder.sent(replica, message);
      },
      finalized(replica, vertex) {
        if (isHonest(replica)) streams.finalized(replica, vertex);
      },
      dropped(replica, from, outcome) {
        if (outcome === 'banned') {
          counters.droppedFromBanned++;
          return;
        }
        if (outcome === 'ignored') {
          counters.droppedOverloaded++;
          return;
        }
        counters.dropped++;
        if (!isHonest(replica)) return;
        detected.add(from);
        // An honest replica never sends a frame another cannot decode or verify.
        if (isHonest(from))
          violate(`drop: replica ${replica} dropped a frame from honest replica ${from} as ${outcome}`);
      },
      banned(replica, offender) {
        if (!isHonest(replica)) return;
        counters.bans++;
        bannedByHonest.add(offender);
        if (isHonest(offender))
          violate(`honest banned: replica ${replica} banned honest replica ${offender}`);
      },
      touched(instance) {
        touched.push(instance);
      },
      refused() {
        counters.refusals++;
      },
      wiped(replica) {
        counters.wipes++;
        checker.wiped(replica);
        streams.wiped(replica);
      },
      halted(replica, error, expected) {
        if (expected) counters.syncFailures++;
        // A Byzantine replica may drive its engine into a broken invariant: it stops, one more way
        // of being faulty. An honest one never may.
        else if (isHonest(replica)) violate(`halted: replica ${replica}: ${error.message}`);
      },
      changed(replica) {
        sendOrder.restarted(replica);
      },
    },
  };
  const network = context.network;

  // A Byzantine replica is a client too: the vertices it forwards in a REQUEST, made up or
  // mangled on the way, are its own proposals, as they would be had it submitted them to an
  // honest replica's API. REQUESTs are not signed, so nothing stops one from reaching the
  // order; validity still holds every vertex an honest replica delivers to a client's proposal.
  const noteByzantineProposals = (frame: Uint8Array): void => {
    const decoded = decodeMessage(frame, resolved.limits);
    if (!decoded.ok || decoded.message.kind !== 'request') return;
    for (const vertex of decoded.message.vertices) byzantineProposed.add(toHex(vertex.hash));
  };
  network.attach({
    up: (replica) => nodes[replica]!.up,
    incarnation: (replica) => nodes[replica]!.epoch,
    deliver: (to, from, frame) => {
      if (!isHonest(from)) noteByzantineProposals(frame);
      nodes[to]!.receive(from, frame);
    },
  });
  for (let id = 0; id < n; id++) {
    const strategy = byzantine.get(id);
    nodes.push(
      strategy === undefined ? new HonestReplica(id, context) : createByzantineNode(strategy, id, context),
    );
  }
  const startPrng = prng.fork();
  for (const node of nodes) queue.schedule(startPrng.int(10), () => node.start());

  // Faults.
  let faultsOver = false;
  for (const partition of scenario.partitions) {
    queue.schedule(partition.atMs, () => {
      if (faultsOver) return;
      counters.partitions++;
      network.partition = partition.groups;
      queue.schedule(partition.durationMs, () => {
        if (network.partition === partition.groups) network.partition = null;
      });
    });
  }
  for (const cut of scenario.oneWayCuts) {
    queue.schedule(cut.atMs, () => {
      if (faultsOver) return;
      counters.oneWayCuts++;
      network.cutOneWay(cut.from, cut.to);
      queue.schedule(cut.durationMs, () => network.restoreOneWay(cut.from, cut.to));
    });
  }
  for (const slow of scenario.slowLinks) {
    queue.schedule(slow.atMs, () => {
      if (faultsOver) return;
      counters.slowLinks++;
      network.slowDown(slow.from, slow.to, slow.extraMs);
      queue.schedule(slow.durationMs, () => network.restoreSpeed(slow.from, slow.to));
    });
  }
  const damagePrng = prng.fork();
  for (const crash of scenario.crashes) {
    queue.schedule(crash.atMs, () => {
      const node = nodes[crash.replica]!;
      if (faultsOver || !node.up) return;
      counters.crashes++;
      node.crash();
      // Bit rot while it is down: its next start finds a damaged record and is refused.
      if (crash.damage && node.honest) context.disks[crash.replica]!.damage(damagePrng);
      queue.schedule(crash.downtimeMs, () => node.start());
    });
  }
  for (const failure of scenario.syncFailures) context.disks[failure.replica]!.planSyncFailure(failure.atMs);
  queue.schedule(faultPhaseMs, () => {
    faultsOver = true;
    network.heal();
    network.faults = {
      lossRate: 0,
      duplicateRate: 0,
      delayMinMs: scenario.network.delayMinMs,
      delayMaxMs: scenario.network.delayMinMs + 5,
    };
    for (const disk of context.disks) disk.clearSyncFailures();
    for (const node of nodes) node.start();
  });

  clients.start();

  // Run until every vertex is final at every honest replica after the faults, or the bound.
  const deadline = faultPhaseMs + livenessBoundMs;
  const honest = nodes.filter((node) => node.honest).map((node) => node.id);
  const allFinal = (): boolean =>
    faultsOver &&
    clients.intentsSubmitted === vertexCount &&
    honest.every((replica) => checker.deliveredCount(replica) >= vertexCount);
  let events = 0;
  const step = async (until: number): Promise<boolean> => {
    if (!queue.runNext(until)) return false;
    events++;
    await settle(settleTurns);
    while (touched.length > 0) {
      const instance = touched.pop()!;
      if (instance.process.alive) bounds.check(instance.replica, instance.engine);
    }
    return true;
  };
  let finishedAt: number | null = null;
  while (await step(deadline)) {
    if ((events & 63) === 0 && allFinal()) {
      finishedAt = queue.now;
      break;
    }
    // A run that broke safety has shown what it can; stop at the first violation.
    if (checker.violations.length > 0) break;
  }
  if (finishedAt === null && checker.violations.length === 0 && allFinal()) finishedAt = queue.now;
  // Once the faults are over, every honest replica that is up must soon be active in one view:
  // one left alone in a higher view votes in none and uses up a fault the cluster tolerates.
  if (finishedAt !== null && checker.violations.length === 0) {
    const agreed = (): boolean => {
      const views = honest.map((replica) => nodes[replica]!.viewState()).filter((view) => view !== null);
      return views.every((view) => view.active && view.view === views[0]!.view);
    };
    const agreeBy = finishedAt + viewAgreementBoundMs;
    let running = true;
    while (running && !agreed()) {
      // Reading every view costs a status per replica: look every few events.
      for (let i = 0; i < 16 && running; i++) running = await step(agreeBy);
    }
    if (!agreed()) {
      violate(
        `view agreement: ${viewAgreementBoundMs} ms after the run finished, honest replicas are in views ` +
          honest
            .map((replica) => {
              const view = nodes[replica]!.viewState();
              return view === null ? 'down' : `${view.view}${view.active ? '' : '(changing)'}`;
            })
            .join(', '),
      );
    }
  }
  if (finishedAt !== null && checker.violations.length === 0)
    counters.resolutionsChecked = streams.check(clients.resolutions, honest);
  counters.expired = clients.expired;
  counters.verticesPlaced = checker.verticesPlaced;

  const stalled = finishedAt === null && checker.violations.length === 0;
  const diagnosis =
    stalled || checker.violations.length > 0
      ? [
          ...nodes.map(
            (node) => `${node.describe()} delivered ${checker.deliveredCount(node.id)}/${vertexCount}`,
          ),
          `proposed ${clients.proposed.size} for ${vertexCount} payloads, final at no honest replica: ${clients.unfinalized.size}`,
        ]
      : [];
  const evidence: Evidence[] = [];
  if (options.collectEvidence)
    for (const node of nodes)
      if (node.honest)
        for (const host of node.hosts) evidence.push(...(host.instance?.engine.evidence() ?? []));
  return {
    seed: options.seed,
    replicas: n,
    violations: checker.violations,
    stalled,
    virtualMs: queue.now,
    recoveryMs: finishedAt === null ? null : finishedAt - faultPhaseMs,
    finalizedBatches: checker.highestSequence,
    vertices: vertexCount,
    messages: network.stats.sent,
    events,
    scenario: describeScenario(scenario),
    counters,
    verdicts,
    highWater: bounds.highWater,
    diagnosis,
    byzantine: [...byzantine].map(([replica, strategy]) => ({
      replica,
      strategy,
      detected: detected.has(replica),
      banned: bannedByHonest.has(replica),
    })),
    honestBanned: [...bannedByHonest].filter((replica) => isHonest(replica)).length,
    ...(options.collectEvidence ? { evidence } : {}),
  };
}
