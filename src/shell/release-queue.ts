/**
 * Holds each step's sealed effects until the storage layer reports its writes durable, then
 * releases them in step order. A step with no writes of its own still waits for the writes of
 * earlier steps: its messages may depend on them.
 */
import { type AfterPersist, type DurableReceipt, durableReceipt, type Released } from '../protocol/index.ts';

/**
 * The effects of steps whose writes are not yet durable, in step order: `push` holds each step's
 * sealed effects, and `durable` releases them once a receipt covers their writes.
 */
export class ReleaseQueue {
  #sealed: AfterPersist<Released>[] = [];
  /** Nothing written yet is trivially durable. */
  #receipt: DurableReceipt = durableReceipt(0);

  /** Ordinal of the last durable write. */
  get durableThrough(): number {
    return this.#receipt.through;
  }

  /** Steps whose effects are still held. */
  get size(): number {
    return this.#sealed.length;
  }

  /** Queues a step's sealed effects; returns what can be released now (in order). */
  push(sealed: AfterPersist<Released>): Released[] {
    this.#sealed.push(sealed);
    return this.#drain();
  }

  /** Records that writes through `receipt.through` are durable; returns what that releases. */
  durable(receipt: DurableReceipt): Released[] {
    if (receipt.through > this.#receipt.through) this.#receipt = receipt;
    return this.#drain();
  }

  /** Drops everything held (the process crashed: nothing sealed was ever sent). */
  clear(): void {
    this.#sealed = [];
  }

  /** Starts over for a replica restored from its store: its write ordinals start at zero again. */
  reset(): void {
    this.#sealed = [];
    this.#receipt = durableReceipt(0);
  }

  #drain(): Released[] {
    const out: Released[] = [];
    const receipt = this.#receipt;
    let i = 0;
    while (i < this.#sealed.length && this.#sealed[i]!.requires <= receipt.through) {
      out.push(this.#sealed[i]!.open(receipt));
      i++;
    }
    if (i > 0) this.#sealed.splice(0, i);
    return out;
  }
}
