/**
 * The protocol's messages (Castro and Liskov, "Practical Byzantine Fault Tolerance", OSDI 1999,
 * section 4), as plain immutable data. Every message but REQUEST is signed by the replica named
 * in `replica`; the wire layer defines the bytes that signature covers. A REQUEST is
 * authenticated by the link it arrives on instead (see {@link Request}).
 *
 * Messages reach the protocol core only after the shell has decoded them and verified every
 * signature they carry (including the ones nested inside certificates). The core still checks
 * everything else: who may send what, quorum sizes, digests, views and sequence numbers.
 */
import type { Batch, Digest, ReplicaId, Vertex } from './types.ts';

/** Fields shared by every signed message. */
export interface SignedFields {
  /**
   * The epoch (validator set) the message belongs to: its signature is checked against that
   * epoch's keys, and its votes count toward that epoch's quorums only. A certificate's nested
   * messages name the same epoch as the certificate. See docs/reconfiguration.md.
   */
  readonly epoch: number;
  /** The replica that signed the message (not necessarily the one that relayed it). */
  readonly replica: ReplicaId;
  /** The signature over the message's sign-bytes (see `wire/sign-bytes.ts`). */
  readonly signature: Uint8Array;
}

/**
 * PRE-PREPARE: the primary of `view` orders the batch with `digest` at `sequence`.
 * The signature covers (view, sequence, digest) only, so the same signed header travels with
 * its batch in the normal case and without it inside certificates and NEW-VIEW messages.
 */
export interface PrePrepare extends SignedFields {
  readonly kind: 'pre-prepare';
  readonly view: number;
  readonly sequence: number;
  readonly digest: Digest;
  /** The ordered batch, or null where only the signed header is carried. */
  readonly batch: Batch | null;
}

/** PREPARE: a backup accepted the PRE-PREPARE for (view, sequence, digest). */
export interface Prepare extends SignedFields {
  readonly kind: 'prepare';
  readonly view: number;
  readonly sequence: number;
  readonly digest: Digest;
}

/** COMMIT: a replica holds a prepared certificate for (view, sequence, digest). */
export interface Commit extends SignedFields {
  readonly kind: 'commit';
  readonly view: number;
  readonly sequence: number;
  readonly digest: Digest;
}

/** CHECKPOINT: the replica's chain digest after finalizing every sequence up to `sequence`. */
export interface Checkpoint extends SignedFields {
  readonly kind: 'checkpoint';
  readonly sequence: number;
  readonly stateDigest: Digest;
}

/**
 * A quorum of matching CHECKPOINT messages: proof that `sequence` is stable.
 * The genesis certificate (sequence 0, the genesis digest) needs no proof.
 */
export interface CheckpointCertificate {
  readonly sequence: number;
  readonly stateDigest: Digest;
  readonly proof: readonly Checkpoint[];
}

/**
 * A prepared certificate: the primary's PRE-PREPARE header (no batch) and quorum - 1 matching
 * PREPAREs from distinct backups. Castro and Liskov 4.4 call this the P set entry.
 */
export interface PreparedCertificate {
  readonly prePrepare: PrePrepare;
  readonly prepares: readonly Prepare[];
}

/**
 * VIEW-CHANGE to `view`: the sender's stable checkpoint with its proof, and its highest-view
 * prepared certificate for every sequence above that checkpoint.
 */
export interface ViewChange extends SignedFields {
  readonly kind: 'view-change';
  readonly view: number;
  readonly checkpoint: CheckpointCertificate;
  readonly prepared: readonly PreparedCertificate[];
}

/**
 * NEW-VIEW for `view`: a quorum of VIEW-CHANGE messages and the PRE-PREPAREs (headers, signed
 * by the new primary) that they determine, null batches filling the gaps. Every replica
 * recomputes the PRE-PREPAREs from the VIEW-CHANGEs and rejects a NEW-VIEW that differs.
 */
export interface NewView extends SignedFields {
  readonly kind: 'new-view';
  readonly view: number;
  readonly viewChanges: readonly ViewChange[];
  readonly prePrepares: readonly PrePrepare[];
}

/**
 * REQUEST: vertices a replica received from clients, sent to the primary to be ordered.
 *
 * Not signed. It carries client data that no replica vouches for (a client may submit the same
 * vertices to any replica), it never enters a certificate or evidence, and the core accepts it
 * only from the link of the replica it names, which the transport's handshake authenticated and
 * whose every frame the transport seals. A signature would prove nothing more, and it costs an
 * ML-DSA-87 signing on the sender and a check on the primary for each REQUEST, behind the
 * backup's votes: forwarded vertices waited for it (the figures are in docs/benchmarks.md).
 */
export interface Request {
  readonly kind: 'request';
  /** The replica that forwards the vertices: the sender of the link it arrives on. */
  readonly replica: ReplicaId;
  readonly vertices: readonly Vertex[];
  /**
   * The sender acknowledges its clients only once other replicas hold the vertices too: the
   * receiver writes them to its store, answers HELD, and proposes them itself if they are not
   * final in time (see `requests.ts`).
   */
  readonly hold: boolean;
}

/**
 * HELD: the sender holds these vertices durably (or has finalized them) on behalf of the
 * replica that asked with a REQUEST marked `hold`. Unsigned, for REQUEST's reasons: it only
 * tells one peer when to acknowledge its own clients, and the link says who sent it.
 */
export interface Held {
  readonly kind: 'held';
  readonly replica: ReplicaId;
  readonly hashes: readonly Digest[];
}

/**
 * STATUS: where the sender stands. A replica that has made no progress for a while sends it;
 * peers answer with what the sender is missing (PBFT's retransmission by status messages).
 */
export interface Status extends SignedFields {
  readonly kind: 'status';
  /** The view the sender is in, or is changing to when `viewActive` is false. */
  readonly view: number;
  readonly viewActive: boolean;
  readonly lastExecuted: number;
  readonly stableSequence: number;
}

/** STATE-REQUEST: the sender asks for finalized batches in [fromSequence, toSequence]. */
export interface StateRequest extends SignedFields {
  readonly kind: 'state-request';
  readonly fromSequence: number;
  readonly toSequence: number;
}

/**
 * A finalized batch with its commit certificate: a quorum of COMMITs for (view, sequence,
 * digest(batch)). The certificate makes the entry verifiable on its own, so state transfer
 * needs no trust in the replica that serves it.
 */
export interface FinalizedEntry {
  readonly sequence: number;
  readonly view: number;
  readonly batch: Batch;
  readonly commits: readonly Commit[];
}

/** STATE-REPLY: consecutive finalized entries starting at the requested sequence. */
export interface StateReply extends SignedFields {
  readonly kind: 'state-reply';
  readonly entries: readonly FinalizedEntry[];
}

/**
 * VIEW-TIMEOUT: the sender gives up on `view` (and on every view below it): its timer in that
 * view expired, or the view's NEW-VIEW did not come in time. It does not leave the view by
 * sending it; a replica leaves a view only with a quorum of these for it or a later view (a
 * timeout certificate), so that no replica leaves alone (see `view-timeouts.ts`).
 */
export interface ViewTimeout extends SignedFields {
  readonly kind: 'view-timeout';
  readonly view: number;
}

/** Every message replicas exchange. */
export type Message =
  | PrePrepare
  | Prepare
  | Commit
  | Checkpoint
  | ViewChange
  | NewView
  | Request
  | Held
  | Status
  | StateRequest
  | StateReply
  | ViewTimeout;

/** The discriminant of {@link Message}. */
export type MessageKind = Message['kind'];

/** Every message kind, in wire-id order (see `wire/`). Never reorder or reuse an entry. */
export const MESSAGE_KINDS = Object.freeze([
  'pre-prepare',
  'prepare',
  'commit',
  'checkpoint',
  'view-change',
  'new-view',
  'request',
  'status',
  'state-request',
  'state-reply',
  'view-timeout',
  'held',
] as const satisfies readonly MessageKind[]);

/** The messages that carry no signature: the link they arrive on says who sent them. */
export type UnsignedMessage = Request | Held;

/** Every message that carries a signature: all but REQUEST and HELD. */
export type SignedMessage = Exclude<Message, UnsignedMessage>;

/** The discriminant of {@link SignedMessage}. */
export type SignedKind = SignedMessage['kind'];

/** Every signed kind, in wire-id order. */
export const SIGNED_KINDS: readonly SignedKind[] = Object.freeze(
  MESSAGE_KINDS.filter((kind): kind is SignedKind => kind !== 'request' && kind !== 'held'),
);

/** Whether `message` carries a signature, so that the shell signs or checks it. */
export function isSignedKind<M extends Message | Draft>(message: M): message is Exclude<M, UnsignedMessage> {
  return message.kind !== 'request' && message.kind !== 'held';
}

/** The message of kind `K`. */
export type MessageOf<K extends MessageKind> = Extract<Message, { kind: K }>;

/** A message the core has decided to send, before the shell signs it. */
export type Draft<M extends Message = Message> = M extends Message ? Omit<M, 'signature'> : never;
