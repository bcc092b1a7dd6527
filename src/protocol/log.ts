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
    executedKey: null,
  };
}

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

/** Records the batch for `digestKey` if the entry does not hold it yet. */
export function attachBody(entry: LogEntry, digestKey: string, batch: Batch): void {
  if (entry.bodyKey === digestKey) return;
  entry.batch = batch;
  entry.bodyKey = digestKey;
}

/** The batch with `digestKey`, if known: the null batch is always known. */
export function bodyFor(entry: LogEntry, digestKey: string): Batch | null {
  if (digestKey === NULL_DIGEST_KEY) return [];
  return entry.bodyKey === digestKey ? entry.batch : null;
}

/** Whether a message carries a real signature (a draft does not yet). */
export function isSigned<M extends Message>(message: M | Draft<M>): message is M {
  const signature = (message as { readonly signature?: Uint8Array }).signature;
  return signature !== undefined && signature.length > 0;
}
