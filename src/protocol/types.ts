/**
 * The vocabulary of the protocol: replica identities, digests, vertices and batches, and the
 * three digests the replicas agree on (vertex hash, batch digest, chain digest).
 *
 * Every digest is SHA-256 over an input that starts with its own ASCII tag, so a digest of
 * one kind can never be mistaken for a digest of another.
 */
import {
  bytesEqual,
  DIGEST_BYTES,
  digestOfHex,
  sha256,
  sha256Hex,
  sha256Of,
  toHex,
} from '../crypto/digest.ts';
import { ArgumentError } from '../errors.ts';

/** A replica's index in the validator list, 0 <= id < n. The primary of view v is v mod n. */
export type ReplicaId = number;

/** A 32-byte SHA-256 digest. */
export type Digest = Uint8Array;

/**
 * A vertex: one opaque transaction payload, with the hashes of its parents in the
 * application's DAG, and the last sequence at which it may be finalized. The protocol orders
 * vertices; it never interprets the payload.
 *
 * `validThrough` is what makes "final at most once" hold with bounded memory: a vertex is
 * delivered only at a sequence s with s <= validThrough <= s + dedupHorizonSequences - 1, so
 * once it has been final, every later sequence at which it could be delivered again lies
 * within the horizon after that first one, where the replicas remember it (`dedup-set.ts`).
 * After validThrough it can never be final: a client that sees a vertex expire may submit its
 * payload again as a new vertex without risk of a double.
 */
export interface Vertex {
  readonly payload: Uint8Array;
  readonly parents: readonly Digest[];
  /** The last sequence at which this vertex may be finalized; covered by its hash. */
  readonly validThrough: number;
  /** SHA-256 of the vertex's canonical encoding; computed once by {@link createVertex}. */
  readonly hash: Digest;
}

/** What {@link createVertex} takes besides the payload. */
export interface VertexOptions {
  /** The hashes of the vertex's parents in the application's DAG (32 bytes each). */
  readonly parents?: readonly Digest[];
  /**
   * The last sequence at which the vertex may be finalized: a sequence the cluster has not
   * finalized yet, at most `dedupHorizonSequences` past the last one it has (`BftEngine`'s
   * `createVertex` and the HTTP API choose it for you).
   */
  readonly validThrough: number;
}

/** The vertices a primary orders at one sequence number. An empty batch is a null batch. */
export type Batch = readonly Vertex[];

const encoder = new TextEncoder();
// v1 (payload and parents only) is retired: a vertex without a validity bound could be
// final twice once the replicas forgot it.
const VERTEX_TAG = encoder.encode('cretoai/vertex/v2');
const BATCH_TAG = encoder.encode('cretoai/batch/v1');
const CHAIN_TAG = encoder.encode('cretoai/chain/v1');
const GENESIS_TAG = encoder.encode('cretoai/genesis/v1');

function u32(value: number): Uint8Array {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value, 0);
  return out;
}

function u64(value: number): Uint8Array {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(value), 0);
  return out;
}

/** The largest sequence number a vertex may name (u64 on the wire holding at most 2^53 - 1). */
export const SEQUENCE_MAX = Number.MAX_SAFE_INTEGER;

/**
 * The hash of a vertex with this payload, these parents and this validity bound: SHA-256 over
 * the tag, the payload length, the payload, the parent count, the parents and validThrough
 * (u64). Built in one buffer because every decoded vertex is hashed (hashes are never read from
 * the wire), so this is a hot path.
 */
export function vertexHash(payload: Uint8Array, parents: readonly Digest[], validThrough: number): Digest {
  return sha256Of(vertexHashInput(payload, parents, validThrough));
}

/**
 * The bytes a vertex hash covers, in a scratch buffer reused by every call (hashing is
 * synchronous, so each input is consumed before the next is written): a fresh buffer a vertex
 * took a slice of Buffer's pool each time, and with it a new pooled slab every few dozen
 * vertices for the collector to free. Valid only until the next call. An input larger than
 * {@link HASH_INPUT_SCRATCH_BYTES_MAX} gets a buffer of its own, so that one large payload does
 * not keep its size allocated for good.
 */
function vertexHashInput(payload: Uint8Array, parents: readonly Digest[], validThrough: number): Buffer {
  const length = VERTEX_TAG.length + 8 + payload.length + parents.length * DIGEST_BYTES + 8;
  if (length > hashInputScratch.length && length <= HASH_INPUT_SCRATCH_BYTES_MAX) {
    hashInputScratch = Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(length)));
  }
  const bytes = length <= hashInputScratch.length ? hashInputScratch : Buffer.allocUnsafe(length);
  let offset = 0;
  bytes.set(VERTEX_TAG, offset);
  offset += VERTEX_TAG.length;
  offset = bytes.writeUInt32BE(payload.length, offset);
  bytes.set(payload, offset);
  offset += payload.length;
  offset = bytes.writeUInt32BE(parents.length, offset);
  for (const parent of parents) {
    bytes.set(parent, offset);
    offset += DIGEST_BYTES;
  }
  bytes.writeUInt32BE(Math.floor(validThrough / 2 ** 32), offset);
  bytes.writeUInt32BE(validThrough >>> 0, offset + 4);
  if (bytes !== hashInputScratch) return bytes;
  // Vertices of one application mostly share a size: the view of the last length serves again.
  if (hashInputView.buffer !== bytes.buffer || hashInputView.length !== length) {
    hashInputView = bytes.subarray(0, length);
  }
  return hashInputView;
}

/** The largest scratch buffer a vertex hash keeps between calls. */
const HASH_INPUT_SCRATCH_BYTES_MAX = 1024 * 1024;

let hashInputScratch = Buffer.allocUnsafeSlow(16 * 1024);
let hashInputView = hashInputScratch.subarray(0, 0);

/** A base class whose constructor returns the object it is given, for {@link VertexKeyStamp}. */
class ReturnsItsArgument {
  constructor(target: object) {
    // biome-ignore lint/correctness/noConstructorReturn: the subclass adds its field to `target`.
    return target;
  }
}

/**
 * Where a vertex hashed here ({@link createVertex}, or a decoder through {@link hashedVertex})
 * keeps its key (see {@link vertexKey}): made once, where the maps of every layer (HTTP,
 * engine, core, event stream) would each make it again, and the mark that its hash matches its
 * fields.
 *
 * The key is a private field stamped on the vertex object itself: a class adds its private
 * fields to whatever its base constructor returns, here the plain vertex object. A private
 * field is not a property, so equality, spreading and JSON see the four fields only, and a copy
 * (`{ ...vertex, hash }`) is not taken for a hashed vertex; its prototype stays Object's.
 * Adding it costs a fraction of a non-enumerable symbol property's `Object.defineProperty`,
 * which was most of a vertex's cost beside hashing (docs/benchmarks.md); a WeakMap served
 * before that, at about a microsecond a vertex in its upkeep and the collector's.
 */
class VertexKeyStamp extends ReturnsItsArgument {
  readonly #key: string;

  private constructor(vertex: Vertex, key: string) {
    super(vertex);
    this.#key = key;
  }

  /** Stamps `key` on `vertex`, which must not be frozen yet. */
  static stamp(vertex: Vertex, key: string): void {
    new VertexKeyStamp(vertex, key);
  }

  /** The key stamped on `vertex`, if it was hashed here. */
  static keyOf(vertex: Vertex): string | undefined {
    return #key in vertex ? (vertex as unknown as VertexKeyStamp).#key : undefined;
  }
}

/**
 * The vertex of these fields, hashed here, frozen, with its key kept: for a decoder, whose
 * reader bounded the fields already ({@link createVertex} checks them first).
 */
export function hashedVertex(payload: Uint8Array, parents: readonly Digest[], validThrough: number): Vertex {
  const key = sha256Hex(vertexHashInput(payload, parents, validThrough));
  const vertex = { payload, parents, validThrough, hash: digestOfHex(key) };
  VertexKeyStamp.stamp(vertex, key);
  return Object.freeze(vertex);
}

/**
 * Builds a vertex and computes its hash. Parents must be 32-byte digests; `validThrough` a
 * positive safe integer. The vertex keeps references to `payload` and `parents`: do not modify
 * them afterwards, as its hash covers them. A primary need not hash it again: accepting it
 * (`propose`, the HTTP API) trusts the hash this made.
 *
 * @throws ArgumentError on a parent that is not 32 bytes or a validThrough that is not a sequence.
 */
export function createVertex(payload: Uint8Array, options: VertexOptions): Vertex {
  const parents = options.parents ?? [];
  const { validThrough } = options;
  for (const parent of parents) {
    if (parent.length !== DIGEST_BYTES) {
      throw new ArgumentError(`a parent hash must be ${DIGEST_BYTES} bytes, got ${parent.length}`);
    }
  }
  if (!Number.isSafeInteger(validThrough) || validThrough < 1)
    throw new ArgumentError(
      `validThrough must be a sequence number (a positive safe integer), got ${validThrough}`,
    );
  return hashedVertex(payload, parents, validThrough);
}

/** The key of a vertex in maps, logs and the HTTP API: the lower-case hex of its hash. */
export function vertexKey(vertex: Vertex): string {
  return VertexKeyStamp.keyOf(vertex) ?? toHex(vertex.hash);
}

/** Whether `vertex`'s hash matches its payload, parents and validThrough (computed again unless hashed here). */
export function hasValidHash(vertex: Vertex): boolean {
  if (VertexKeyStamp.keyOf(vertex) !== undefined) return true;
  return (
    vertex.parents.every((parent) => parent.length === DIGEST_BYTES) &&
    Number.isSafeInteger(vertex.validThrough) &&
    vertex.validThrough >= 1 &&
    bytesEqual(vertex.hash, vertexHash(vertex.payload, vertex.parents, vertex.validThrough))
  );
}

/**
 * Whether `vertex` may be finalized at `sequence` when the replicas remember deliveries for
 * `horizon` sequences: not expired, and not valid so far ahead that a second delivery could
 * fall outside what they remember.
 */
export function isDeliverableAt(vertex: Vertex, sequence: number, horizon: number): boolean {
  return vertex.validThrough >= sequence && vertex.validThrough - sequence < horizon;
}

/** The digest of a batch: it commits to the vertices' hashes in order. */
export function batchDigest(batch: Batch): Digest {
  return batchDigestOfHashes(batch.map((vertex) => vertex.hash));
}

/** {@link batchDigest} from the vertices' hashes alone (what a finality proof carries). */
export function batchDigestOfHashes(hashes: readonly Digest[]): Digest {
  return sha256(BATCH_TAG, u32(hashes.length), ...hashes);
}

/** The digest of the null batch that a new primary uses to fill a gap in the sequence space. */
export const NULL_BATCH_DIGEST: Digest = batchDigest([]);

/** Bytes a vertex counts for in the batch byte limit: its payload plus its parents. */
export function vertexPayloadBytes(vertex: Pick<Vertex, 'payload' | 'parents'>): number {
  return vertex.payload.length + vertex.parents.length * DIGEST_BYTES;
}

/** Bytes a batch occupies on the wire and in the batch byte limit (payloads plus parents). */
export function batchPayloadBytes(batch: Batch): number {
  let bytes = 0;
  for (const vertex of batch) bytes += vertexPayloadBytes(vertex);
  return bytes;
}

/**
 * The chain digest after finalizing `digest` at `sequence` on top of `previous`.
 *
 * The chain digest is the replica's state digest: it commits to the whole finalized history,
 * so two replicas whose CHECKPOINT digests match at a sequence have finalized the same
 * batches at every sequence up to it.
 */
export function chainDigest(previous: Digest, sequence: number, digest: Digest): Digest {
  return sha256(CHAIN_TAG, previous, u64(sequence), digest);
}

/** The chain digest at sequence 0, before anything is finalized; it binds the cluster id. */
export function genesisDigest(clusterId: string): Digest {
  const id = encoder.encode(clusterId);
  return sha256(GENESIS_TAG, u32(id.length), id);
}
