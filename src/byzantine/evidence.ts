/**
 * Evidence: what a replica can show anyone to prove that another replica misbehaved, and the
 * pure function that checks it with nothing but the cluster's public keys.
 *
 * Two things are provable:
 *
 * - Equivocation: two messages validly signed by one replica for the same slot with different
 *   content. The slots are (epoch, view, sequence) for PRE-PREPARE, PREPARE and COMMIT, (epoch,
 *   sequence) for CHECKPOINT and (epoch, view) for NEW-VIEW: views are numbered within an epoch,
 *   so an honest replica votes once in view 0 of each. "Content" is what the signature covers (see
 *   `wire/sign-bytes.ts`), so a PRE-PREPARE's batch, which the digest binds, is not part of it.
 * - An invalid signature vouched for: a message whose outer signature by `replica` is valid
 *   while a message nested in it (a CHECKPOINT of a proof, a PREPARE of a prepared
 *   certificate, a VIEW-CHANGE of a NEW-VIEW) carries a signature that does not verify. An
 *   honest replica verifies every message before it builds on it, so only a liar signs that.
 *
 * Two deliberate exclusions, both so that an honest replica can never be proven guilty:
 *
 * - VIEW-CHANGE has no slot. A replica that restarts while changing views sends its
 *   VIEW-CHANGE again, rebuilt from a stable checkpoint that may have advanced since
 *   (`protocol/restore.ts`), so two different VIEW-CHANGEs for one view prove nothing.
 * - Two NEW-VIEWs are compared without the signatures of their nested PRE-PREPAREs. A new
 *   primary that restarts sends its persisted NEW-VIEW again and signs those PRE-PREPAREs
 *   afresh; ML-DSA signing is randomized, so the signatures differ while the content does not.
 */
import type { PublicKey, SignatureScheme } from '../crypto/index.ts';
import { bytesEqual } from '../crypto/index.ts';
import {
  type EquivocationEvidence,
  type Message,
  type NewView,
  type ReplicaId,
  SIGNED_KINDS,
  type SignedMessage,
  UNSIGNED,
} from '../protocol/index.ts';
import { CONSENSUS_CONTEXT } from '../shell/signing.ts';
import { signaturesOf, signBytes } from '../wire/index.ts';

/**
 * `replica` signed `message` validly, and a signature nested inside it does not verify: the
 * replica vouched for a forgery (for example a NEW-VIEW carrying a forged VIEW-CHANGE).
 */
export interface InvalidSignatureEvidence {
  readonly kind: 'invalid-signature';
  readonly replica: ReplicaId;
  readonly message: SignedMessage;
}

/** Proof of a violation that anyone holding the public keys can check ({@link verifyEvidence}). */
export type Evidence = EquivocationEvidence | InvalidSignatureEvidence;

/** What checking a signature needs: the scheme, every replica's public key, the cluster id. */
export interface EvidenceContext {
  readonly scheme: SignatureScheme;
  /** Public keys by replica id; `undefined` for a replica whose key is not known. */
  readonly publicKeys: readonly (PublicKey | undefined)[];
  readonly clusterId: string;
}

/**
 * The slot a message occupies for equivocation: one honest replica signs at most one content
 * per slot. Null for kinds where differing messages prove nothing (see the module comment).
 */
export function slotOf(message: Message): string | null {
  switch (message.kind) {
    case 'pre-prepare':
    case 'prepare':
    case 'commit':
      return `${message.kind}/${message.epoch}/${message.view}/${message.sequence}`;
    case 'checkpoint':
      return `checkpoint/${message.epoch}/${message.sequence}`;
    case 'new-view':
      return `new-view/${message.epoch}/${message.view}`;
    default:
      return null;
  }
}

// Content is compared through sign-bytes; the cluster id only prefixes them, so any fixed one
// compares the same way and the detector need not know the real one.
const COMPARISON_CLUSTER_ID = 'comparison';

/** The bytes that decide whether two messages of one slot differ. */
function contentBytes(message: SignedMessage): Uint8Array {
  if (message.kind !== 'new-view') return signBytes(message, COMPARISON_CLUSTER_ID);
  const newView: NewView = {
    ...message,
    prePrepares: message.prePrepares.map((prePrepare) => ({ ...prePrepare, signature: UNSIGNED })),
  };
  return signBytes(newView, COMPARISON_CLUSTER_ID);
}

/**
 * Whether `first` and `second` are an equivocation: one signer, one slot, different content.
 * Signatures are not checked here. Never throws: a shape the wire layout cannot carry is not
 * a conflict.
 */
export function conflicting(first: Message, second: Message): boolean {
  try {
    if (!isMessage(first) || !isMessage(second)) return false;
    if (first.replica !== second.replica) return false;
    const slot = slotOf(first);
    if (slot === null || slot !== slotOf(second)) return false;
    return !bytesEqual(contentBytes(first), contentBytes(second));
  } catch {
    return false;
  }
}

/**
 * A copy of `message` for keeping as evidence: a PRE-PREPARE loses its batch, which the
 * signature does not cover, so that evidence stays small.
 */
export function evidenceCopy(message: SignedMessage): SignedMessage {
  return message.kind === 'pre-prepare' && message.batch !== null ? { ...message, batch: null } : message;
}

/**
 * Whether `message` proves that its outer signer vouched for an invalid signature: the outer
 * signature verifies under the signer's key and at least one nested one does not (or names a
 * replica without a key). Never throws.
 */
export function provesInvalidSignature(message: SignedMessage, context: EvidenceContext): boolean {
  try {
    if (!isMessage(message)) return false;
    const checks = signaturesOf(message, context.clusterId);
    const [outer, ...nested] = checks;
    if (outer === undefined || !validSignature(context, outer.replica, outer.bytes, outer.signature)) {
      return false;
    }
    return nested.some((check) => !validSignature(context, check.replica, check.bytes, check.signature));
  } catch {
    return false;
  }
}

/**
 * Checks evidence with the public keys alone. Equivocation: both messages signed validly by
 * `replica`, in the same slot, with different content. Invalid signature: the message's outer
 * signature is valid by `replica` and a nested one is not.
 *
 * Returns false for anything else: a changed byte of any signed field or signature, a swapped
 * replica, a pair that does not conflict, an object of the wrong shape. It never throws, since
 * evidence may come from anyone.
 */
export function verifyEvidence(evidence: Evidence, context: EvidenceContext): boolean {
  try {
    return checkEvidence(evidence, context);
  } catch {
    // The evidence is untrusted data of any shape; whatever the wire layout or the scheme
    // refuses to process proves nothing.
    return false;
  }
}

function checkEvidence(evidence: Evidence, context: EvidenceContext): boolean {
  if (typeof evidence !== 'object' || evidence === null) return false;
  const { replica } = evidence;
  if (!isReplicaIndex(replica, context.publicKeys.length)) return false;
  switch (evidence.kind) {
    case 'equivocation': {
      const { first, second } = evidence;
      if (!isMessage(first) || !isMessage(second)) return false;
      if (first.replica !== replica || second.replica !== replica) return false;
      if (!conflicting(first, second)) return false;
      return signedBy(context, replica, first) && signedBy(context, replica, second);
    }
    case 'invalid-signature': {
      const { message } = evidence;
      if (!isMessage(message) || message.replica !== replica) return false;
      return provesInvalidSignature(message, context);
    }
    default:
      return false;
  }
}

/** Whether `message`'s own signature is `replica`'s. */
function signedBy(context: EvidenceContext, replica: ReplicaId, message: SignedMessage): boolean {
  return validSignature(context, replica, signBytes(message, context.clusterId), message.signature);
}

function validSignature(
  context: EvidenceContext,
  replica: ReplicaId,
  bytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!isReplicaIndex(replica, context.publicKeys.length) || !(signature instanceof Uint8Array)) return false;
  const key = context.publicKeys[replica];
  return key !== undefined && context.scheme.verify(key, bytes, signature, CONSENSUS_CONTEXT);
}

function isReplicaIndex(value: unknown, count: number): value is ReplicaId {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < count;
}

/** The kinds evidence can hold: signed ones (a REQUEST carries no signature to prove anything). */
const KINDS: ReadonlySet<string> = new Set(SIGNED_KINDS);

/** Enough of a shape check to dispatch on; the wire layout rejects the rest by throwing. */
function isMessage(value: unknown): value is SignedMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { kind, replica } = value as { kind?: unknown; replica?: unknown };
  return typeof kind === 'string' && KINDS.has(kind) && typeof replica === 'number';
}
