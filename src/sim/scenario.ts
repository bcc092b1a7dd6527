/**
 * A run's fault plan, drawn from its seed: how lossy and slow the network is, which
 * partitions form and heal, which replicas crash and for how long, how far clocks drift, how
 * slow the disks are. Faults happen only during the fault phase; afterwards the network is
 * clean and every replica is up, and the run checks liveness.
 */
import type { NetworkFaults } from './network.ts';
import type { Prng } from './prng.ts';

/** Which kinds of fault a run may draw. */
export interface FaultToggles {
  readonly loss: boolean;
  readonly duplication: boolean;
  readonly reordering: boolean;
  readonly partitions: boolean;
  readonly crashes: boolean;
  readonly clockSkew: boolean;
}

export const ALL_FAULTS: FaultToggles = Object.freeze({
  loss: true,
  duplication: true,
  reordering: true,
  partitions: true,
  crashes: true,
  clockSkew: true,
});

export const NO_FAULTS: FaultToggles = Object.freeze({
  loss: false,
  duplication: false,
  reordering: false,
  partitions: false,
  crashes: false,
  clockSkew: false,
});

export interface PartitionPlan {
  readonly atMs: number;
  readonly durationMs: number;
  /** Group per replica. */
  readonly groups: readonly number[];
}

export interface CrashPlan {
  readonly atMs: number;
  readonly replica: number;
  readonly downtimeMs: number;
}

export interface Scenario {
  readonly network: NetworkFaults;
  readonly partitions: readonly PartitionPlan[];
  readonly crashes: readonly CrashPlan[];
  /** Tick period of each replica in virtual milliseconds (clock drift). */
  readonly tickPeriodsMs: readonly number[];
  readonly diskLatencyMs: readonly [number, number];
}

/** Draws a scenario for `replicaCount` replicas over a fault phase of `faultPhaseMs`. */
export function drawScenario(
  prng: Prng,
  replicaCount: number,
  faultPhaseMs: number,
  tickMs: number,
  toggles: FaultToggles,
): Scenario {
  const delayMinMs = prng.between(1, 5);
  const network: NetworkFaults = {
    lossRate: toggles.loss ? prng.pick([0, 0.01, 0.05, 0.1, 0.2]) : 0,
    duplicateRate: toggles.duplication ? prng.pick([0, 0.01, 0.05]) : 0,
    delayMinMs,
    delayMaxMs: toggles.reordering ? delayMinMs + prng.pick([1, 10, 30, 100]) : delayMinMs,
  };

  const partitions: PartitionPlan[] = [];
  if (toggles.partitions) {
    const count = prng.int(4);
    for (let i = 0; i < count; i++) {
      const groups = Array.from({ length: replicaCount }, () => 0);
      if (prng.chance(0.5)) {
        groups[prng.int(replicaCount)] = 1; // isolate one replica
      } else {
        for (let replica = 0; replica < replicaCount; replica++) groups[replica] = prng.int(2);
      }
      partitions.push({ atMs: prng.int(faultPhaseMs), durationMs: prng.between(200, 3000), groups });
    }
  }

  const crashes: CrashPlan[] = [];
  if (toggles.crashes) {
    const count = prng.int(replicaCount + 1);
    for (let i = 0; i < count; i++) {
      crashes.push({
        atMs: prng.int(faultPhaseMs),
        replica: prng.int(replicaCount),
        downtimeMs: prng.between(50, 3000),
      });
    }
  }

  const tickPeriodsMs = Array.from({ length: replicaCount }, () =>
    toggles.clockSkew ? Math.max(1, Math.round(tickMs * (0.8 + 0.4 * prng.float()))) : tickMs,
  );
  const diskSlow = prng.pick([1, 5, 20]);
  return { network, partitions, crashes, tickPeriodsMs, diskLatencyMs: [0, diskSlow] };
}

/** A one-line description of a scenario, printed with a failing seed. */
export function describeScenario(scenario: Scenario): string {
  const { network } = scenario;
  return (
    `loss ${network.lossRate}, dup ${network.duplicateRate}, delay ${network.delayMinMs}-${network.delayMaxMs} ms, ` +
    `${scenario.partitions.length} partitions, ${scenario.crashes.length} crashes, ` +
    `ticks ${scenario.tickPeriodsMs.join('/')} ms, disk ${scenario.diskLatencyMs.join('-')} ms`
  );
}
