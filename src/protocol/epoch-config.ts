/**
 * A replica's configuration in the next epoch, and whether the core can take that epoch at all.
 * Apart from the switch itself (`epoch-switch.ts`) so that closing an epoch (`epochs.ts`) can
 * check a request without importing the switch.
 */
import { NOT_A_VALIDATOR, type ReplicaConfig, resolveReplicaConfig } from './config.ts';
import type { NextEpoch } from './epochs.ts';
import { invariant } from './errors.ts';

/** This replica's node id, which stays when its replica id changes from one epoch to the next. */
export function ownNode(config: ReplicaConfig): string {
  const reconfiguration = config.reconfiguration;
  invariant(reconfiguration !== null, 'only a replica that follows epochs has a node id');
  const node = reconfiguration.node ?? reconfiguration.nodes[config.self];
  invariant(node !== undefined, 'a replica without an id names its node');
  return node;
}

/** The configuration a replica has in `next`, or null when it is not one of its validators. */
export function configIn(current: ReplicaConfig, node: string, next: NextEpoch): ReplicaConfig | null {
  const self = next.nodes.indexOf(node);
  if (self < 0) return null;
  return configAs(current, self, next);
}

/**
 * The configuration of a learner in `next` (`learner.ts`): the epoch's figures and quorums, by
 * which it checks the certificates it is given, and no id of its own.
 */
export function learnerConfigIn(current: ReplicaConfig, next: NextEpoch): ReplicaConfig {
  return learnerConfig(configAs(current, 0, next));
}

/** `config` for a learner: no id of its own, its node named instead. */
export function learnerConfig(config: ReplicaConfig): ReplicaConfig {
  const reconfiguration = config.reconfiguration;
  invariant(reconfiguration !== null, 'a learner follows epochs');
  return { ...config, self: NOT_A_VALIDATOR, reconfiguration: { ...reconfiguration, node: ownNode(config) } };
}

function configAs(current: ReplicaConfig, self: number, next: NextEpoch): ReplicaConfig {
  // What follows from n (quorums, and the copies a vertex needs before its 202, f by default)
  // is worked out again for the new n; the other figures carry over unless the request sets them.
  const {
    replicaCount: _n,
    faultTolerance: _f,
    quorum: _quorum,
    weakQuorum: _weakQuorum,
    acknowledgeCopies: _copies,
    self: _self,
    reconfiguration: _reconfiguration,
    ...figures
  } = current;
  return resolveReplicaConfig({
    ...figures,
    ...next.options,
    clusterId: current.clusterId,
    replicaCount: next.nodes.length,
    self,
    ...(current.reconfiguration === null
      ? {}
      : { reconfiguration: { ...current.reconfiguration, nodes: next.nodes, node: ownNode(current) } }),
  });
}

/**
 * Whether the core can take `next` after an epoch of `current`: its figures pass the
 * configuration's checks, its node ids are distinct, and it keeps K, L and the deduplication
 * horizon, which the hand-over checkpoint and the delivered set are built on. A request that
 * fails this is skipped like any request that does not take effect, at every replica alike.
 */
export function takesOver(current: ReplicaConfig, next: NextEpoch): boolean {
  if (next.nodes.length === 0 || new Set(next.nodes).size !== next.nodes.length) return false;
  let probe: ReplicaConfig | null;
  try {
    probe = configIn(current, next.nodes[0]!, next);
  } catch {
    return false;
  }
  return (
    probe !== null &&
    probe.checkpointInterval === current.checkpointInterval &&
    probe.watermarkWindow === current.watermarkWindow &&
    probe.dedupHorizonSequences === current.dedupHorizonSequences
  );
}
