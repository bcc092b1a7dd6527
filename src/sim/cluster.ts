/**
 * The simulated cluster of a run: the context every replica is built from (network, disks,
 * clocks, keys and the run's observer), the replicas themselves, honest or Byzantine, and the
 * network wired to them.
 */
import { createByzantineNode } from './byzantine/index.ts';
import { SimDisk } from './disk.ts';
import type { EventQueue } from './event-queue.ts';
import { HonestReplica } from './honest-replica.ts';
import { SimNetwork } from './network.ts';
import type { SimContext, SimNode } from './node.ts';
import type { Prng } from './prng.ts';
import { simReconfiguration } from './reconfiguration.ts';
import type { RunObserver } from './run-observer.ts';
import type { RunPlan } from './run-plan.ts';

export interface SimCluster {
  readonly context: SimContext;
  readonly network: SimNetwork;
  readonly nodes: readonly SimNode[];
}

/**
 * Builds the replicas into `nodes`, in id order (each forks its generators from the context's
 * in that order), on a network that hands them their frames.
 */
export function buildCluster(
  plan: RunPlan,
  queue: EventQueue,
  nodes: SimNode[],
  observer: RunObserver,
): SimCluster {
  const n = plan.replicaCount;
  const { scenario } = plan;
  const context: SimContext = {
    queue,
    network: new SimNetwork(queue, plan.prngs.network, n, { ...scenario.network }),
    replicaCount: n,
    clusterId: plan.clusterId,
    nodeIds: plan.nodeIds,
    keys: plan.keys,
    publicKeys: plan.publicKeys,
    limits: plan.resolved.limits,
    configFor: plan.engineConfig,
    disks: Array.from({ length: n }, (_, replica) => new SimDisk(replica)),
    prng: plan.prngs.replicas,
    clockRates: scenario.clockRates,
    syncLatencyMs: scenario.syncLatencyMs,
    cryptoLatencyMicros: scenario.cryptoLatencyMicros,
    restartDelayMs: [50, 500],
    operatorDelayMs: [500, 2000],
    mayStartWiped: (replica) => {
      // Every other replica runs, active in one view of one epoch led by another: the wiped
      // replica can then never lead a view in which it ordered anything before (see
      // `HostOptions.mayStartWiped`).
      let at: string | null = null;
      for (const node of nodes) {
        if (!node.honest || node.id === replica) continue;
        const state = node.viewState();
        if (state === null) return false;
        if (!state.member) continue;
        if (!state.active) return false;
        const here = `${state.epoch}/${state.view}`;
        if (at !== null && here !== at) return false;
        if (state.leader === plan.nodeIds[replica]) return false;
        at = here;
      }
      return at !== null;
    },
    ...(plan.testSeams === undefined ? {} : { testSeams: plan.testSeams }),
    ...(plan.reconfigure ? { reconfiguration: (replica: number) => simReconfiguration(replica, {}) } : {}),
    observer,
  };
  const network = context.network;
  network.attach({
    up: (replica) => nodes[replica]!.up,
    incarnation: (replica) => nodes[replica]!.epoch,
    deliver: (to, from, frame) => {
      observer.frameArrived(from, frame);
      nodes[to]!.receive(from, frame);
    },
  });
  for (let id = 0; id < n; id++) {
    const strategy = plan.byzantine.get(id);
    nodes.push(
      strategy === undefined ? new HonestReplica(id, context) : createByzantineNode(strategy, id, context),
    );
  }
  return { context, network, nodes };
}

/** Each replica first starts within the run's first 10 ms, at a time drawn from `prng`. */
export function scheduleFirstStarts(cluster: SimCluster, prng: Prng): void {
  for (const node of cluster.nodes) cluster.context.queue.schedule(prng.int(10), () => node.start());
}
