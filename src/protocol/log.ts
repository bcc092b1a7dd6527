/**
 * The message log at one sequence number (Castro and Liskov 4.2): the accepted PRE-PREPARE
 * and the votes of the current view, the highest-view prepared certificate, and the commit
 * certificate once one exists.
 */
import { toHex } from '../crypto/digest.ts';
import type { Commit, Draft, Message, PrePrepare, Prepare, PreparedCertificate } from './messages.ts';
import { type Batch, type Digest, NULL_BATCH_DIGEST, type ReplicaId } from './types.ts';

/** The hex key of the null batch's digest. */
export const NULL_DIGEST_KEY = toHex(NULL_BATCH_DIGEST);

/** A commit certificate: a quorum of COMMITs for one (view, sequence, digest). */
export interface CommitCertificate {
  readonly view: number;
  readonly digest: Digest;
  readonly digestKey: string;
  readonly commits: readonly Commit[];
}

export interface LogEntry {
  readonly sequence: number;
  /** The view that `prePrepare`, `prepares` and `commits` belong to. */
  view: number;
  /** The PRE-PREPARE accepted in `view`; a draft (empty signature) until the primary's own copy is signed. */
  prePrepare: PrePrepare | Draft<PrePrepare> | null;
  /** Hex of the accepted digest, or null. */
  digestKey: string | null;
  /** PREPAREs of `view`, by sender, whatever digest they carry (each sender counted once). */
  prepares: Map<ReplicaId, Prepare>;
  /** COMMITs of `view`, by sender. */
  commits: Map<ReplicaId, Commit>;
  /** Whether this replica has sent its COMMIT in `view`. */
  sentCommit: boolean;
  /** The highest-view prepared certificate this replica holds for the sequence. */
  prepared: PreparedCertificate | null;
  /** The commit certificate, once a quorum of COMMITs matched. */
  committed: CommitCertificate | null;
  /** The batch whose digest is `bodyKey`, if this replica has it. */
  batch: Batch | null;
  bodyKey: string | null;
  /**
   * Batches of other digests accepted at this sequence in earlier views, newest last, at most
   * {@link EARLIER_BODIES_MAX}. A NEW-VIEW may re-propose an older prepared batch after a
   * newer one was accepted here (its certificate came from a replica left out of the view
   * in between), and it is re-proposed without its body on the promise that the replicas that
   * prepared it still hold it. Keeping only the newest batch broke that promise: the older
   * one was then committed and could be executed nowhere (found by the simulator).
   */
  earlierBodies: Map<string, Batch>;
  /** The digest finalized here, once executed (checked against any later certificate). */
  executedKey: string | null;
}

export function createLogEntry(sequence: number, view: number): LogEntry {
  return {
    sequence,
    view,
    prePrepare: null,
    digestKey: null,
    prepares: new Map(),
    commits: new Map(),
    sentCommit: false,
    prepared: null,
    committed: null,
    batch: null,
    bodyKey: null,
    earlierBodies: new Map(),
    executedKey: null,
  };
}

/** Batches of earlier digests a log entry keeps (see `LogEntry.earlierBodies`). */
export const EARLIER_BODIES_MAX = 4;

/** Moves an entry into `view`: the votes of older views no longer count (4.4). */
export function resetEntryForView(entry: LogEntry, view: number): void {
  if (entry.view === view) return;
  entry.view = view;
  entry.prePrepare = null;
  entry.digestKey = null;
  entry.prepares = new Map();
  entry.commits = new Map();
  entry.sentCommit = false;
}

/**
 * Makes the batch for `digestKey` the entry's current one; the batch it replaces is kept among
 * the earlier ones (the oldest of those is dropped beyond {@link EARLIER_BODIES_MAX}).
 */
export function attachBody(entry: LogEntry, digestKey: string, batch: Batch): void {
  if (entry.bodyKey === digestKey) return;
  if (entry.bodyKey !== null && entry.batch !== null) {
    entry.earlierBodies.set(entry.bodyKey, entry.batch);
    if (entry.earlierBodies.size > EARLIER_BODIES_MAX)
      entry.earlierBodies.delete(entry.earlierBodies.keys().next().value!);
  }
  entry.earlierBodies.delete(digestKey);
  entry.batch = batch;
  entry.bodyKey = digestKey;
}

/** The batch with `digestKey`, if known: the null batch is always known. */
export function bodyFor(entry: LogEntry, digestKey: string): Batch | null {
  if (digestKey === NULL_DIGEST_KEY) return [];
  if (entry.bodyKey === digestKey) return entry.batch;
  return entry.earlierBodies.get(digestKey) ?? null;
}

/** Whether a message carries a real signature (a draft does not yet). */
export function isSigned<M extends Message>(message: M | Draft<M>): message is M {
  const signature = (message as { readonly signature?: Uint8Array }).signature;
  return signature !== undefined && signature.length > 0;
}
