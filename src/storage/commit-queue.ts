/**
 * The queue of a group-committing store (see `Store`): calls to `apply` and `pruneFinalized`
 * wait here, a flush takes all that waits as one group, and once the group is durable its calls
 * settle in call order. The LMDB store (`lmdb/write-path.ts`), the memory store and the
 * simulator's store commit through it; each decides when a flush starts and how a group
 * becomes durable.
 */
import {
  type DurableImage,
  type DurableReceipt,
  type DurableWrite,
  durableReceipt,
} from '../protocol/index.ts';

/** A queued call waiting for its group's commit. */
export type QueuedOperation =
  | {
      readonly kind: 'apply';
      readonly writes: readonly DurableWrite[];
      readonly through: number;
      readonly resolve: (receipt: DurableReceipt) => void;
      readonly reject: (error: unknown) => void;
    }
  | {
      readonly kind: 'prune';
      readonly sequence: number;
      readonly resolve: () => void;
      readonly reject: (error: unknown) => void;
    };

export class CommitQueue {
  #queued: QueuedOperation[] = [];
  /** Called after each call queued: the store starts a flush unless one is under way. */
  readonly #onQueued: () => void;

  constructor(onQueued: () => void) {
    this.#onQueued = onQueued;
  }

  /** Calls waiting for the next flush. */
  get length(): number {
    return this.#queued.length;
  }

  /**
   * Queues `writes` for the next group; the receipt comes once the group is durable. With a
   * `refusal` (the store takes no more writes), rejects with it instead.
   */
  apply(writes: readonly DurableWrite[], through: number, refusal: Error | null): Promise<DurableReceipt> {
    return new Promise((resolve, reject) => {
      if (refusal !== null) {
        reject(refusal);
        return;
      }
      this.#queued.push({ kind: 'apply', writes, through, resolve, reject });
      this.#onQueued();
    });
  }

  /** Queues the removal of the finalized records up to `sequence`, unless `refusal`. */
  pruneFinalized(sequence: number, refusal: Error | null): Promise<void> {
    return new Promise((resolve, reject) => {
      if (refusal !== null) {
        reject(refusal);
        return;
      }
      this.#queued.push({ kind: 'prune', sequence, resolve, reject });
      this.#onQueued();
    });
  }

  /** Takes everything queued: the group of the flush that starts now. */
  take(): QueuedOperation[] {
    const group = this.#queued;
    this.#queued = [];
    return group;
  }

  /** A failed commit: the calls of `group` and every call queued since reject with `error`. */
  fail(group: readonly QueuedOperation[], error: unknown): void {
    const refused = [...group, ...this.#queued];
    this.#queued = [];
    for (const operation of refused) operation.reject(error);
  }
}

/** Settles the calls of a durable group, in call order. Returns how many were `apply` calls. */
export function settleGroup(group: readonly QueuedOperation[]): number {
  let applied = 0;
  for (const operation of group) {
    if (operation.kind === 'apply') {
      applied++;
      operation.resolve(durableReceipt(operation.through));
    } else operation.resolve();
  }
  return applied;
}

/** Makes a group durable in the reference image, as one commit. */
export function applyGroup(image: DurableImage, group: readonly QueuedOperation[]): void {
  for (const operation of group) {
    if (operation.kind === 'apply') {
      for (const write of operation.writes) image.apply(write);
    } else {
      for (const sequence of image.finalized.keys())
        if (sequence <= operation.sequence) image.finalized.delete(sequence);
    }
  }
}
