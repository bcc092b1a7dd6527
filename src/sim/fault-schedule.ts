/**
 * The faults of a run, put on its event queue: the scenario's partitions, one-way cuts, slow
 * links, crashes (some with bit rot) and failed syncs during the fault phase, and at its end a
 * clean network, disks that sync, and every replica started again.
 */
import type { SimCluster } from './cluster.ts';
import type { Prng } from './prng.ts';
import type { SimCounters } from './run-observer.ts';
import type { Scenario } from './scenario.ts';

/** Whether the fault phase is over: a fault due after its end does not happen. */
export interface FaultPhase {
  readonly over: boolean;
}

/**
 * Schedules the scenario's faults and the end of the fault phase at `faultPhaseMs`, counting
 * each fault as it happens; `damagePrng` draws the bit rot of crashed replicas' disks.
 */
export function scheduleFaults(
  scenario: Scenario,
  faultPhaseMs: number,
  cluster: SimCluster,
  counters: SimCounters,
  damagePrng: Prng,
): FaultPhase {
  const { network, nodes, context } = cluster;
  const queue = context.queue;
  const phase = { over: false };
  for (const partition of scenario.partitions) {
    queue.schedule(partition.atMs, () => {
      if (phase.over) return;
      counters.partitions++;
      network.partition = partition.groups;
      queue.schedule(partition.durationMs, () => {
        if (network.partition === partition.groups) network.partition = null;
      });
    });
  }
  for (const cut of scenario.oneWayCuts) {
    queue.schedule(cut.atMs, () => {
      if (phase.over) return;
      counters.oneWayCuts++;
      network.cutOneWay(cut.from, cut.to);
      queue.schedule(cut.durationMs, () => network.restoreOneWay(cut.from, cut.to));
    });
  }
  for (const slow of scenario.slowLinks) {
    queue.schedule(slow.atMs, () => {
      if (phase.over) return;
      counters.slowLinks++;
      network.slowDown(slow.from, slow.to, slow.extraMs);
      queue.schedule(slow.durationMs, () => network.restoreSpeed(slow.from, slow.to));
    });
  }
  for (const crash of scenario.crashes) {
    queue.schedule(crash.atMs, () => {
      const node = nodes[crash.replica]!;
      if (phase.over || !node.up) return;
      counters.crashes++;
      node.crash();
      // Bit rot while it is down: its next start finds a damaged record and is refused.
      if (crash.damage && node.honest) context.disks[crash.replica]!.damage(damagePrng);
      queue.schedule(crash.downtimeMs, () => node.start());
    });
  }
  for (const failure of scenario.syncFailures) context.disks[failure.replica]!.planSyncFailure(failure.atMs);
  queue.schedule(faultPhaseMs, () => {
    phase.over = true;
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
  return phase;
}
