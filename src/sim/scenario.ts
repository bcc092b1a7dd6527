/**
 * A run's fault plan, drawn from its seed: how lossy and slow the network is, which partitions
 * (both ways or one way) form and heal, which link is slow, which replicas crash and for how
 * long, which disks fail a sync or are found damaged at the next start, how far clocks drift,
 * how slow disks and signatures are, and the engine settings the run exercises. Faults happen
 * only during the fault phase; afterwards the network is clean and every replica is up, and the
 * run checks liveness.
 */
import type { NetworkFaults } from './network.ts';
import type { Prng } from './prng.ts';

/** Which kinds of fault a run may draw. */
export interface FaultToggles {
  readonly loss: boolean;
  readonly duplication: boolean;
  readonly reordering: boolean;
  /** Partitions that heal, both ways and one way. */
  readonly partitions: boolean;
  /** One link much slower than the others for a while. */
  readonly slowLink: boolean;
  readonly crashes: boolean;
  readonly clockSkew: boolean;
  /** Syncs that fail (the engine halts and is restarted) and records damaged at rest (wiped). */
  readonly disk: boolean;
}

export const ALL_FAULTS: FaultToggles = Object.freeze({
  loss: true,
  duplication: true,
  reordering: true,
  partitions: true,
  slowLink: true,
  crashes: true,
  clockSkew: true,
  disk: true,
});

export const NO_FAULTS: FaultToggles = Object.freeze({
  loss: false,
  duplication: false,
  reordering: false,
  partitions: false,
  slowLink: false,
  crashes: false,
  clockSkew: false,
  disk: false,
});

export interface PartitionPlan {
  readonly atMs: number;
  readonly durationMs: number;
  /** Group per replica. */
  readonly groups: readonly number[];
}

/** Frames from `from` to `to` are cut (or slowed by `extraMs`) for a while. */
export interface LinkPlan {
  readonly atMs: number;
  readonly durationMs: number;
  readonly from: number;
  readonly to: number;
  readonly extraMs: number;
}

export interface CrashPlan {
  readonly atMs: number;
  readonly replica: number;
  readonly downtimeMs: number;
  /** A record of its disk is found damaged when it starts again (it is refused, then wiped). */
  readonly damage: boolean;
}

export interface SyncFailurePlan {
  readonly atMs: number;
  readonly replica: number;
}

/** Engine settings a run draws, so that the seeds cover the code paths each one selects. */
export interface EngineKnobs {
  readonly batchMaxDelayMs: number;
  readonly verifiedCacheMax: number;
  readonly inboundFramesPerPeerMax: number;
  readonly pendingProposalsMax: number;
  /**
   * A short horizon, and no more history kept than it (the least `logRetention` may be), so that
   * finalized records are pruned within a run. Null: the simulator's default horizon, and the
   * whole history kept (a wiped replica needs all of it).
   */
  readonly pruning: { readonly dedupHorizonSequences: number } | null;
}

export interface Scenario {
  readonly network: NetworkFaults;
  readonly partitions: readonly PartitionPlan[];
  readonly oneWayCuts: readonly LinkPlan[];
  readonly slowLinks: readonly LinkPlan[];
  readonly crashes: readonly CrashPlan[];
  readonly syncFailures: readonly SyncFailurePlan[];
  /** Each replica's clock rate: local milliseconds per virtual millisecond (drift). */
  readonly clockRates: readonly number[];
  readonly syncLatencyMs: readonly [number, number];
  readonly cryptoLatencyMicros: readonly [number, number];
  readonly engine: EngineKnobs;
}

/**
 * The horizon (and history kept) of runs that prune: above the watermark window of 16, and small
 * enough that a few seconds of load prune records. A replica further behind than every peer's
 * history cannot catch up, so such runs keep replicas away for at most a second, and wipe none
 * (a wiped replica needs the whole history).
 */
export const PRUNING_HORIZON_SEQUENCES = 24;

/**
 * Faults are drawn per window of this much virtual time, so that a long fault phase has faults
 * throughout, as dense as in a short one, instead of the few of one window spread thin. A phase
 * of one window (the default six seconds) draws exactly what it drew before windows existed.
 */
export const FAULT_WINDOW_MS = 6000;

/**
 * Draws a scenario for `replicaCount` replicas over a fault phase of `faultPhaseMs`, with at
 * most `damagedDisksMax` disks found damaged in the whole run (a wiped replica has forgotten its
 * votes: it counts against f until the cluster has moved past them, so two wipes may not
 * overlap where f is one).
 */
export function drawScenario(
  prng: Prng,
  replicaCount: number,
  faultPhaseMs: number,
  toggles: FaultToggles,
  damagedDisksMax: number,
): Scenario {
  // Engine settings first: pruning bounds how long a replica may be away (a replica further
  // behind than every peer's retained history cannot catch up), so it shapes the faults.
  const pruning = prng.chance(0.25) ? { dedupHorizonSequences: PRUNING_HORIZON_SEQUENCES } : null;
  const engine: EngineKnobs = {
    batchMaxDelayMs: prng.pick([0, 2, 10]),
    verifiedCacheMax: prng.pick([64, 65_536]),
    inboundFramesPerPeerMax: prng.pick([256, 4096]),
    pendingProposalsMax: prng.pick([24, 100_000]),
    pruning,
  };
  const awayMaxMs = pruning === null ? 3000 : 1000;
  const windows = Math.max(1, Math.round(faultPhaseMs / FAULT_WINDOW_MS));
  const windowMs = faultPhaseMs / windows;
  /** A time in window `w`. */
  const during = (w: number): number => Math.floor(w * windowMs) + prng.int(windowMs);

  const delayMinMs = prng.between(1, 5);
  const network: NetworkFaults = {
    lossRate: toggles.loss ? prng.pick([0, 0.01, 0.05, 0.1, 0.2]) : 0,
    duplicateRate: toggles.duplication ? prng.pick([0, 0.01, 0.05]) : 0,
    delayMinMs,
    delayMaxMs: toggles.reordering ? delayMinMs + prng.pick([1, 10, 30, 100]) : delayMinMs,
  };

  const partitions: PartitionPlan[] = [];
  const oneWayCuts: LinkPlan[] = [];
  if (toggles.partitions) {
    for (let w = 0; w < windows; w++) {
      const count = prng.int(4);
      for (let i = 0; i < count; i++) {
        const groups = Array.from({ length: replicaCount }, () => 0);
        if (prng.chance(0.5)) {
          groups[prng.int(replicaCount)] = 1; // isolate one replica
        } else {
          for (let replica = 0; replica < replicaCount; replica++) groups[replica] = prng.int(2);
        }
        partitions.push({ atMs: during(w), durationMs: prng.between(200, awayMaxMs), groups });
      }
      const cuts = replicaCount < 2 ? 0 : prng.int(3);
      for (let i = 0; i < cuts; i++) {
        const [from, to] = twoReplicas(prng, replicaCount);
        oneWayCuts.push({
          atMs: during(w),
          durationMs: prng.between(200, awayMaxMs),
          from,
          to,
          extraMs: 0,
        });
      }
    }
  }

  const slowLinks: LinkPlan[] = [];
  for (let w = 0; w < windows; w++) {
    if (toggles.slowLink && replicaCount >= 2 && prng.chance(0.5)) {
      const [from, to] = twoReplicas(prng, replicaCount);
      slowLinks.push({
        atMs: during(w),
        durationMs: prng.between(500, windowMs),
        from,
        to,
        extraMs: prng.pick([50, 150, 400]),
      });
    }
  }

  const crashes: CrashPlan[] = [];
  if (toggles.crashes) {
    for (let w = 0; w < windows; w++) {
      const count = prng.int(replicaCount + 1);
      for (let i = 0; i < count; i++) {
        crashes.push({
          atMs: during(w),
          replica: prng.int(replicaCount),
          downtimeMs: prng.between(50, awayMaxMs),
          damage: false,
        });
      }
    }
  }

  // Disk faults: syncs that fail, and a disk found damaged when its replica restarts after a
  // crash (a crash of its own, so that the disk class stands alone). A wiped replica needs the
  // whole history from its peers: no disk is damaged where history is pruned.
  const syncFailures: SyncFailurePlan[] = [];
  if (toggles.disk) {
    let damaged = 0;
    for (let w = 0; w < windows; w++) {
      const count = prng.int(3);
      for (let i = 0; i < count; i++) syncFailures.push({ atMs: during(w), replica: prng.int(replicaCount) });
      if (pruning === null && damaged < damagedDisksMax && prng.chance(0.35)) {
        damaged++;
        crashes.push({
          atMs: during(w),
          replica: prng.int(replicaCount),
          downtimeMs: prng.between(50, awayMaxMs),
          damage: true,
        });
      }
    }
  }

  const clockRates = Array.from({ length: replicaCount }, () =>
    toggles.clockSkew ? 1 / (0.8 + 0.4 * prng.float()) : 1,
  );
  const diskSlowMs = prng.pick([1, 5, 20]);
  const cryptoMicros = prng.pick([0, 200, 2000]);
  return {
    network,
    partitions,
    oneWayCuts,
    slowLinks,
    crashes,
    syncFailures,
    clockRates,
    syncLatencyMs: [0, diskSlowMs],
    cryptoLatencyMicros: [0, cryptoMicros],
    engine,
  };
}

function twoReplicas(prng: Prng, replicaCount: number): [number, number] {
  const from = prng.int(replicaCount);
  const to = (from + 1 + prng.int(replicaCount - 1)) % replicaCount;
  return [from, to];
}

/** A one-line description of a scenario, printed with a failing seed. */
export function describeScenario(scenario: Scenario): string {
  const { network, engine } = scenario;
  const damaged = scenario.crashes.filter((crash) => crash.damage).length;
  return (
    `loss ${network.lossRate}, dup ${network.duplicateRate}, delay ${network.delayMinMs}-${network.delayMaxMs} ms, ` +
    `${scenario.partitions.length} partitions, ${scenario.oneWayCuts.length} one-way, ` +
    `${scenario.slowLinks.length} slow links, ${scenario.crashes.length} crashes (${damaged} damaged disks), ` +
    `${scenario.syncFailures.length} sync failures, ` +
    `clocks ${scenario.clockRates.map((rate) => rate.toFixed(2)).join('/')}, disk ${scenario.syncLatencyMs.join('-')} ms, ` +
    `crypto ${scenario.cryptoLatencyMicros.join('-')} us, batch delay ${engine.batchMaxDelayMs} ms, ` +
    `verify cache ${engine.verifiedCacheMax}, inbound ${engine.inboundFramesPerPeerMax}, pending ${engine.pendingProposalsMax}` +
    (engine.pruning === null
      ? ''
      : `, pruning (horizon and retention ${engine.pruning.dedupHorizonSequences})`)
  );
}
