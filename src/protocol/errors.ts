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
 * The one integer check of every configuration layer (core, engine, detector, transport): the
 * value, or `fallback` when it is left out, as a safe integer in [min, max]; a
 * {@link ConfigError} naming `field` and the range otherwise.
 */
export function integerField(
  field: string,
  value: unknown,
  fallback: number | undefined,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  const result = value ?? fallback;
  if (typeof result !== 'number' || !Number.isSafeInteger(result) || result < min || result > max) {
    const range =
      min === 1 && max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `an integer in [${min}, ${max}]`;
    throw new ConfigError(field, `must be ${range}, got ${String(result)}`);
  }
  return result;
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
