/**
 * What a run is made of before its first event: its settings with their defaults, which
 * replicas are Byzantine, the scenario of faults drawn from the seed, every replica's engine
 * configuration and the replicas' keys.
 */
import { insecureSimulationScheme, type KeyPair, type PublicKey } from '../crypto/index.ts';
import {
  type BftConfig,
  type EngineTestSeams,
  type ResolvedBftConfig,
  resolveBftConfig,
} from '../engine/index.ts';
import { ArgumentError } from '../errors.ts';
import { STRATEGY_NAMES, type StrategyName } from './byzantine/index.ts';
import { Prng } from './prng.ts';
import { simulationKeyPair } from './reconfiguration.ts';
import { SETTLE_TURNS } from './run-loop.ts';
import { ALL_FAULTS, drawScenario, type Scenario } from './scenario.ts';
import type { SimOptions } from './simulation.ts';

/**
 * The engine settings the simulator runs with: small windows and short timeouts, so that
 * checkpoints, watermarks and view changes happen often in a few seconds of virtual time.
 */
export const SIM_ENGINE_DEFAULTS: Partial<BftConfig> = Object.freeze({
  tickMs: 10,
  checkpointInterval: 8,
  watermarkWindow: 16,
  pipelineDepth: 8,
  // Batches of fewer wait for the pipeline to drain, as a node's do (it uses 256 of 4,096).
  pipelineFillVertices: 4,
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

/**
 * The generators of the parts of a run, each forked from the seed's generator, in this order:
 * the order decides what a seed replays, so a new part takes a new fork after the last one.
 */
export interface RunPrngs {
  readonly scenario: Prng;
  readonly clients: Prng;
  readonly network: Prng;
  /** Each replica forks its own from this one, in id order (`SimContext.prng`). */
  readonly replicas: Prng;
  /** When each replica first starts. */
  readonly starts: Prng;
  /** The bit rot of crashed replicas' disks. */
  readonly damage: Prng;
  /** The operator's changes of the validator set (`--reconfigure`). */
  readonly operator: Prng;
}

export function forkRunPrngs(seed: number): RunPrngs {
  const prng = new Prng(seed);
  return {
    scenario: prng.fork(),
    clients: prng.fork(),
    network: prng.fork(),
    replicas: prng.fork(),
    starts: prng.fork(),
    damage: prng.fork(),
    operator: prng.fork(),
  };
}

/** A run's settings, scenario, configuration and keys. */
export interface RunPlan {
  readonly seed: number;
  readonly replicaCount: number;
  readonly faultPhaseMs: number;
  readonly livenessBoundMs: number;
  readonly viewAgreementBoundMs: number;
  /** Client payloads submitted during the fault phase. */
  readonly vertexCount: number;
  readonly settleTurns: number;
  /** The Byzantine replicas, each with the strategy it plays. */
  readonly byzantine: ReadonlyMap<number, StrategyName>;
  readonly isHonest: (replica: number) => boolean;
  readonly prngs: RunPrngs;
  readonly scenario: Scenario;
  readonly clusterId: string;
  readonly nodeIds: readonly string[];
  /** A replica's engine configuration (detection off for a Byzantine one). */
  readonly engineConfig: (replica: number, honest: boolean) => BftConfig;
  /** The configuration every replica resolves to, but for its id (limits, horizon). */
  readonly resolved: ResolvedBftConfig;
  readonly keys: readonly KeyPair[];
  readonly publicKeys: readonly PublicKey[];
  /** FOR TESTS ONLY: deliberately broken engine parts for every honest replica. */
  readonly testSeams?: EngineTestSeams;
  /** Whether an operator changes the validator set during the fault phase (`--reconfigure`). */
  readonly reconfigure: boolean;
}

export function planRun(options: SimOptions): RunPlan {
  const n = options.replicas;
  const faultPhaseMs = options.faultPhaseMs ?? 6000;
  const byzantine = options.byzantine
    ? drawByzantine(options.seed, n, options.byzantine)
    : new Map<number, StrategyName>();
  const f = Math.floor((n - 1) / 3);
  const prngs = forkRunPrngs(options.seed);
  // A wiped replica forgot the votes it signed: it counts against f (README, "wipe").
  const scenario = drawScenario(
    prngs.scenario,
    n,
    faultPhaseMs,
    options.faults ?? ALL_FAULTS,
    byzantine.size === 0 ? f : 0,
  );
  const clusterId = simulationClusterId(options.seed);
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
    ...(pruning === null
      ? {}
      : { logRetention: (horizon ?? 0) + (options.reconfigure ? reconfigurationReach() : 0) }),
    ...options.engine,
    nodeId: nodeIds[replica]!,
    validators: nodeIds,
    clusterId,
    byzantineDetectionEnabled: honest,
  });
  const resolved = resolveBftConfig(engineConfig(0, true), insecureSimulationScheme.signatureBytes);
  const keys = simulationKeys(n);
  return {
    seed: options.seed,
    replicaCount: n,
    faultPhaseMs,
    livenessBoundMs: options.livenessBoundMs ?? 60_000,
    viewAgreementBoundMs: options.viewAgreementBoundMs ?? 20_000,
    vertexCount: options.vertices ?? 40,
    settleTurns: options.settleTurns ?? SETTLE_TURNS,
    byzantine,
    isHonest: (replica) => !byzantine.has(replica),
    prngs,
    scenario,
    clusterId,
    nodeIds,
    engineConfig,
    resolved,
    keys,
    publicKeys: keys.map((pair) => pair.publicKey),
    ...(options.testSeams === undefined ? {} : { testSeams: options.testSeams }),
    reconfigure: options.reconfigure === true,
  };
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

/** The replicas' keys in every run (insecure simulation scheme, from fixed seeds). */
export function simulationKeys(replicas: number): KeyPair[] {
  return Array.from({ length: replicas }, (_, replica) => simulationKeyPair(replica, 0));
}

/** The cluster id of the run of `seed`: it binds every signature of the run. */
export function simulationClusterId(seed: number): string {
  return `sim-${seed}`;
}

/**
 * How many more sequences replicas keep in runs that prune and change their validators: an
 * epoch that closes is filled to its end with empty batches at once (up to K + L sequences),
 * so up to three changes in a fault window move the order that much faster than the load does,
 * and a replica away for the second such runs allow would otherwise fall behind every peer's
 * history (it could not catch up: there is no snapshot transfer).
 */
function reconfigurationReach(): number {
  const { checkpointInterval, watermarkWindow } = SIM_ENGINE_DEFAULTS;
  return 3 * (checkpointInterval! + watermarkWindow!);
}
