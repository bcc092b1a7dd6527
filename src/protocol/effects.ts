/**
 * What one step of the replica produces, as data (etcd-io/raft's `Ready`).
 *
 * The rule "persist before sending" is carried by the types: the messages and deliveries of a
 * step are sealed in an {@link AfterPersist} that only a {@link DurableReceipt} covering the
 * step's writes opens. A receipt is minted by the storage layer once writes are durable, so a
 * driver cannot release a vote before the state that justifies it is on disk.
 */
import type { EpochRecord } from './epochs.ts';
import { InvariantError } from './errors.ts';
import type {
  CheckpointCertificate,
  Commit,
  Draft,
  Message,
  NewView,
  PrePrepare,
  PreparedCertificate,
  SignedMessage,
  ViewTimeout,
} from './messages.ts';
import type { Batch, Digest, ReplicaId, Vertex } from './types.ts';

// ---------------------------------------------------------------------------------------------
// Durable writes

/**
 * A finalized batch as stored: the raw batch, its commit certificate, the chain digest after
 * it, and which of its vertices were delivered. Served to peers by state transfer (all but
 * `delivered`, which every replica derives alike); the last `dedupHorizonSequences` of them
 * rebuild a restarted replica's memory of what it delivered.
 */
export interface FinalizedRecord {
  readonly sequence: number;
  readonly view: number;
  readonly digest: Digest;
  readonly batch: Batch;
  readonly commits: readonly Commit[];
  readonly chainDigest: Digest;
  /**
   * The positions in `batch` of the vertices delivered (ascending): all of them, but for any
   * finalized before, expired, or valid too far ahead (see `isDeliverableAt`).
   */
  readonly delivered: readonly number[];
}

/** One write the shell must make durable, in order, before releasing the step's effects. */
export type DurableWrite =
  /**
   * An epoch of the history (see `epochs.ts`): the one a request closed, then the one it opens,
   * in the step that finalizes the request.
   */
  | { readonly kind: 'epoch'; readonly record: EpochRecord }
  /** The view the replica is in (active) or changing to, with the NEW-VIEW that installed it. */
  | {
      readonly kind: 'view';
      /**
       * The epoch the view belongs to (views are numbered within an epoch). A replica restarts
       * in it, so it never votes in an epoch it had not reached before the crash.
       */
      readonly epoch: number;
      readonly view: number;
      readonly active: boolean;
      /** The accepted NEW-VIEW, or this replica's own unsigned one as new primary. */
      readonly newView: NewView | Draft<NewView> | null;
      /**
       * The timeout certificate the replica left its previous view with, kept so that after a
       * restart it can still show a replica left behind why to follow (empty once active).
       */
      readonly timeoutCertificate: readonly ViewTimeout[];
    }
  /** The PRE-PREPARE accepted (or, as primary, assigned) at a sequence, with its batch if known. */
  | {
      readonly kind: 'pre-prepare';
      readonly sequence: number;
      readonly prePrepare: PrePrepare | Draft<PrePrepare>;
      readonly batch: Batch | null;
    }
  /** The highest-view prepared certificate at a sequence: it must survive a crash (4.4). */
  | { readonly kind: 'prepared'; readonly sequence: number; readonly certificate: PreparedCertificate }
  /** The stable checkpoint with its proof. */
  | { readonly kind: 'stable'; readonly certificate: CheckpointCertificate }
  /** A batch finalized at its sequence. */
  | { readonly kind: 'finalized'; readonly record: FinalizedRecord }
  /**
   * Client vertices this replica accepted: held durably until they expire, so that a replica
   * that crashes proposes them again when it restarts (an acknowledgment survives a crash).
   */
  | { readonly kind: 'accepted'; readonly vertices: readonly Vertex[] }
  /**
   * Pre-prepare and prepared records at or below `through` may be deleted, and accepted
   * vertices valid through at most `through` (every such sequence is final: each one is final
   * or expired).
   */
  | { readonly kind: 'truncate'; readonly through: number };

declare const durableBrand: unique symbol;

/** Proof from the storage layer that every write up to ordinal `through` is durable. */
export interface DurableReceipt {
  readonly [durableBrand]: true;
  readonly through: number;
}

/**
 * Mints a receipt. Only storage implementations call this, after the writes through
 * `through` have been synced.
 */
export function durableReceipt(through: number): DurableReceipt {
  return { through } as DurableReceipt;
}

/** Effects sealed until the writes through `requires` are durable. */
export class AfterPersist<T> {
  readonly requires: number;
  readonly #payload: T;
  constructor(requires: number, payload: T) {
    this.requires = requires;
    this.#payload = payload;
  }
  /** Opens the seal; throws if the receipt does not cover the writes these effects depend on. */
  open(receipt: DurableReceipt): T {
    if (receipt.through < this.requires) {
      throw new InvariantError(
        `effects need writes through ${this.requires} durable, receipt covers ${receipt.through}`,
      );
    }
    return this.#payload;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages out, batches delivered

/** Where a message goes: one replica, every replica including this one, or every other one. */
export type Destination = ReplicaId | 'all' | 'others';

/**
 * A message to send. A `draft` is the replica's own message: the shell signs it (and, for a
 * NEW-VIEW, each nested PRE-PREPARE whose signature is empty) and, when the destination is
 * 'all', hands the signed copy back to this replica as input. A `relay` is a message signed by
 * someone else (or already signed by this replica) that is passed on unchanged.
 */
export type Outbound =
  | { readonly to: Destination; readonly draft: Draft }
  | { readonly to: Destination; readonly relay: Message };

/** A batch finalized at `sequence`: hand `vertices` to the application, in this order. */
export interface Delivery {
  readonly sequence: number;
  readonly view: number;
  readonly digest: Digest;
  /** The batch's vertices that are delivered (see `FinalizedRecord.delivered`), in batch order. */
  readonly vertices: readonly Vertex[];
  /** `vertices`' hashes as map keys (lower-case hex), index for index. */
  readonly keys: readonly string[];
  /** `vertices`' positions in the batch, index for index: a vertex's place is (sequence, position). */
  readonly positions: readonly number[];
  /**
   * Vertices this replica accepted from clients that can no longer be finalized (their
   * validThrough is this sequence): the shell tells their submitters, who may submit the payload
   * again as a new vertex without risk of a double.
   */
  readonly expired: readonly string[];
  readonly chainDigest: Digest;
  readonly commits: readonly Commit[];
}

/** A peer asked for finalized entries; the shell answers from its store (see `state-reply.ts`). */
export interface StateServeRequest {
  readonly to: ReplicaId;
  /** The epoch the reply names: it carries only entries whose commit certificates are of it. */
  readonly epoch: number;
  /** This replica's id in that epoch, which signs the reply (ids are per epoch). */
  readonly signer: ReplicaId;
  readonly fromSequence: number;
  readonly toSequence: number;
}

/** The sealed part of a step's output. */
export interface Released {
  readonly messages: readonly Outbound[];
  readonly deliveries: readonly Delivery[];
  /**
   * Client vertices (keys) this replica holds durably: they survive a crash, so their
   * submitters may be told they were accepted. Sealed with the writes that record them.
   */
  readonly acknowledged: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Verdicts on input, evidence, events

/** Why a message was ignored: harmless (stale, duplicate, early), nobody is blamed. */
export type IgnoreReason =
  | 'duplicate'
  | 'other-epoch'
  | 'not-member'
  | 'stale-view'
  | 'future-view'
  | 'view-changing'
  | 'below-watermark'
  | 'above-watermark'
  | 'missing-batch'
  | 'rate-limited'
  | 'not-needed'
  | 'full'
  | 'oversized';

/** Why a message was rejected: provably wrong; `offender` is blamed. */
export type RejectReason =
  | 'equivocation'
  | 'not-primary'
  | 'primary-prepare'
  | 'digest-mismatch'
  | 'invalid-checkpoint'
  | 'invalid-prepared-certificate'
  | 'invalid-view-change'
  | 'invalid-new-view'
  | 'invalid-commit-certificate'
  | 'invalid-request';

/** The outcome of one input message (Lodestar's ACCEPT / IGNORE / REJECT). */
export type Verdict =
  | { readonly outcome: 'accepted' }
  | { readonly outcome: 'ignored'; readonly reason: IgnoreReason }
  | { readonly outcome: 'rejected'; readonly reason: RejectReason; readonly offender: ReplicaId };

/** Two validly signed, conflicting messages from one replica: anyone can check it. */
export interface EquivocationEvidence {
  readonly kind: 'equivocation';
  readonly replica: ReplicaId;
  readonly first: SignedMessage;
  readonly second: SignedMessage;
}

/** Something the replica suspects but cannot prove (a primary that made no progress). */
export interface Suspicion {
  readonly kind: 'timeout';
  readonly replica: ReplicaId;
  readonly view: number;
}

/** Notable transitions, for metrics and logs. */
export type ReplicaEvent =
  | {
      readonly kind: 'view-change-started';
      readonly view: number;
      readonly reason: 'timeout' | 'joined' | 'new-view-timeout';
    }
  | { readonly kind: 'view-entered'; readonly view: number; readonly primary: ReplicaId }
  | { readonly kind: 'checkpoint-stable'; readonly sequence: number }
  /** The replica switched to `epoch`, which starts at `start` with `replicaCount` validators. */
  | {
      readonly kind: 'epoch-started';
      readonly epoch: number;
      readonly replicaCount: number;
      readonly start: number;
    }
  /**
   * The replica is not a validator of `epoch`, which it just reached: it votes no more. `pending`
   * are the client vertices it held, not final yet: the shell hands them to the validators of
   * `epoch` (the others that held them may have left too).
   */
  | { readonly kind: 'left-validator-set'; readonly epoch: number; readonly pending: readonly Vertex[] }
  /**
   * A learner reached the epoch it was to join, and the request that opened it is not the one its
   * operator gave it: it takes no part in it (see `learner.ts`).
   */
  | { readonly kind: 'join-refused'; readonly epoch: number }
  /** A request executed at `requestSequence` closes `epoch` at `end`. */
  | {
      readonly kind: 'epoch-closing';
      readonly epoch: number;
      readonly end: number;
      readonly requestSequence: number;
    }
  | {
      readonly kind: 'state-transfer-requested';
      readonly from: number;
      readonly to: number;
      readonly peer: ReplicaId;
    }
  | { readonly kind: 'proposed'; readonly sequence: number; readonly vertices: number };

/**
 * A client vertex the replica would not hold: it could not be delivered at the next sequence,
 * having `expired` (its validThrough is final already) or being valid further ahead than the
 * replicas remember deliveries (`too-far`).
 */
export interface RefusedVertex {
  readonly key: string;
  readonly reason: 'expired' | 'too-far';
}

/** Everything one step produced. */
export interface Ready {
  /** Writes to make durable, in order. Ordinals run on from the previous step's. */
  readonly writes: readonly DurableWrite[];
  /** Messages and deliveries: released once writes through `released.requires` are durable. */
  readonly released: AfterPersist<Released>;
  /**
   * Messages that depend on no write, sent at once: REQUESTs to the primary (unsigned copies of
   * client vertices, to be ordered). A crash that loses this step's writes loses nothing by their
   * having left: the primary holds or orders the vertices, and the submitter has not been told
   * they were accepted (that is sealed with the write that records them).
   */
  readonly immediate: readonly Outbound[];
  /**
   * The drafts to sign among the sealed messages. The shell may sign them while the writes sync:
   * a signature is computation, sends nothing, and the signed message still leaves only when
   * `released` opens.
   */
  readonly drafts: readonly Draft[];
  /** State-transfer requests to answer from the store (reads only durable data; not sealed). */
  readonly serveState: readonly StateServeRequest[];
  /** The verdict on the input message, or null for other inputs. */
  readonly verdict: Verdict | null;
  readonly evidence: readonly EquivocationEvidence[];
  readonly suspicions: readonly Suspicion[];
  readonly events: readonly ReplicaEvent[];
  /** Vertices of a `propose` input that were not taken, and why (the others were). */
  readonly refused: readonly RefusedVertex[];
}
