/**
 * The ordered stream of finalized vertices, fanned out to any number of subscribers, each with
 * a bounded buffer. A subscriber that falls `bufferMax` vertices behind is dropped with a
 * {@link SubscriberOverflowError} (after it has read what was buffered) rather than growing
 * without bound or slowing consensus for everyone.
 */
import type { Digest, Vertex } from '../protocol/index.ts';
import { Fifo } from '../shell/fifo.ts';
import { SubscriberOverflowError } from './errors.ts';

/** A vertex in the total order: at `position` in the batch finalized at `sequence`. */
export interface FinalizedVertex {
  readonly vertex: Vertex;
  readonly hash: Digest;
  readonly sequence: number;
  /** Index among the vertices delivered at `sequence` (duplicates of earlier vertices are skipped). */
  readonly position: number;
  /** The view in which the batch was committed. */
  readonly view: number;
}

class Subscriber implements AsyncIterableIterator<FinalizedVertex> {
  readonly #buffer = new Fifo<FinalizedVertex>();
  readonly #bufferMax: number;
  readonly #unsubscribe: (subscriber: Subscriber) => void;
  #waiter: ((result: IteratorResult<FinalizedVertex>) => void) | null = null;
  #failWaiter: ((error: Error) => void) | null = null;
  #ended = false;
  #error: Error | null = null;

  constructor(bufferMax: number, unsubscribe: (subscriber: Subscriber) => void) {
    this.#bufferMax = bufferMax;
    this.#unsubscribe = unsubscribe;
  }

  push(item: FinalizedVertex): void {
    if (this.#ended) return;
    if (this.#waiter !== null) {
      const waiter = this.#waiter;
      this.#clearWaiters();
      waiter({ value: item, done: false });
      return;
    }
    if (this.#buffer.length >= this.#bufferMax) {
      this.#error = new SubscriberOverflowError(
        `a finalized() subscriber fell ${this.#bufferMax} vertices behind and was dropped`,
      );
      this.#ended = true;
      this.#unsubscribe(this);
      return;
    }
    this.#buffer.push(item);
  }

  /** No more vertices will come: the engine stopped. */
  end(error: Error | null = null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.#waiter !== null) {
      const waiter = this.#waiter;
      const fail = this.#failWaiter!;
      this.#clearWaiters();
      if (error === null) waiter({ value: undefined, done: true });
      else fail(error);
    }
  }

  next(): Promise<IteratorResult<FinalizedVertex>> {
    const item = this.#buffer.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.#ended) {
      if (this.#error !== null) {
        const error = this.#error;
        // Report the error once; after it the iterator is done.
        this.#error = null;
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#failWaiter = reject;
    });
  }

  return(): Promise<IteratorResult<FinalizedVertex>> {
    this.#ended = true;
    this.#error = null;
    this.#buffer.drain();
    this.#unsubscribe(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<FinalizedVertex> {
    return this;
  }

  #clearWaiters(): void {
    this.#waiter = null;
    this.#failWaiter = null;
  }
}

export class FinalizedStream {
  readonly #subscribers = new Set<Subscriber>();
  #ended = false;

  get subscribers(): number {
    return this.#subscribers.size;
  }

  subscribe(bufferMax: number): AsyncIterableIterator<FinalizedVertex> {
    const subscriber = new Subscriber(bufferMax, (s) => this.#subscribers.delete(s));
    if (this.#ended) subscriber.end();
    else this.#subscribers.add(subscriber);
    return subscriber;
  }

  push(item: FinalizedVertex): void {
    for (const subscriber of this.#subscribers) subscriber.push(item);
  }

  /** Ends every subscription (the engine stopped; with an error, it halted). */
  end(error: Error | null = null): void {
    this.#ended = true;
    for (const subscriber of this.#subscribers) subscriber.end(error);
    this.#subscribers.clear();
  }
}
