/**
 * `engine.finalized({ from })` and `finalized({ after })`: the finalized stream from a place the
 * store still holds, then live, each vertex once and in the total order.
 *
 * An application that applies finalized vertices keeps its own position (the engine does not
 * deliver again what was finalized before a restart); after a restart, or after its
 * subscription overflowed, it resumes from that position. Vertices up to the last sequence the
 * engine has delivered are read back from the store, one finalized record at a time (so memory
 * holds one batch, however far back the replay starts); once the replay has caught up, the
 * iterator subscribes to the live stream in the same synchronous step in which it saw that it
 * had caught up. Deliveries are synchronous and in sequence order, so every later delivery is of
 * a higher sequence than the last one replayed: nothing is missed and nothing is seen twice.
 */
import { ArgumentError, CretoaiError } from '../errors.ts';
import type { FinalizedRecord } from '../protocol/index.ts';
import type { FinalizedVertex } from './finalized-stream.ts';

/** A place in the total order: the vertex at `position` of the batch finalized at `sequence`. */
export interface FinalizedPlace {
  readonly sequence: number;
  readonly position: number;
}

/** Options of `BftEngine.finalized()`. */
export interface FinalizedOptions {
  /**
   * Vertices a live subscriber may fall behind before it is dropped with a
   * SubscriberOverflowError. Default `finalizedBufferMax`.
   */
  readonly bufferMax?: number;
  /**
   * Start at this sequence (all of its vertices), replaying from the store what was finalized
   * before the call. Sequences start at 1. A sequence the engine has not reached yet is waited
   * for. Without `from` or `after` the stream starts with the next delivery.
   */
  readonly from?: number;
  /** Start after this place (exclusive), as `from` does: resume after the last vertex applied. */
  readonly after?: FinalizedPlace;
}

/** The replay cannot start or go on: the store no longer holds the sequence it needs. */
export class FinalizedHistoryError extends CretoaiError {
  override readonly name = 'FinalizedHistoryError';
  readonly code = 'pruned';
  /** The sequence the store no longer holds. */
  readonly sequence: number;

  constructor(sequence: number) {
    super(
      `sequence ${sequence} is no longer in this replica's store (it keeps logRetention finalized sequences); ` +
        'resume from a later sequence, or restore the application from a snapshot taken later',
    );
    this.sequence = sequence;
  }
}

/** What the replay reads: the store, the engine's delivery mark, and the live stream. */
export interface ReplaySource {
  /** The finalized record at `sequence`, or undefined if the store does not hold it. */
  finalizedAt(sequence: number): FinalizedRecord | undefined;
  /** The highest sequence the engine has delivered (to listeners and streams). */
  deliveredThrough(): number;
  /** A subscription to the live stream, from the next delivery on. */
  subscribe(): AsyncIterableIterator<FinalizedVertex>;
}

/**
 * The place the stream starts after, from the options.
 *
 * @throws ArgumentError for `from` that is not a positive whole number, an `after` whose fields are
 *   not whole numbers (`sequence` at least 0, `position` at least -1), or both options at once.
 */
export function startAfter(options: FinalizedOptions): FinalizedPlace {
  const { from, after } = options;
  if (from !== undefined && after !== undefined) {
    throw new ArgumentError('finalized(): give `from` or `after`, not both');
  }
  if (from !== undefined) {
    if (!Number.isSafeInteger(from) || from < 1) {
      throw new ArgumentError(`finalized(): from must be a sequence (a whole number from 1), got ${from}`);
    }
    return { sequence: from, position: -1 };
  }
  if (after !== undefined) {
    const { sequence, position } = after;
    if (!Number.isSafeInteger(sequence) || sequence < 0 || !Number.isSafeInteger(position) || position < -1) {
      throw new ArgumentError(
        `finalized(): after must be { sequence, position } of whole numbers, got ${JSON.stringify(after)}`,
      );
    }
    return { sequence, position };
  }
  throw new ArgumentError('finalized(): a replay needs `from` or `after`');
}

/** Whether `item` lies after `place` in the total order. */
function isAfter(item: FinalizedPlace, place: FinalizedPlace): boolean {
  return (
    item.sequence > place.sequence || (item.sequence === place.sequence && item.position > place.position)
  );
}

/** The iterator: store records first, then the live stream. */
class ReplayThenLive implements AsyncIterableIterator<FinalizedVertex> {
  readonly #source: ReplaySource;
  readonly #after: FinalizedPlace;
  /** The next sequence to read from the store. */
  #cursor: number;
  /** The current record's vertices not yet handed out. */
  #record: FinalizedRecord | null = null;
  #index = 0;
  #live: AsyncIterableIterator<FinalizedVertex> | null = null;
  #done = false;

  constructor(source: ReplaySource, after: FinalizedPlace) {
    this.#source = source;
    this.#after = after;
    // The cursor starts at `after`'s own sequence: its positions after `after.position` follow.
    this.#cursor = Math.max(1, after.sequence);
  }

  async next(): Promise<IteratorResult<FinalizedVertex>> {
    if (this.#done) return { value: undefined, done: true };
    if (this.#live === null) {
      // Read after the current synchronous step: a `finalized` listener that calls next() runs
      // in the middle of a delivery, where the mark already counts vertices not yet pushed.
      await Promise.resolve();
      if (this.#done) return { value: undefined, done: true };
      const replayed = this.#nextReplayed();
      if (replayed !== null) return { value: replayed, done: false };
    }
    // Caught up: the live subscription was made in the same synchronous step as the check.
    for (;;) {
      const result = await this.#live!.next();
      if (result.done || isAfter(result.value, this.#after)) return result;
    }
  }

  /** The next vertex from the store, or null after subscribing live (caught up). */
  #nextReplayed(): FinalizedVertex | null {
    for (;;) {
      const record = this.#record;
      if (record !== null) {
        while (this.#index < record.delivered.length) {
          const position = record.delivered[this.#index++]!;
          const place = { sequence: record.sequence, position };
          if (!isAfter(place, this.#after)) continue;
          const vertex = record.batch[position]!;
          return { vertex, hash: vertex.hash, sequence: record.sequence, position, view: record.view };
        }
        this.#record = null;
      }
      if (this.#cursor > this.#source.deliveredThrough()) {
        this.#live = this.#source.subscribe();
        return null;
      }
      const next = this.#source.finalizedAt(this.#cursor);
      if (next === undefined) {
        this.#done = true;
        throw new FinalizedHistoryError(this.#cursor);
      }
      this.#cursor++;
      this.#record = next;
      this.#index = 0;
    }
  }

  async return(): Promise<IteratorResult<FinalizedVertex>> {
    this.#done = true;
    this.#record = null;
    await this.#live?.return?.();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<FinalizedVertex> {
    return this;
  }
}

/**
 * The finalized stream after `after`: replayed from the store through the last delivered
 * sequence, then live. Throws (from `next()`) a {@link FinalizedHistoryError} when the store no
 * longer holds a sequence the replay needs.
 */
export function replayFinalized(
  source: ReplaySource,
  after: FinalizedPlace,
): AsyncIterableIterator<FinalizedVertex> {
  return new ReplayThenLive(source, after);
}
