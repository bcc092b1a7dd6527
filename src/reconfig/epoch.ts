/**
 * Epochs: the validator set, its consensus figures and its operators, numbered from 0 (the
 * cluster file). See docs/reconfiguration.md for how one epoch hands over to the next.
 */
import type { ClusterFile } from '../client/cluster-file.ts';

/** One epoch: its number and its members, in the shape of a cluster file. */
export interface Epoch {
  readonly number: number;
  /** The validators (in leader order), the consensus figures and the operators of the epoch. */
  readonly members: ClusterFile;
}

/** Epoch 0: the cluster file every node starts from. */
export function epochZero(cluster: ClusterFile): Epoch {
  return Object.freeze({ number: 0, members: cluster });
}
