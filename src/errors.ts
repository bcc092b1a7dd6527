/**
 * The one base of every error this package throws on purpose, from the library, the client,
 * the node and the CLI: catch `CretoaiError` and branch on `code`, which is stable across
 * releases (each subclass documents its codes). An `InvariantError` (code `invariant`) means a
 * bug in this package; errors that are not CretoaiErrors come from Node itself.
 */
export abstract class CretoaiError extends Error {
  /** A stable, machine-readable reason: the same for every release that throws it. */
  abstract readonly code: string;
}

/**
 * A function or constructor of this package was called with an argument it cannot take (a
 * value out of range, a key of another scheme, an unknown node id): a mistake of the caller,
 * reported before anything changed. Configuration objects get a `ConfigError` naming the field.
 */
export class ArgumentError extends CretoaiError {
  readonly code = 'invalid-argument';
  override readonly name = 'ArgumentError';
}
