/**
 * Memory stays bounded: after every event of every process, each queue, cache and map of its
 * engine (and the core inside it) is within the bound its configuration names
 * (`BftEngine.boundedSizes`). Collections with no configured bound of their own are not failed,
 * but their high-water marks are kept for the run's report.
 */
import type { BftEngine } from '../engine/index.ts';

export class BoundsChecker {
  /** High-water marks of the collections without a configured bound, by name. */
  readonly highWater: Record<string, number> = {};
  readonly #violate: (message: string) => void;
  /** Each (replica, collection) is reported once per run. */
  readonly #reported = new Set<string>();

  constructor(violate: (message: string) => void) {
    this.#violate = violate;
  }

  check(replica: number, engine: BftEngine): void {
    for (const { name, size, max, bound } of engine.boundedSizes()) {
      if (max === null) {
        if (size > (this.highWater[name] ?? 0)) this.highWater[name] = size;
        continue;
      }
      if (size <= max) continue;
      const key = `${replica}/${name}`;
      if (this.#reported.has(key)) continue;
      this.#reported.add(key);
      this.#violate(`memory: replica ${replica} holds ${size} ${name}, above ${max} (${bound})`);
    }
  }
}
