/**
 * Twins (Bano et al., "Twins: BFT Systems Made Robust", the approach used to test DiemBFT):
 * two copies of the unmodified engine run under one identity and one key, each on a disk of its
 * own, as an operator who starts a node twice or restores it from an old backup would. The
 * peers are split between them: each twin hears from and talks to its own share (now and then
 * a peer is shared, and hears both), and the split is drawn again from time to time. Neither
 * copy lies, yet together they equivocate and forget what the other one voted for, which is
 * the fault PBFT's quorum intersection must absorb.
 */
import type { AcceptedProposal } from '../../engine/index.ts';
import type { Vertex } from '../../protocol/index.ts';
import type { ReplicaHost } from '../host.ts';
import { createHost, describeInstance, extraDisk, type SimContext, type SimNode } from '../node.ts';
import type { Prng } from '../prng.ts';
import type { StrategyName } from './strategy-names.ts';

/** The chance that a peer is shared by both twins, and how long a split lasts. */
const SHARED_PEER_RATE = 0.15;
const SPLIT_MS: readonly [number, number] = [500, 4000];

/** Which twin a peer belongs to: 0, 1, or both. */
type Owner = 0 | 1 | 'both';

export class Twins implements SimNode {
  readonly id: number;
  readonly honest = false;
  readonly strategy: StrategyName = 'twins';
  readonly hosts: readonly [ReplicaHost, ReplicaHost];
  readonly #prng: Prng;
  readonly #replicaCount: number;
  #owners: Owner[] = [];
  #splits = 0;

  constructor(id: number, context: SimContext) {
    this.id = id;
    this.#prng = context.prng.fork();
    this.#replicaCount = context.replicaCount;
    const network = context.network;
    const twin = (index: 0 | 1) =>
      createHost(context, id, {
        honest: false,
        outgoing: (peers, frame) => {
          for (const peer of peers) {
            const owner = this.#owners[peer];
            if (owner === index || owner === 'both') network.send(id, peer, frame);
          }
        },
        disk: index === 0 ? context.disks[id]! : extraDisk(id),
      });
    this.hosts = [twin(0), twin(1)];
    this.#split();
    const resplit = (): void => {
      this.#split();
      context.queue.schedule(this.#prng.between(SPLIT_MS[0], SPLIT_MS[1]), resplit);
    };
    context.queue.schedule(this.#prng.between(SPLIT_MS[0], SPLIT_MS[1]), resplit);
  }

  get up(): boolean {
    return this.hosts[0].up || this.hosts[1].up;
  }

  get epoch(): number {
    return this.hosts[0].epoch + this.hosts[1].epoch;
  }

  receive(from: number, frame: Uint8Array): void {
    const owner = this.#owners[from];
    if (owner !== 1) this.hosts[0].instance?.deliver(from, frame);
    if (owner !== 0) this.hosts[1].instance?.deliver(from, frame);
  }

  start(): void {
    this.hosts[0].start();
    this.hosts[1].start();
  }

  crash(): void {
    this.hosts[0].crash();
    this.hosts[1].crash();
  }

  /** A client reaches one twin or the other. */
  accept(vertex: Vertex): Promise<AcceptedProposal> | null {
    const instance = this.hosts[this.#prng.int(2)]!.instance;
    return instance === null ? null : instance.engine.accept(vertex);
  }

  /** Byzantine: not held to view agreement. */
  viewState(): null {
    return null;
  }

  describe(): string {
    return (
      `r${this.id} twins (byzantine, split ${this.#splits}: ${this.#owners.join('')}): ` +
      `${describeInstance(this.hosts[0].instance)} | ${describeInstance(this.hosts[1].instance)}`
    );
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
