/**
 * The censoring primary: it orders client vertices as usual, except about a quarter of them
 * (those whose hash starts with a byte below 64), which its engine never sees while it leads:
 * they are cut out of every REQUEST that reaches it, and its own clients' ones are held back
 * until it leads no more (then it hands them to its engine, which forwards them to the new
 * primary, as an honest backup does). Everything else it orders promptly, so the backups see
 * steady progress on their client vertices: only the bound on how long any one vertex may wait
 * (`CLIENT_WAIT_BOUND_TIMEOUTS`) deposes it while the load goes on, and the run checks that the
 * withheld vertices are finalized in time once it is.
 */
import type { AcceptedProposal } from '../../engine/index.ts';
import type { Vertex } from '../../protocol/index.ts';
import { encodeMessage } from '../../wire/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

function withheld(vertex: Vertex): boolean {
  return vertex.hash[0]! < 64;
}

interface Held {
  readonly vertex: Vertex;
  readonly resolve: (accepted: AcceptedProposal) => void;
  readonly reject: (error: unknown) => void;
}

export class Censor extends ByzantineReplica {
  readonly strategy = 'censor';
  /** Its clients' withheld vertices, until it no longer leads. */
  #held: Held[] = [];

  protected override received(from: number, frame: Uint8Array): void {
    const message = this.decode(frame);
    if (
      message === null ||
      message.kind !== 'request' ||
      !message.vertices.some(withheld) ||
      !this.#leading()
    ) {
      this.deliver(from, frame);
      return;
    }
    const vertices = message.vertices.filter((vertex) => !withheld(vertex));
    if (vertices.length > 0) this.deliver(from, encodeMessage({ ...message, vertices }));
  }

  override accept(vertex: Vertex): Promise<AcceptedProposal> | null {
    if (!withheld(vertex) || !this.#leading()) return super.accept(vertex);
    return new Promise((resolve, reject) => this.#held.push({ vertex, resolve, reject }));
  }

  protected override onTick(): void {
    if (this.#held.length === 0 || this.#leading()) return;
    const held = this.#held;
    this.#held = [];
    for (const { vertex, resolve, reject } of held) super.accept(vertex)?.then(resolve, reject);
  }

  /** What it held dies with the process. */
  protected override onCrash(): void {
    this.#held = [];
  }

  #leading(): boolean {
    return this.host.instance?.engine.isLeader() ?? false;
  }
}
