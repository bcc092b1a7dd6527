/**
 * The silent replica: its engine runs and takes every frame and every client vertex, but its
 * transport sends nothing at all, from the first tick to the last. The honest replicas must
 * reach every quorum without it, and clients must get their vertices ordered through the others.
 */
import type { Message } from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

export class Silent extends ByzantineReplica {
  readonly strategy = 'silent';

  protected override transmit(_message: Message, _peers: readonly number[]): void {}
}
