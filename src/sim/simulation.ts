/**
 * One simulated run: n replicas of the production protocol core on a simulated network, disk
 * and clock, with clients proposing vertices throughout, faults drawn from the seed during the
 * fault phase, then a clean phase in which every proposed vertex must be finalized at every
 * honest replica within a bounded virtual time.
 */
import { toHex } from '../crypto/digest.ts';
import { insecureSimulationScheme } from '../crypto/index.ts';
import {
  createVertex,
  type Delivery,
  type ReplicaConfig,
  type ReplicaOptions,
  resolveReplicaConfig,
  type Vertex,
} from '../protocol/index.ts';
import { decodeLimitsFor, decodeMessage } from '../wire/index.ts';
import { createByzantineNode, STRATEGY_NAMES, type StrategyName } from './byzantine/index.ts';
import { SafetyChecker } from './checkers.ts';
import { EventQueue } from './event-queue.ts';
import { HonestNode } from './honest-node.ts';
import { SimNetwork } from './network.ts';
import type { SimContext, SimNode, SimObserver } from './node.ts';
import { Prng } from './prng.ts';
import { ALL_FAULTS, describeScenario, drawScenario, type FaultToggles } from './scenario.ts';

export interface SimOptions {
  readonly seed: number;
  readonly replicas: number;
  readonly faults?: FaultToggles;
  /** Virtual time during which faults happen and clients propose. */
  readonly faultPhaseMs?: number;
  /** Virtual time after the fault phase within which everything must be finalized everywhere. */
  readonly livenessBoundMs?: number;
  /**
   * Virtual time after the run finished within which every honest replica that is up must be
   * active in one view. Default 20,000 ms: past the longest view-change back-off of the
   * simulator's settings (800 ticks).
   */
  readonly viewAgreementBoundMs?: number;
  /** Client vertices proposed during the fault phase. */
  readonly vertices?: number;
  readonly tickMs?: number;
  /** Protocol options for every replica (clusterId, replicaCount and self are set by the run). */
  readonly protocol?: Partial<ReplicaOptions>;
  /**
   * Test-only: rewrites each replica's resolved configuration, to run deliberately broken
   * variants (for example an unsafe quorum) and show that the checkers catch them.
   */
  readonly alterConfig?: (config: ReplicaConfig) => ReplicaConfig;
  /** Builds the replica with this id; the default is an honest replica. */
  readonly createNode?: (id: number, context: SimContext) => SimNode;
  /**
   * Byzantine replicas, acting from the first tick to the last: `count` of them (at most f),
   * drawn from the seed, each playing `strategy`; with 'all', the strategies take turns by
   * seed (and by replica, when there are several).
   */
  readonly byzantine?: { readonly count: number; readonly strategy: StrategyName | 'all' };
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
  rejected: number;
  dropped: number;
  /** Frames dropped because their sender was banned by the receiver. */
  droppedFromBanned: number;
  evidence: number;
  /** Bans by honest replicas' detectors (one per banning replica and banned replica). */
  bans: number;
  /** Client vertices that expired unfinalized and were submitted again as new vertices. */
  expired: number;
}

export interface SimResult {
  readonly seed: number;
  readonly replicas: number;
  readonly violations: readonly string[];
  readonly stalled: boolean;
  /** Virtual time at which the run ended. */
  readonly virtualMs: number;
  /** Virtual time from the end of faults until everything was finalized everywhere. */
  readonly recoveryMs: number | null;
  /** The highest sequence finalized by an honest replica. */
  readonly finalizedBatches: number;
  readonly vertices: number;
  readonly messages: number;
  readonly scenario: string;
  readonly counters: SimCounters;
  /** Each replica's state and what each honest replica still lacks, when the run stalled or broke. */
  readonly diagnosis: readonly string[];
  /** The Byzantine replicas of the run, if any. */
  readonly byzantine: readonly ByzantineOutcome[];
  /** Honest replicas banned by at least one honest replica: always 0 in a correct run. */
  readonly honestBanned: number;
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
    throw new RangeError(
      `${byzantine.count} Byzantine replicas among ${replicas}: at most f = ${f} may be faulty`,
    );
  }
  const prng = new Prng((seed ^ 0x5bd1e995) >>> 0);
  const order = Array.from({ length: replicas }, (_, replica) => replica);
  for (let i = order.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const chosen = new Map<number, StrategyName>();
  for (let k = 0; k < byzantine.count; k++) {
    const strategy =
      byzantine.strategy === 'all' ? STRATEGY_NAMES[(seed + k) % STRATEGY_NAMES.length]! : byzantine.strategy;
    chosen.set(order[k]!, strategy);
  }
  return chosen;
}

/** The protocol settings the simulator runs with: small windows, so that GC, watermarks and view changes happen often. */
export const SIM_PROTOCOL_DEFAULTS: Partial<ReplicaOptions> = Object.freeze({
  checkpointInterval: 8,
  watermarkWindow: 16,
  pipelineDepth: 8,
  batchCountMax: 16,
  viewChangeTimeoutTicks: 50,
  viewChangeTimeoutMaxTicks: 800,
  statusIntervalTicks: 20,
  requestRetryTicks: 40,
  stateTransferTimeoutTicks: 30,
  stateEntriesMax: 8,
  dedupHorizonSequences: 2048,
});

export function runSimulation(options: SimOptions): SimResult {
  const n = options.replicas;
  const tickMs = options.tickMs ?? 10;
  const faultPhaseMs = options.faultPhaseMs ?? 6000;
  const livenessBoundMs = options.livenessBoundMs ?? 60_000;
  const viewAgreementBoundMs = options.viewAgreementBoundMs ?? 20_000;
  const vertexCount = options.vertices ?? 40;
  const byzantine = options.byzantine
    ? drawByzantine(options.seed, n, options.byzantine)
    : new Map<number, StrategyName>();
  const prng = new Prng(options.seed);
  const scenario = drawScenario(prng.fork(), n, faultPhaseMs, tickMs, options.faults ?? ALL_FAULTS);
  const clusterId = `sim-${options.seed}`;
  const queue = new EventQueue();

  const configs = Array.from({ length: n }, (_, self) => {
    const config = resolveReplicaConfig({
      ...SIM_PROTOCOL_DEFAULTS,
      ...options.protocol,
      clusterId,
      replicaCount: n,
      self,
    });
    return options.alterConfig ? options.alterConfig(config) : config;
  });
  const config0 = configs[0]!;
  const scheme = insecureSimulationScheme;
  const keys = Array.from({ length: n }, (_, replica) => {
    const seed = new Uint8Array(32);
    new DataView(seed.buffer).setUint32(0, replica);
    return scheme.keyPairFromSeed(seed);
  });
  const limits = decodeLimitsFor({
    replicaCount: n,
    maxSignatureBytes: scheme.signatureBytes,
    batchCountMax: config0.batchCountMax,
    batchBytesMax: config0.batchBytesMax,
    vertexPayloadBytesMax: 1024,
    vertexParentsMax: 4,
    watermarkWindow: config0.watermarkWindow,
    stateEntriesMax: config0.stateEntriesMax,
    maxFrameBytes: 16 << 20,
  });

  const counters: SimCounters = {
    viewChanges: 0,
    stateTransfers: 0,
    checkpoints: 0,
    crashes: 0,
    partitions: 0,
    rejected: 0,
    dropped: 0,
    droppedFromBanned: 0,
    evidence: 0,
    bans: 0,
    expired: 0,
  };
  /** Replicas against which an honest replica recorded a proven violation, and ones it banned. */
  const detected = new Set<number>();
  const bannedByHonest = new Set<number>();
  const proposed = new Set<string>();
  const nodes: SimNode[] = [];
  const isHonest = (replica: number): boolean => nodes[replica]?.honest ?? true;
  /** Vertices Byzantine replicas forwarded of their own (see `noteByzantineProposals`). */
  const byzantineProposed = new Set<string>();
  const checker = new SafetyChecker(n, proposed, isHonest, byzantineProposed);
  /** Client vertices not yet finalized by any honest replica. */
  const unfinalized = new Map<string, Vertex>();

  /** The highest sequence an honest replica finalized: clients choose validThrough from it. */
  let highestFinalized = 0;
  /** Client vertices not yet final, by validThrough: once that is final without them, they expired. */
  const byValidThrough = new Map<number, Vertex[]>();
  /** What a client does with a vertex that expired unfinalized: submit its payload anew. */
  let resubmitExpired: (vertex: Vertex) => void = () => {};
  /** Per honest replica, the payloads (clients' intents) it finalized: each must be final once. */
  const finalIntents = Array.from({ length: n }, () => new Set<string>());
  const observer: SimObserver = {
    delivered(replica: number, delivery: Delivery) {
      for (const key of checker.delivered(replica, delivery)) unfinalized.delete(key);
      if (isHonest(replica)) {
        for (const [i, vertex] of delivery.vertices.entries()) {
          // A Byzantine replica may make a vertex of a client's payload, as anyone may: only the
          // clients' own vertices count here.
          if (!proposed.has(delivery.keys[i]!)) continue;
          const intent = toHex(vertex.payload);
          if (finalIntents[replica]!.has(intent))
            checker.violate(
              `exactly once: replica ${replica} finalized a second vertex of one client payload`,
            );
          finalIntents[replica]!.add(intent);
        }
      }
      if (!isHonest(replica) || delivery.sequence <= highestFinalized) return;
      // An honest replica finalized every sequence up to this one: a client vertex valid
      // through any of them and not final by now never will be, anywhere.
      for (let sequence = highestFinalized + 1; sequence <= delivery.sequence; sequence++) {
        for (const vertex of byValidThrough.get(sequence) ?? []) {
          const key = toHex(vertex.hash);
          if (!unfinalized.has(key)) continue;
          unfinalized.delete(key);
          counters.expired++;
          resubmitExpired(vertex);
        }
        byValidThrough.delete(sequence);
      }
      highestFinalized = delivery.sequence;
    },
    // An honest replica never sends anything another honest replica can prove wrong, nor a
    // frame it cannot decode or verify: either would get honest replicas blamed, then banned.
    // What a Byzantine replica reports of others (it may run an honest core on lies) proves
    // nothing: only honest replicas' verdicts are checked.
    verdict(replica, from, kind, verdict) {
      if (verdict.outcome !== 'rejected') return;
      counters.rejected++;
      if (isHonest(replica)) detected.add(verdict.offender);
      if (isHonest(replica) && isHonest(verdict.offender)) {
        checker.violate(
          `blame: replica ${replica} rejected a ${kind} from ${from} as ${verdict.reason}, blaming honest replica ${verdict.offender}`,
        );
      }
    },
    dropped(replica, from, reason) {
      if (reason === 'banned') counters.droppedFromBanned++;
      else counters.dropped++;
      if (isHonest(replica) && reason !== 'banned') detected.add(from);
      if (isHonest(replica) && isHonest(from))
        checker.violate(`drop: replica ${replica} dropped a frame from honest replica ${from} as ${reason}`);
    },
    evidence(replica, evidence) {
      counters.evidence++;
      if (isHonest(replica)) detected.add(evidence.replica);
      if (isHonest(replica) && isHonest(evidence.replica)) {
        checker.violate(
          `evidence: replica ${replica} holds equivocation evidence against honest replica ${evidence.replica}`,
        );
      }
    },
    banned(replica, offender) {
      if (!isHonest(replica)) return;
      counters.bans++;
      bannedByHonest.add(offender);
      if (isHonest(offender))
        checker.violate(`honest banned: replica ${replica} banned honest replica ${offender}`);
    },
    suspicion() {},
    event(_replica, event) {
      if (event.kind === 'view-change-started') counters.viewChanges++;
      else if (event.kind === 'state-transfer-requested') counters.stateTransfers++;
      else if (event.kind === 'checkpoint-stable') counters.checkpoints++;
    },
    halted(replica, error) {
      // A Byzantine replica built on the honest core may drive it into a broken invariant: it
      // then stops, which is one more way of being faulty.
      if (isHonest(replica)) checker.violate(`halted: replica ${replica}: ${error.message}`);
    },
  };

  // A Byzantine replica is a client too: the vertices it forwards in a REQUEST, made up or
  // mangled on the way, are its own proposals, as they would be had it submitted them to an
  // honest replica's API. REQUESTs are not signed, so nothing stops one from reaching the
  // order; validity still holds every vertex an honest replica sends to a client's proposal.
  const noteByzantineProposals = (frame: Uint8Array): void => {
    const decoded = decodeMessage(frame, limits);
    if (!decoded.ok || decoded.message.kind !== 'request') return;
    for (const vertex of decoded.message.vertices) byzantineProposed.add(toHex(vertex.hash));
  };
  const network = new SimNetwork(queue, prng.fork(), { ...scenario.network }, (to, from, frame) => {
    if (byzantine.has(from)) noteByzantineProposals(frame);
    nodes[to]!.receive(from, frame);
  });
  const context: SimContext = {
    queue,
    network,
    prng: prng.fork(),
    scheme,
    keys,
    publicKeys: keys.map((pair) => pair.publicKey),
    limits,
    configs,
    observer,
    diskLatencyMs: scenario.diskLatencyMs,
  };
  for (let id = 0; id < n; id++) {
    const strategy = byzantine.get(id);
    if (strategy !== undefined) nodes.push(createByzantineNode(strategy, id, context));
    else nodes.push(options.createNode ? options.createNode(id, context) : new HonestNode(id, context));
  }

  // Clocks: each replica ticks at its own period.
  let faultsOver = false;
  for (const node of nodes) {
    const period = scenario.tickPeriodsMs[node.id]!;
    const tick = (): void => {
      node.tick();
      queue.schedule(period, tick);
    };
    queue.schedule(prng.int(period) + 1, tick);
  }

  // Faults.
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
  for (const crash of scenario.crashes) {
    queue.schedule(crash.atMs, () => {
      const node = nodes[crash.replica]!;
      if (faultsOver || !node.alive) return;
      counters.crashes++;
      node.crash();
      queue.schedule(crash.downtimeMs, () => node.restart());
    });
  }
  queue.schedule(faultPhaseMs, () => {
    faultsOver = true;
    network.partition = null;
    network.faults = {
      lossRate: 0,
      duplicateRate: 0,
      delayMinMs: scenario.network.delayMinMs,
      delayMaxMs: scenario.network.delayMinMs + 5,
    };
    for (const node of nodes) node.restart();
  });

  // Clients: vertices proposed at random times to random replicas; those not finalized after
  // a while are offered to every replica, as a PBFT client retransmits to all.
  const clientPrng = prng.fork();
  const clientRetryMs = 1500;
  const offer = (vertex: Vertex, replica: number): void => {
    if (!nodes[replica]!.propose([vertex])) {
      queue.schedule(clientRetryMs, () => {
        if (unfinalized.has(toHex(vertex.hash))) offer(vertex, clientPrng.int(n));
      });
    }
  };
  // A client builds its vertex when it submits it, valid for the horizon past the latest
  // sequence it knows to be final; one that expires unfinalized is submitted again as a new
  // vertex, which the validity rule makes safe (the old one can never be final).
  const horizon = config0.dedupHorizonSequences;
  const submit = (payload: Uint8Array): void => {
    // Half the horizon: the replica it goes to may lag behind the most advanced one.
    const vertex = createVertex(payload, { validThrough: highestFinalized + Math.floor(horizon / 2) });
    const key = toHex(vertex.hash);
    proposed.add(key);
    unfinalized.set(key, vertex);
    const expiring = byValidThrough.get(vertex.validThrough);
    if (expiring === undefined) byValidThrough.set(vertex.validThrough, [vertex]);
    else expiring.push(vertex);
    offer(vertex, clientPrng.int(n));
  };
  resubmitExpired = (vertex) => submit(vertex.payload);
  // Each of the clients' payloads is one intent: submitted once, and again only as a new vertex
  // after the earlier one expired, so that exactly one vertex per intent is ever final.
  let intentsSubmitted = 0;
  for (let i = 0; i < vertexCount; i++) {
    const payload = new TextEncoder().encode(
      `seed ${options.seed} vertex ${i} ${'x'.repeat(clientPrng.int(64))}`,
    );
    queue.schedule(clientPrng.int(faultPhaseMs), () => {
      intentsSubmitted++;
      submit(payload);
    });
  }
  const retry = (): void => {
    for (const vertex of unfinalized.values()) {
      for (let replica = 0; replica < n; replica++) nodes[replica]!.propose([vertex]);
    }
    queue.schedule(clientRetryMs, retry);
  };
  queue.schedule(clientRetryMs, retry);

  // Run until every vertex is finalized at every honest replica after the faults, or the bound.
  const deadline = faultPhaseMs + livenessBoundMs;
  const honest = nodes.filter((node) => node.honest).map((node) => node.id);
  const allFinal = (): boolean =>
    faultsOver &&
    intentsSubmitted === vertexCount &&
    honest.every((replica) => checker.deliveredCount(replica) >= vertexCount);
  let finishedAt: number | null = null;
  let steps = 0;
  while (queue.runNext(deadline)) {
    if ((++steps & 63) === 0 && allFinal()) {
      finishedAt = queue.now;
      break;
    }
    // A run that broke safety has shown what it can; stop at the first violation.
    if (checker.violations.length > 0) break;
  }
  if (finishedAt === null && allFinal()) finishedAt = queue.now;
  // Once the faults are over, every honest replica that is up must soon be active in one view:
  // one left alone in a higher view votes in none and uses up a fault the cluster tolerates.
  if (finishedAt !== null && checker.violations.length === 0) {
    const agreed = (): boolean => {
      const views = honest.map((replica) => nodes[replica]!.viewState()).filter((view) => view !== null);
      return views.every((view) => view.active && view.view === views[0]!.view);
    };
    const agreeBy = finishedAt + viewAgreementBoundMs;
    while (!agreed() && queue.runNext(agreeBy)) {}
    if (!agreed()) {
      checker.violate(
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
  const stalled = finishedAt === null && checker.violations.length === 0;
  const diagnosis =
    stalled || checker.violations.length > 0
      ? [
          ...nodes.map(
            (node) => `${node.describe()} delivered ${checker.deliveredCount(node.id)}/${vertexCount}`,
          ),
          `proposed ${proposed.size}/${vertexCount}, finalized by no honest replica: ${unfinalized.size}`,
        ]
      : [];
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
    scenario: describeScenario(scenario),
    counters,
    diagnosis,
    byzantine: [...byzantine].map(([replica, strategy]) => ({
      replica,
      strategy,
      detected: detected.has(replica),
      banned: bannedByHonest.has(replica),
    })),
    honestBanned: [...bannedByHonest].filter((replica) => isHonest(replica)).length,
  };
}
