/**
 * What the engine needs from durable storage. Small on purpose, so that an LMDB store (the
 * default for nodes) and the in-memory store (tests, benchmarks) implement the same thing:
 *
 * - apply a step's writes atomically and durably, in call order, and say when they are durable
 *   with a receipt (only a store mints receipts: they open the effects that wait on the writes);
 * - load what a replica restarts from;
 * - read finalized batches back, synchronously, to serve state transfer.
 *
 * Stores are expected to group-commit: writes applied while a flush is under way share the next
 * flush, so a burst of steps costs one sync, not one per step.
 */
import type { DurableReceipt, DurableSnapshot, DurableWrite, FinalizedLog } from '../protocol/index.ts';

export interface Store extends FinalizedLog {
  /**
   * Makes `writes` durable, all or none, after every write of earlier calls. Resolves with a
   * receipt for write ordinal `through` (the replica's `writeOrdinal` after the step) once they
   * are; rejects if they cannot be, after which the caller must stop.
   */
  apply(writes: readonly DurableWrite[], through: number): Promise<DurableReceipt>;
  /**
   * Drops finalized records at or below `sequence` (after earlier writes). Peers further behind
   * can no longer catch up from this replica; the engine keeps `logRetention` sequences.
   */
  pruneFinalized(sequence: number): Promise<void>;
  /**
   * The durable state to restore a replica from, with (at least) the latest `recentFinalized`
   * finalized records in sequence order.
   */
  load(recentFinalized: number): Promise<DurableSnapshot>;
  /** Releases the store's resources; writes already applied stay durable. */
  close(): Promise<void>;
}
