/**
 * The two kinds of failure the core knows (the MongoDB driver's split): misuse by the caller,
 * and a broken internal invariant. Bad input from a peer is neither: it is a verdict, never
 * an exception (see `effects.ts`).
 */
import { CretoaiError } from '../errors.ts';

/** A configuration value is invalid. `field` names it, so the caller can fix it. */
export class ConfigError extends CretoaiError {
  readonly code = 'config';
  override readonly name = 'ConfigError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/**
 * An internal invariant is broken: the replica's own state is inconsistent (for example, a
 * quorum certified a checkpoint digest that differs from the one this replica computed). The
 * replica must stop rather than sign anything more from damaged state.
 */
export class InvariantError extends CretoaiError {
  readonly code = 'invariant';
  override readonly name = 'InvariantError';
}

/** Stops the replica when `condition` is false. Never use this for peer input. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
