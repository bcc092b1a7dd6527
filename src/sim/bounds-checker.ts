/**
 * Memory stays bounded: after every event of every process, each queue, cache and map of its
 * engine (and the core inside it) is within the bound its configuration names
 * (`BftEngine.visitBoundedSizes`). Collections with no configured bound of their own are not
 * failed, but their high-water marks are kept for the run's report.
 */
import type { BftEngine, BoundVisitor } from '../engine/index.ts';

export class BoundsChecker {
  /** High-water marks of the collections without a configured bound, by name. */
  readonly highWater: Record<string, number> = {};
  readonly #violate: (message: string) => void;
  /** Each (replica, collection) is reported once per run. */
  readonly #reported = new Set<string>();
  /** Each replica's visitor, made once. */
  readonly #visitors: BoundVisitor[] = [];

  constructor(violate: (message: string) => void) {
    this.#violate = violate;
  }

  check(replica: number, engine: BftEngine): void {
    engine.visitBoundedSizes(this.#visit(replica));
  }

  /** One visitor per replica, made once: the check runs after every event. */
  #visit(replica: number): BoundVisitor {
    let visitor = this.#visitors[replica];
    if (visitor !== undefined) return visitor;
    visitor = (name, size, max, bound) => {
      if (max === null) {
        if (size > (this.highWater[name] ?? 0)) this.highWater[name] = size;
        return;
      }
      if (size <= max) return;
      const key = `${replica}/${name}`;
      if (this.#reported.has(key)) return;
      this.#reported.add(key);
      this.#violate(`memory: replica ${replica} holds ${size} ${name}, above ${max} (${bound})`);
    };
    this.#visitors[replica] = visitor;
    return visitor;
  }
}
