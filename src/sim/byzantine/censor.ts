/**
 * The censoring primary: it orders client vertices as usual, except about a quarter of them
 * (those whose hash starts with a byte below 64), which it never puts in a batch. Everything
 * else it orders promptly, so the backups see steady progress on their client vertices: only
 * the bound on how long any one vertex may wait (`CLIENT_WAIT_BOUND_TIMEOUTS`) deposes it
 * while the load goes on, and the run checks that the withheld vertices are finalized in time
 * once it is.
 */
import type { Vertex } from '../../protocol/index.ts';
import { hashKey } from '../../protocol/state.ts';
import { decodeMessage } from '../../wire/index.ts';
import { ByzantineNode } from './byzantine-node.ts';

function withheld(vertex: Vertex): boolean {
  return vertex.hash[0]! < 64;
}

export class Censor extends ByzantineNode {
  readonly strategy = 'censor';

  override receive(from: number, frame: Uint8Array): void {
    const decoded = decodeMessage(frame, this.context.limits);
    if (decoded.ok && decoded.message.kind === 'request') this.#withhold(decoded.message.vertices);
    super.receive(from, frame);
  }

  override propose(vertices: readonly Vertex[]): boolean {
    this.#withhold(vertices);
    return super.propose(vertices);
  }

  /**
   * Its core takes a vertex it believes it has proposed already for a duplicate and leaves it
   * out of its queue, so its batches (and its votes on them) are consistent without it. A view
   * change clears the mark along with the rest of the primary's proposals.
   */
  #withhold(vertices: readonly Vertex[]): void {
    for (const vertex of vertices)
      if (withheld(vertex)) this.state.proposedHashes.set(hashKey(vertex), Number.MAX_SAFE_INTEGER);
  }
}
