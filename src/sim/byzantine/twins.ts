/**
 * Twins (Bano et al., "Twins: BFT Systems Made Robust", the approach used to test DiemBFT):
 * two copies of the unmodified honest replica run under one identity and one key, as an
 * operator who starts a node twice or restores it from an old backup would. The peers are
 * split between them: each twin hears from and talks to its own share (now and then a peer
 * is shared, and hears both), and the split is drawn again from time to time. Neither copy
 * lies, yet together they equivocate and forget what the other one voted for, which is the
 * fault PBFT's quorum intersection must absorb.
 */
import type { Message, Vertex } from '../../protocol/index.ts';
import { HonestNode } from '../honest-node.ts';
import type { SimContext, SimNode } from '../node.ts';
import type { Prng } from '../prng.ts';
import type { StrategyName } from './strategy-names.ts';

/** The chance that a peer is shared by both twins, and how long a split lasts. */
const SHARED_PEER_RATE = 0.15;
const SPLIT_MS: readonly [number, number] = [500, 4000];

/** Which twin a peer belongs to: 0, 1, or both. */
type Owner = 0 | 1 | 'both';

/** One twin: the honest replica, talking only to the peers of its share. */
class Twin extends HonestNode {
  readonly #index: 0 | 1;
  readonly #owners: () => readonly Owner[];

  constructor(id: number, context: SimContext, index: 0 | 1, owners: () => readonly Owner[]) {
    super(id, context);
    this.#index = index;
    this.#owners = owners;
  }

  protected override transmit(message: Message, peers: readonly number[]): void {
    const owners = this.#owners();
    const mine = peers.filter((peer) => owners[peer] === this.#index || owners[peer] === 'both');
    if (mine.length > 0) super.transmit(message, mine);
  }
}

export class Twins implements SimNode {
  readonly id: number;
  readonly honest = false;
  readonly strategy: StrategyName = 'twins';
  readonly #twins: readonly [Twin, Twin];
  readonly #prng: Prng;
  readonly #replicaCount: number;
  #owners: Owner[] = [];
  #splits = 0;

  constructor(id: number, context: SimContext) {
    this.id = id;
    this.#prng = context.prng.fork();
    this.#replicaCount = context.configs[id]!.replicaCount;
    const owners = (): readonly Owner[] => this.#owners;
    this.#twins = [new Twin(id, context, 0, owners), new Twin(id, context, 1, owners)];
    this.#split();
    const resplit = (): void => {
      this.#split();
      context.queue.schedule(this.#prng.between(SPLIT_MS[0], SPLIT_MS[1]), resplit);
    };
    context.queue.schedule(this.#prng.between(SPLIT_MS[0], SPLIT_MS[1]), resplit);
  }

  get alive(): boolean {
    return this.#twins[0].alive || this.#twins[1].alive;
  }

  receive(from: number, frame: Uint8Array): void {
    const owner = this.#owners[from];
    if (owner !== 1) this.#twins[0].receive(from, frame);
    if (owner !== 0) this.#twins[1].receive(from, frame);
  }

  tick(): void {
    this.#twins[0].tick();
    this.#twins[1].tick();
  }

  /** A client reaches one twin or the other. */
  propose(vertices: readonly Vertex[]): boolean {
    return this.#twins[this.#prng.int(2)]!.propose(vertices);
  }

  crash(): void {
    this.#twins[0].crash();
    this.#twins[1].crash();
  }

  restart(): void {
    this.#twins[0].restart();
    this.#twins[1].restart();
  }

  /** Byzantine: not held to view agreement. */
  viewState(): null {
    return null;
  }

  describe(): string {
    return `twins (byzantine, split ${this.#splits}: ${this.#owners.join('')}): ${this.#twins[0].describe()} | ${this.#twins[1].describe()}`;
  }

  /** Draws which twin each peer belongs to; each twin gets at least one peer. */
  #split(): void {
    this.#splits++;
    const owners: Owner[] = Array.from({ length: this.#replicaCount }, () => 0);
    const peers = Array.from({ length: this.#replicaCount }, (_, peer) => peer).filter(
      (peer) => peer !== this.id,
    );
    for (const peer of peers)
      owners[peer] = this.#prng.chance(SHARED_PEER_RATE) ? 'both' : this.#prng.int(2) === 0 ? 0 : 1;
    if (peers.length >= 2) {
      if (!peers.some((peer) => owners[peer] !== 1)) owners[peers[0]!] = 0;
      if (!peers.some((peer) => owners[peer] !== 0)) owners[peers[1]!] = 1;
    }
    this.#owners = owners;
  }
}
