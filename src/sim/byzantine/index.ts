/**
 * Byzantine replicas for the simulator: each strategy is a {@link SimNode} with `honest` false
 * that runs the shipped engine in place of the honest replica, with that replica's real key,
 * and alters what goes in and out of it.
 */
import type { SimContext, SimNode } from '../node.ts';
import { Censor } from './censor.ts';
import { CheckpointLiar } from './checkpoint-liar.ts';
import { DoubleVoter } from './double-voter.ts';
import { Equivocator } from './equivocator.ts';
import { Forger } from './forger.ts';
import { LyingViewChanger } from './lying-view-changer.ts';
import { Malformer } from './malformer.ts';
import { Replayer } from './replayer.ts';
import { Silent } from './silent.ts';
import { SlowLeader } from './slow-leader.ts';
import { StaleMember } from './stale-member.ts';
import type { StrategyName } from './strategy-names.ts';
import { Twins } from './twins.ts';

export { isStrategyName, STRATEGY_NAMES, type StrategyName } from './strategy-names.ts';

const builders: { readonly [S in StrategyName]: (id: number, context: SimContext) => SimNode } = {
  equivocator: (id, context) => new Equivocator(id, context),
  'double-voter': (id, context) => new DoubleVoter(id, context),
  forger: (id, context) => new Forger(id, context),
  replayer: (id, context) => new Replayer(id, context),
  malformer: (id, context) => new Malformer(id, context),
  silent: (id, context) => new Silent(id, context),
  'slow-leader': (id, context) => new SlowLeader(id, context),
  'lying-view-changer': (id, context) => new LyingViewChanger(id, context),
  'checkpoint-liar': (id, context) => new CheckpointLiar(id, context),
  twins: (id, context) => new Twins(id, context),
  censor: (id, context) => new Censor(id, context),
  'stale-member': (id, context) => new StaleMember(id, context),
};

/** Builds the replica `id` playing `strategy`. */
export function createByzantineNode(strategy: StrategyName, id: number, context: SimContext): SimNode {
  return builders[strategy](id, context);
}
