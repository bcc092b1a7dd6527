/**
 * Validators of an earlier epoch that are not validators of this one: removed ones that fell
 * behind before they saw the hand-over. The core numbers peers in the current epoch, where such
 * a node has no id, so the core cannot answer it; but it must still learn that its epoch ended
 * (docs/reconfiguration.md, "Leaving"), or it waits forever as a validator of a set that moved
 * on. The engine answers it what the core would answer a member still in that epoch
 * (`onOtherEpoch`): a STATE-REQUEST of a closed epoch with that epoch's history from the store,
 * signed under this node's id in it, and a STATUS below the hand-over with the hand-over
 * certificate. At most one answer per node and tick, as the core rate-limits its peers.
 *
 * A node that left also hands over the client vertices it held (a held REQUEST, sent once as it
 * leaves): this node adopts them as its own, as the core adopts those it held for a peer that
 * left (`remapSources`), so that an acknowledged vertex whose holders all left still becomes
 * final. What it may cost is bounded by the engine's pending-vertex limit.
 */
import type {
  Checkpoint,
  Draft,
  Message,
  ReplicaState,
  StateReply,
  StateServeRequest,
  Vertex,
} from '../protocol/index.ts';
import { stateServeRange } from '../protocol/index.ts';
import type { NodeId } from '../transport/transport.ts';
import type { Roster } from './epoch-roster.ts';

export interface FormerValidatorsOptions {
  readonly nodeId: NodeId;
  readonly state: () => ReplicaState;
  readonly rosterOf: (epoch: number) => Roster | undefined;
  /** The STATE-REPLY this node would send for `request` (within a frame), or null. */
  readonly stateReply: (request: StateServeRequest) => Draft<StateReply> | null;
  /** Signs `draft` and sends it to `node`. */
  readonly signAndSend: (node: NodeId, draft: Draft<StateReply>) => void;
  /** Sends a message signed by another replica to `node`. */
  readonly relay: (node: NodeId, message: Checkpoint) => void;
  /** Proposes `vertices` as this node's own. */
  readonly adopt: (vertices: readonly Vertex[]) => void;
}

export class FormerValidators {
  readonly #options: FormerValidatorsOptions;
  /** The tick each former validator was last answered at. */
  readonly #answered = new Map<NodeId, number>();

  constructor(options: FormerValidatorsOptions) {
    this.#options = options;
  }

  /** Whether `node` was a validator of an epoch before the current one. */
  isFormer(node: NodeId): boolean {
    const state = this.#options.state();
    for (let epoch = state.epoch - 1; epoch >= 0; epoch--)
      if (this.#options.rosterOf(epoch)?.replicaOf.has(node)) return true;
    return false;
  }

  /**
   * Answers `message` (its signatures checked with its epoch's keys) from former validator
   * `from`, if it is one the core would answer; returns whether it did.
   */
  answer(from: NodeId, message: Message): boolean {
    const state = this.#options.state();
    if (message.kind === 'request') {
      if (!state.member || !message.hold) return false;
      this.#options.adopt(message.vertices);
      return true;
    }
    if (message.kind !== 'state-request' && message.kind !== 'status') return false;
    if (!state.member || message.epoch >= state.epoch) return false;
    // The signer must be the node the link names, in the epoch the message belongs to.
    const roster = this.#options.rosterOf(message.epoch);
    if (roster?.nodes[message.replica] !== from) return false;
    if (this.#answered.get(from) === state.now) return false;
    if (message.kind === 'state-request') {
      const range = message.fromSequence < 1 ? null : stateServeRange(state, message);
      const signer =
        range === null ? undefined : this.#options.rosterOf(range.epoch)?.replicaOf.get(this.#options.nodeId);
      if (range === null || signer === undefined) return false;
      const reply = this.#options.stateReply({
        to: message.replica,
        epoch: range.epoch,
        signer,
        fromSequence: message.fromSequence,
        toSequence: range.toSequence,
      });
      if (reply === null) return false;
      this.#answered.set(from, state.now);
      this.#options.signAndSend(from, reply);
      return true;
    }
    const handover = state.handover;
    if (
      handover?.certificate == null ||
      message.epoch !== handover.epoch ||
      message.stableSequence >= handover.end
    )
      return false;
    this.#answered.set(from, state.now);
    for (const checkpoint of handover.certificate.proof) this.#options.relay(from, checkpoint);
    return true;
  }

  /** Forgets the nodes answered (bounded by the validators of the epochs known). */
  clear(): void {
    this.#answered.clear();
  }
}
