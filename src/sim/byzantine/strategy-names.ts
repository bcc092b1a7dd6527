/**
 * The Byzantine strategies the simulator can run, by the names the command line uses.
 */
export const STRATEGY_NAMES = Object.freeze([
  'equivocator',
  'double-voter',
  'forger',
  'replayer',
  'malformer',
  'silent',
  'slow-leader',
  'lying-view-changer',
  'checkpoint-liar',
  'twins',
  'censor',
  'stale-member',
] as const);

export type StrategyName = (typeof STRATEGY_NAMES)[number];

export function isStrategyName(name: string): name is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(name);
}
