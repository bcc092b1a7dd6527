/**
 * The canonical bytes each signature covers. Every message but REQUEST is signed (see
 * `protocol/messages.ts` for why a REQUEST is not).
 *
 * Sign-bytes are: a length-prefixed ASCII domain tag per kind (`cretoai/v1/prepare`, ...), the
 * cluster id (u32 length, UTF-8), then the message's fields except its signature and its epoch,
 * in the wire layout. The tag and the cluster id make a signature useless as another kind of
 * message or in another cluster.
 *
 * Epochs: a message of epoch 0 (the cluster file's validator set) signs exactly these bytes, the
 * ones every release before epochs signed, so stored certificates stay valid without re-signing.
 * A message of any later epoch signs under the kind's `cretoai/v2/...` tag with the epoch (u32)
 * right after the cluster id. A validator that stays from one epoch to the next keeps its key;
 * the epoch in the bytes is what keeps its vote for a slot of one epoch from counting in another,
 * and the distinct tag keeps an epoch-0 signature from ever parsing as a later epoch's.
 *
 * Two deliberate departures from "the fields as on the wire":
 *
 * - A PRE-PREPARE's sign-bytes cover (replica, view, sequence, digest) only, never the batch:
 *   the digest binds the batch, and the same signed header must stay valid when it travels
 *   without its batch inside certificates and NEW-VIEW messages.
 * - Composite messages stay small: a nested signed message is represented by its *signed
 *   digest*, SHA-256 over (tag, its sign-bytes, its signature), and a vertex by its hash, a
 *   batch by its batch digest. Sign-bytes bind every field (nested ones through their own
 *   sign-bytes, which bind theirs), so the signed digest binds the whole nested message, and
 *   computing it reuses the sign-bytes that signature verification needs anyway.
 */
import { sha256 } from '../crypto/digest.ts';
import type { Draft, Message, MessageOf, SignedKind, SignedMessage } from '../protocol/messages.ts';
import { isSignedKind } from '../protocol/messages.ts';
import type { ReplicaId } from '../protocol/types.ts';
import { batchDigest } from '../protocol/types.ts';
import { Writer } from './writer.ts';

/** One signature to verify: `signature` by `replica` over `bytes`. */
export interface SignatureCheck {
  readonly replica: ReplicaId;
  /** The epoch of the signed message: `replica` is an id of that epoch, checked with its keys. */
  readonly epoch: number;
  readonly bytes: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * The domain tag of every signed kind's sign-bytes. Never change or reuse one once released:
 * `cretoai/v1/request` was REQUEST's while REQUESTs were signed, and stays retired.
 */
export const SIGN_DOMAIN_TAGS: { readonly [K in SignedKind]: string } = Object.freeze({
  'pre-prepare': 'cretoai/v1/pre-prepare',
  prepare: 'cretoai/v1/prepare',
  commit: 'cretoai/v1/commit',
  checkpoint: 'cretoai/v1/checkpoint',
  'view-change': 'cretoai/v1/view-change',
  'new-view': 'cretoai/v1/new-view',
  status: 'cretoai/v1/status',
  'state-request': 'cretoai/v1/state-request',
  'state-reply': 'cretoai/v1/state-reply',
  'view-timeout': 'cretoai/v1/view-timeout',
});

/** The tags of messages of epoch 1 and later, whose sign-bytes carry the epoch. */
export const EPOCH_SIGN_DOMAIN_TAGS: { readonly [K in SignedKind]: string } = Object.freeze(
  Object.fromEntries(
    Object.entries(SIGN_DOMAIN_TAGS).map(([kind, tag]) => [kind, tag.replace('cretoai/v1/', 'cretoai/v2/')]),
  ) as { [K in SignedKind]: string },
);

const encoder = new TextEncoder();

/** Each tag of `tags`, length-prefixed (u8) and encoded once. */
function tagBytes(tags: { readonly [K in SignedKind]: string }): { readonly [K in SignedKind]: Uint8Array } {
  return Object.freeze(
    Object.fromEntries(
      Object.entries(tags).map(([kind, tag]) => {
        const ascii = encoder.encode(tag);
        const out = new Uint8Array(1 + ascii.length);
        out[0] = ascii.length;
        out.set(ascii, 1);
        return [kind, out];
      }),
    ) as { [K in SignedKind]: Uint8Array },
  );
}

const TAG_BYTES = tagBytes(SIGN_DOMAIN_TAGS);
const EPOCH_TAG_BYTES = tagBytes(EPOCH_SIGN_DOMAIN_TAGS);

/** The tag of a signed digest, so that it can never collide with another protocol digest. */
const SIGNED_DIGEST_TAG = encoder.encode('cretoai/v1/signed-message');

// A replica signs and verifies in one cluster, so remembering the last encoding of the cluster
// id saves a UTF-8 encode per message without an unbounded cache.
let lastClusterId = '';
let lastClusterBytes = clusterIdBytes('');

function clusterIdBytes(clusterId: string): Uint8Array {
  const utf8 = encoder.encode(clusterId);
  const out = new Uint8Array(4 + utf8.length);
  new DataView(out.buffer).setUint32(0, utf8.length);
  out.set(utf8, 4);
  return out;
}

function clusterPrefix(clusterId: string): Uint8Array {
  if (clusterId !== lastClusterId) {
    lastClusterBytes = clusterIdBytes(clusterId);
    lastClusterId = clusterId;
  }
  return lastClusterBytes;
}

/** Where nested checks go; null when only the sign-bytes are wanted. */
type Checks = SignatureCheck[] | null;

/** A signed message nested inside another, as the parent's sign-bytes see it. */
function signedDigest(message: SignedMessage, clusterId: string, checks: Checks): Uint8Array {
  const bytes = build(message, clusterId, checks);
  if (checks !== null)
    checks.push({ replica: message.replica, epoch: message.epoch, bytes, signature: message.signature });
  const lengths = new Uint8Array(6);
  const view = new DataView(lengths.buffer);
  view.setUint32(0, bytes.length);
  view.setUint16(4, message.signature.length);
  return sha256(SIGNED_DIGEST_TAG, lengths, bytes, message.signature);
}

type FieldWriter<K extends SignedKind> = (
  w: Writer,
  message: Draft<MessageOf<K>>,
  clusterId: string,
  checks: Checks,
) => void;

function writeVoteFields(w: Writer, m: Draft<MessageOf<'prepare' | 'commit' | 'pre-prepare'>>): void {
  w.u16(m.replica);
  w.u64(m.view);
  w.u64(m.sequence);
  w.digest(m.digest);
}

const fieldWriters: { readonly [K in SignedKind]: FieldWriter<K> } = {
  // The batch is deliberately absent: the digest binds it.
  'pre-prepare': writeVoteFields,
  prepare: writeVoteFields,
  commit: writeVoteFields,
  checkpoint: (w, m) => {
    w.u16(m.replica);
    w.u64(m.sequence);
    w.digest(m.stateDigest);
  },
  'view-change': (w, m, clusterId, checks) => {
    w.u16(m.replica);
    w.u64(m.view);
    w.u64(m.checkpoint.sequence);
    w.digest(m.checkpoint.stateDigest);
    w.u16(m.checkpoint.proof.length);
    for (const checkpoint of m.checkpoint.proof) w.digest(signedDigest(checkpoint, clusterId, checks));
    w.u32(m.prepared.length);
    for (const certificate of m.prepared) {
      w.digest(signedDigest(certificate.prePrepare, clusterId, checks));
      w.u16(certificate.prepares.length);
      for (const prepare of certificate.prepares) w.digest(signedDigest(prepare, clusterId, checks));
    }
  },
  'new-view': (w, m, clusterId, checks) => {
    w.u16(m.replica);
    w.u64(m.view);
    w.u16(m.viewChanges.length);
    for (const viewChange of m.viewChanges) w.digest(signedDigest(viewChange, clusterId, checks));
    w.u32(m.prePrepares.length);
    for (const prePrepare of m.prePrepares) w.digest(signedDigest(prePrepare, clusterId, checks));
  },
  status: (w, m) => {
    w.u16(m.replica);
    w.u64(m.view);
    w.bool(m.viewActive);
    w.u64(m.lastExecuted);
    w.u64(m.stableSequence);
  },
  'state-request': (w, m) => {
    w.u16(m.replica);
    w.u64(m.fromSequence);
    w.u64(m.toSequence);
  },
  'state-reply': (w, m, clusterId, checks) => {
    w.u16(m.replica);
    w.u32(m.entries.length);
    for (const entry of m.entries) {
      w.u64(entry.sequence);
      w.u64(entry.view);
      w.digest(batchDigest(entry.batch));
      w.u16(entry.commits.length);
      for (const commit of entry.commits) w.digest(signedDigest(commit, clusterId, checks));
    }
  },
  'view-timeout': (w, m) => {
    w.u16(m.replica);
    w.u64(m.view);
  },
};

/** A capacity that fits every fixed-layout kind and small composites without growth. */
const INITIAL_CAPACITY = 256;

function build(message: SignedMessage | Draft<SignedMessage>, clusterId: string, checks: Checks): Uint8Array {
  const tag = (message.epoch === 0 ? TAG_BYTES : EPOCH_TAG_BYTES)[message.kind];
  const cluster = clusterPrefix(clusterId);
  const w = new Writer(INITIAL_CAPACITY + tag.length + cluster.length);
  w.raw(tag);
  w.raw(cluster);
  if (message.epoch !== 0) w.u32(message.epoch);
  (fieldWriters[message.kind] as FieldWriter<SignedKind>)(
    w,
    message as Draft<SignedMessage>,
    clusterId,
    checks,
  );
  return w.finish();
}

/**
 * The bytes `message`'s own signature covers, in cluster `clusterId`. Accepts a draft (no
 * signature yet) so that the shell can sign what the core decided to send.
 *
 * @throws ArgumentError for a field the layout cannot carry (a local bug; see `encodeMessage`).
 */
export function signBytes(message: SignedMessage | Draft<SignedMessage>, clusterId: string): Uint8Array {
  return build(message, clusterId, null);
}

/**
 * Every signature `message` carries, with the bytes each must verify over: its own first, then
 * every nested one (CHECKPOINT proofs, prepared certificates, the VIEW-CHANGEs of a NEW-VIEW
 * with their own nested proofs, the NEW-VIEW's PRE-PREPAREs, the COMMITs of a STATE-REPLY).
 *
 * The shell verifies all of them before handing the message to the protocol core. Each nested
 * message's sign-bytes are computed once, serving both its check and its parent's sign-bytes.
 * The same nested message may appear in several places (one PREPARE in many VIEW-CHANGEs); the
 * list keeps every occurrence, and the verifier's cache is expected to skip repeats. A REQUEST
 * carries none.
 */
export function signaturesOf(message: Message, clusterId: string): SignatureCheck[] {
  if (!isSignedKind(message)) return [];
  const nested: SignatureCheck[] = [];
  const bytes = build(message, clusterId, nested);
  const checks: SignatureCheck[] = [
    { replica: message.replica, epoch: message.epoch, bytes, signature: message.signature },
  ];
  for (const check of nested) checks.push(check);
  return checks;
}
