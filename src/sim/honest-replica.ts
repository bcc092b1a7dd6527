/**
 * An honest replica: the shipped engine, its frames going straight to the network.
 */
import type { AcceptedProposal } from '../engine/index.ts';
import type { Vertex } from '../protocol/index.ts';
import type { ReplicaHost } from './host.ts';
import { createHost, describeInstance, type SimContext, type SimNode, type ViewState } from './node.ts';

export class HonestReplica implements SimNode {
  readonly id: number;
  readonly honest = true;
  readonly strategy = null;
  readonly hosts: readonly ReplicaHost[];
  readonly #host: ReplicaHost;

  constructor(id: number, context: SimContext) {
    this.id = id;
    const network = context.network;
    this.#host = createHost(context, id, {
      honest: true,
      outgoing: (peers, frame) => {
        for (const peer of peers) network.send(id, peer, frame);
      },
    });
    this.hosts = [this.#host];
  }

  get up(): boolean {
    return this.#host.up;
  }

  get epoch(): number {
    return this.#host.epoch;
  }

  receive(from: number, frame: Uint8Array): void {
    this.#host.instance?.deliver(from, frame);
  }

  start(): void {
    this.#host.start();
  }

  crash(): void {
    this.#host.crash();
  }

  rejoin(joining: { readonly epoch: number; readonly opening: Uint8Array }): void {
    this.#host.rejoin(joining);
  }

  accept(vertex: Vertex): Promise<AcceptedProposal> | null {
    const instance = this.#host.instance;
    return instance === null ? null : instance.engine.accept(vertex);
  }

  viewState(): ViewState | null {
    const instance = this.#host.instance;
    if (instance === null || !instance.running) return null;
    const { epoch, view, viewActive, member, leader } = instance.engine.status();
    return { epoch, view, active: viewActive, member, leader };
  }

  describe(): string {
    return `r${this.id} ${describeInstance(this.#host.instance)}`;
  }
}
