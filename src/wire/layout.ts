/**
 * Sizes of the wire encoding's building blocks, shared by the codec (to size its output and to
 * refuse impossible counts before allocating) and by the size bounds in `limits.ts`.
 *
 * Every field is big-endian. A signed message on the wire is its fields followed by its
 * signature; nested messages inside certificates carry no version or type byte, because the
 * enclosing structure already says what they are.
 */
import { DIGEST_BYTES } from '../crypto/digest.ts';

/**
 * The codec version byte every frame body starts with. Bump it for an incompatible layout.
 * Version 2: vertices carry validThrough. Version 3: every signed message, nested ones
 * included, starts with its epoch (u32).
 */
export const CODEC_VERSION = 3;

/**
 * The version written before epochs existed. Stores still hold bodies of it; they decode as
 * epoch 0 (whose sign-bytes never changed), and only the store's reader accepts them.
 */
export const EPOCHLESS_CODEC_VERSION = 2;

/** An epoch number is a u32 on the wire. */
export const EPOCH_BYTES = 4;

/** Version byte plus type byte. */
export const HEADER_BYTES = 2;

/** A replica id is a u16, so a cluster has at most 65,536 replicas. */
export const REPLICA_BYTES = 2;

/** Views and sequence numbers are u64 on the wire (only values up to 2^53 - 1 are valid). */
export const U64_BYTES = 8;

/** The largest replica count a u16 replica id can address. */
export const REPLICA_COUNT_LIMIT = 0x1_0000;

/** The largest signature a u16 length prefix can carry. */
export const SIGNATURE_BYTES_LIMIT = 0xffff;

/** A signature: u16 length then the bytes. */
export function signatureFieldBytes(signatureBytes: number): number {
  return 2 + signatureBytes;
}

/**
 * epoch u32, replica u16, view u64, sequence u64, digest: the fields of PREPARE, COMMIT and a
 * PRE-PREPARE header.
 */
export const VOTE_FIELDS_BYTES = EPOCH_BYTES + REPLICA_BYTES + 2 * U64_BYTES + DIGEST_BYTES;

/** epoch u32, replica u16, sequence u64, state digest. */
export const CHECKPOINT_FIELDS_BYTES = EPOCH_BYTES + REPLICA_BYTES + U64_BYTES + DIGEST_BYTES;

/** sequence u64, state digest, proof count u16. */
export const CHECKPOINT_CERTIFICATE_FIXED_BYTES = U64_BYTES + DIGEST_BYTES + 2;

/** payload length u32, parent count u16, validThrough u64. */
export const VERTEX_FIXED_BYTES = 4 + 2 + U64_BYTES;

/** A batch's vertex count u32. */
export const BATCH_FIXED_BYTES = 4;

/** epoch, replica, view, viewActive, lastExecuted, stableSequence. */
export const STATUS_FIELDS_BYTES = EPOCH_BYTES + REPLICA_BYTES + U64_BYTES + 1 + 2 * U64_BYTES;

/** epoch, replica, view. */
export const VIEW_TIMEOUT_FIELDS_BYTES = EPOCH_BYTES + REPLICA_BYTES + U64_BYTES;

/** epoch, replica, fromSequence, toSequence. */
export const STATE_REQUEST_FIELDS_BYTES = EPOCH_BYTES + REPLICA_BYTES + 2 * U64_BYTES;

/** epoch, replica: the fields every signed message starts with. */
export const SIGNER_FIELDS_BYTES = EPOCH_BYTES + REPLICA_BYTES;

/** sequence u64, view u64, then a batch and a u16 commit count. */
export const FINALIZED_ENTRY_FIXED_BYTES = 2 * U64_BYTES + BATCH_FIXED_BYTES + 2;

// The smallest encodings, used to refuse a declared count that the remaining bytes cannot hold
// before any array is allocated for it. A signature is at least one byte.

/** The smallest vertex: empty payload, no parents. */
export const MIN_VERTEX_BYTES = VERTEX_FIXED_BYTES;
/** The smallest PREPARE, COMMIT or PRE-PREPARE header. */
export const MIN_VOTE_BYTES = VOTE_FIELDS_BYTES + signatureFieldBytes(1);
/** The smallest CHECKPOINT. */
export const MIN_CHECKPOINT_BYTES = CHECKPOINT_FIELDS_BYTES + signatureFieldBytes(1);
/** The smallest prepared certificate: a header and no PREPAREs. */
export const MIN_PREPARED_CERTIFICATE_BYTES = MIN_VOTE_BYTES + 2;
/** The smallest VIEW-CHANGE: no proof, no prepared certificates. */
export const MIN_VIEW_CHANGE_BYTES =
  SIGNER_FIELDS_BYTES + U64_BYTES + CHECKPOINT_CERTIFICATE_FIXED_BYTES + 4 + signatureFieldBytes(1);
/** The smallest finalized entry: an empty batch, no commits. */
export const MIN_FINALIZED_ENTRY_BYTES = FINALIZED_ENTRY_FIXED_BYTES;
