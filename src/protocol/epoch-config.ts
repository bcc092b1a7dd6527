/**
 * A replica's configuration in the next epoch, and whether the core can take that epoch at all.
 * Apart from the switch itself (`epoch-switch.ts`) so that closing an epoch (`epochs.ts`) can
 * check a request without importing the switch.
 */
import { type ReplicaConfig, resolveReplicaConfig } from './config.ts';
import type { NextEpoch } from './epochs.ts';

/** The configuration a replica has in `next`, or null when it is not one of its validators. */
export function configIn(current: ReplicaConfig, node: string, next: NextEpoch): ReplicaConfig | null {
  const self = next.nodes.indexOf(node);
  if (self < 0) return null;
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
      : { reconfiguration: { reader: current.reconfiguration.reader, nodes: next.nodes } }),
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
