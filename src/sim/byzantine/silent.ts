/**
 * The silent replica: it sends nothing at all, from the first tick to the last, while saying
 * yes to every client that offers it vertices. The honest replicas must reach every quorum
 * without it, and clients must get their vertices ordered through the others.
 */
import type { SimNode } from '../node.ts';
import type { StrategyName } from './strategy-names.ts';

export class SilentNode implements SimNode {
  readonly id: number;
  readonly honest = false;
  readonly strategy: StrategyName = 'silent';
  alive = true;

  constructor(id: number) {
    this.id = id;
  }

  receive(): void {}

  tick(): void {}

  /** Claims to accept, as a lying replica would; the clients' retries get the vertices ordered elsewhere. */
  propose(): boolean {
    return this.alive;
  }

  crash(): void {
    this.alive = false;
  }

  restart(): void {
    this.alive = true;
  }

  /** Byzantine: not held to view agreement. */
  viewState(): null {
    return null;
  }

  describe(): string {
    return `r${this.id} silent (byzantine)`;
  }
}
