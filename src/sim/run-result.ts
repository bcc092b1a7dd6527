/**
 * A finished run, summed up: what it checked and counted, how long it took, what became of its
 * Byzantine replicas and, when it stalled or broke, each replica's state for the report.
 */
import type { Evidence } from '../byzantine/index.ts';
import type { Clients } from './clients.ts';
import type { SimCluster } from './cluster.ts';
import type { OperatorCounts } from './operator.ts';
import type { RunObserver } from './run-observer.ts';
import type { RunPlan } from './run-plan.ts';
import { describeScenario } from './scenario.ts';
import type { SimResult } from './simulation.ts';

export interface FinishedRun {
  readonly plan: RunPlan;
  readonly cluster: SimCluster;
  readonly clients: Clients;
  readonly observer: RunObserver;
  /** Events run. */
  readonly events: number;
  /** When everything was final everywhere, or null if it never was (or safety broke first). */
  readonly finishedAt: number | null;
  /** Collect the evidence the honest replicas' detectors hold. */
  readonly collectEvidence: boolean;
  /** What the operator changed (`--reconfigure`), or null. */
  readonly operator: OperatorCounts | null;
}

export function summarizeRun(run: FinishedRun): SimResult {
  const { plan, cluster, clients, observer, finishedAt } = run;
  const { checker, counters } = observer;
  const { nodes } = cluster;
  const vertexCount = plan.vertexCount;
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
          ...(run.operator === null
            ? []
            : [
                `epochs: ${observer.epochs.latest.number + 1}, validators now ${observer.epochs.latest.members
                  .map((member) => `${member.replica}#${member.generation}`)
                  .join(',')}`,
              ]),
        ]
      : [];
  const evidence: Evidence[] = [];
  if (run.collectEvidence)
    for (const node of nodes)
      if (node.honest)
        for (const host of node.hosts) evidence.push(...(host.instance?.engine.evidence() ?? []));
  return {
    seed: plan.seed,
    replicas: plan.replicaCount,
    violations: checker.violations,
    stalled,
    virtualMs: cluster.context.queue.now,
    recoveryMs: finishedAt === null ? null : finishedAt - plan.faultPhaseMs,
    finalizedBatches: checker.highestSequence,
    vertices: vertexCount,
    messages: cluster.network.stats.sent,
    events: run.events,
    scenario: describeScenario(plan.scenario),
    counters,
    verdicts: observer.verdicts,
    highWater: observer.bounds.highWater,
    diagnosis,
    byzantine: [...plan.byzantine].map(([replica, strategy]) => ({
      replica,
      strategy,
      detected: observer.detected.has(replica),
      banned: observer.bannedByHonest.has(replica),
    })),
    honestBanned: [...observer.bannedByHonest].filter((replica) => plan.isHonest(replica)).length,
    ...(run.collectEvidence ? { evidence } : {}),
    ...(run.operator === null
      ? {}
      : { reconfiguration: { ...run.operator, epochs: observer.epochs.latest.number } }),
  };
}
