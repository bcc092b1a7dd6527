/**
 * The stored form of every durable write: keys, record values, and their checksums.
 *
 * The format must outlive Node versions and be read by later releases, so it is a fixed binary
 * layout built from the wire layer's primitives (big-endian `Writer` and `Reader`), never JSON
 * or `v8.serialize`. Signed messages are stored exactly as the wire encodes them (`writeMessage`
 * / `decodeMessage`), so a stored vote is byte for byte the vote that was sent. The replica's own
 * drafts (a PRE-PREPARE or NEW-VIEW it has not signed yet, and the NEW-VIEW's nested
 * PRE-PREPAREs whose signature is the empty `UNSIGNED`) cannot go through the wire codec, which
 * refuses empty signatures: they are stored field by field with a signature form byte that says
 * whether the signature is absent (a draft), empty, or present.
 *
 * Keys: one prefix byte per record kind, then, for records by sequence, the sequence as a
 * big-endian u64 (so LMDB's byte order is sequence order); vertex index entries add the vertex
 * hash before it and the index in the batch after it. Prefixes are never reused once released
 * (STYLE 11); a new kind, or a new layout of an old one, gets a new byte.
 *
 * | prefix | key                    | value                                                   |
 * |--------|------------------------|---------------------------------------------------------|
 * | 0x01   | meta                   | store format version, replica id, cluster id            |
 * | 0x02   | view                   | epoch, view, active, NEW-VIEW (signed or draft) or none  |
 * | 0x03   | stable                 | stable checkpoint certificate (sequence, digest, proof)  |
 * | 0x04   | pre-prepare + u64 seq  | PRE-PREPARE (signed or draft) and the batch if known     |
 * | 0x05   | prepared + u64 seq     | prepared certificate (PRE-PREPARE header and PREPAREs)   |
 * | 0x06   | finalized + u64 seq    | view, digest, chain digest, batch, commit certificate    |
 * | 0x07   | last finalized         | the highest sequence ever finalized                      |
 * | 0x08   | (retired in format 2)  | format 1's vertex index: all positions of a hash in one  |
 * | 0x09   | vertex + 32-byte hash  | empty: the key is the entry                              |
 * |        | + u64 seq + u32 index  |                                                          |
 * | 0x0a   | index watermarks       | per bucket, the sequence its entries are written to      |
 * | 0x0b   | accepted + u64 valid-  | an accepted client vertex (format 3; read, not written)  |
 * |        | Through + 32-byte hash |                                                          |
 * | 0x0c   | epoch + u64 number     | start, end, closing sequence, opening request (epochs.ts)|
 * | 0x0d   | accepted list + u64    | the client vertices of one accepted write, as a batch    |
 * |        | kept-through + digest  | (hashes first); kept through their highest validThrough  |
 *
 * Value: record format (u8, 2), the body, then a CRC-32 (u32) over the key and everything
 * before it. Format 2 added the epoch to the view record and to drafts stored field by field;
 * format 1 records (written before epochs) are still read as epoch 0, and so are the codec
 * version 2 wire bodies of the signed messages they hold (see `decodeMessage`).
 * Covering the key catches a record that landed under the wrong key; covering the
 * format byte catches a flipped version.
 *
 * The vertex index has one entry per position of a vertex (the sequence of a finalized batch
 * that holds it and its index there), so LMDB's key order lists a vertex's positions in
 * (sequence, index) order: the first is where it was delivered; later ones are copies in later
 * batches (not delivered again), kept so that pruning the first batch leaves the vertex findable
 * in the next. Finalizing a batch then only adds entries and pruning one only removes its own,
 * with no read of the index on the write path (format 1 kept one entry per hash listing every
 * position, and each finalized vertex cost a read, a decode and a re-encode of it). Entries are
 * written some commits after their batch, one bucket of the key range at a time; the index
 * watermarks say how far each bucket is written (see `index-tail.ts`). A store without them
 * (written before they existed) has every entry written.
 *
 * Why CRC-32: the checksum guards against accidental damage (bit rot, a torn or misdirected
 * write, a bad copy), since LMDB keeps no checksums of its own. CRC-32 detects every burst of up
 * to 32 flipped bits and lets random damage through with probability 2^-32 per record, and
 * `node:zlib` computes it natively at gigabytes per second, which matters because every read
 * (restore, state transfer, vertex lookups) verifies it. A cryptographic hash would buy nothing
 * more: whoever can write the data file can recompute any checksum, so tampering is out of
 * scope for it either way. (CRC-32C would be marginally stronger but Node has no built-in one.)
 * Backups additionally carry a SHA-256 of the whole file (see `lmdb/backup.ts`).
 *
 * The client vertices a replica accepts (and must propose again after a restart) are written as
 * one record per accepted write, keyed by the highest validThrough among them and the list's
 * batch digest. One record per vertex (format 3) cost a B-tree insert and a removal per vertex
 * on the two replicas that hold each one, the largest part of their store work under load
 * (docs/benchmarks.md). A list is removed once every vertex of it has expired, so a restart may
 * read vertices that expired earlier: the restore drops those (`restore.ts`).
 *
 * Vertex hashes are stored with their vertices rather than recomputed on read: the checksum
 * already vouches for the bytes, and reading a batch's hashes must be cheap (pruning a finalized
 * record removes its vertices from the index). A batch therefore stores its hashes first.
 */

import { crc32 } from 'node:zlib';
import { bytesEqual, DIGEST_BYTES } from '../crypto/digest.ts';
import { ArgumentError, CretoaiError } from '../errors.ts';
import type { PrePrepareRecord, PreparedRecord, ViewRecord } from '../protocol/durable-image.ts';
import type { FinalizedRecord } from '../protocol/effects.ts';
import type { EpochRecord } from '../protocol/epochs.ts';
import type {
  CheckpointCertificate,
  Draft,
  Message,
  MessageKind,
  MessageOf,
  NewView,
  PrePrepare,
  PreparedCertificate,
} from '../protocol/messages.ts';
import { type Batch, batchDigest, type Digest, type Vertex } from '../protocol/types.ts';
import { allocBytes } from '../wire/bytes.ts';
import { decodeMessage, encodedMessageBytes, writeMessage } from '../wire/codec.ts';
import { type DecodeLimits, decodeLimitsFor } from '../wire/limits.ts';
import { DecodeFailure, Reader } from '../wire/reader.ts';
import { Writer } from '../wire/writer.ts';

/** The layout of record values. Bump it (and keep reading the old one) for a new layout. */
export const RECORD_FORMAT = 2;

/** The record format written before epochs: its drafts carry none and belong to epoch 0. */
const EPOCHLESS_RECORD_FORMAT = 1;

/**
 * The layout of keys and the set of record kinds, recorded in the metadata record. Format 2 (one
 * vertex index entry per position) replaced format 1 (one per hash); format 3 stores each
 * vertex's validThrough and the vertices a node accepted; format 4 stores those as one record
 * per accepted list. Formats in {@link UPGRADABLE_STORE_FORMATS} are read and upgraded at open;
 * older ones are refused.
 */
export const STORE_FORMAT_VERSION = 4;

/**
 * Formats this release opens and upgrades: format 3 holds everything format 4 does, with accepted
 * vertices one record each (`accepted`), which this release reads and removes but never writes.
 * The upgrade only rewrites the format number, so that an earlier release refuses the store
 * before it could miss the accepted lists it does not know.
 */
export const UPGRADABLE_STORE_FORMATS: ReadonlySet<number> = new Set([3]);

/** The store formats this release opens, for the refusal of any other: "formats 3 and 4". */
export function describeReadableStoreFormats(): string {
  return `formats ${[...UPGRADABLE_STORE_FORMATS, STORE_FORMAT_VERSION].join(' and ')}`;
}

/**
 * Key prefixes, one per record kind this release writes. Never reorder or reuse an entry; a kind
 * no longer written moves to {@link RETIRED_KEY_PREFIX}, so that its byte stays taken.
 */
export const KEY_PREFIX = Object.freeze({
  meta: 0x01,
  view: 0x02,
  stable: 0x03,
  prePrepare: 0x04,
  prepared: 0x05,
  finalized: 0x06,
  lastFinalized: 0x07,
  vertex: 0x09,
  indexWatermarks: 0x0a,
  /** Format 3's accepted vertices, one record each: read and removed, no longer written. */
  accepted: 0x0b,
  epoch: 0x0c,
  acceptedList: 0x0d,
} as const);

/** Prefixes of released formats that this release no longer writes. Never reuse one. */
export const RETIRED_KEY_PREFIX = Object.freeze({
  /** Format 1's vertex index: one entry per hash listing every position (0x08 + hash). */
  vertexPositions: 0x08,
} as const);

/** A record kind, named by its key prefix. */
export type RecordKind = keyof typeof KEY_PREFIX;

const CHECKSUM_BYTES = 4;
const FORMAT_BYTES = 1;
const U64_BYTES = 8;
const U32_BYTES = 4;
/** A vertex index key: prefix, hash, sequence (u64), index in the batch (u32). */
const VERTEX_KEY_BYTES = 1 + DIGEST_BYTES + U64_BYTES + U32_BYTES;
/**
 * The key of an accepted vertex (prefix, validThrough, hash) or list (prefix, highest
 * validThrough, batch digest). Ordered by the number first, so that truncating the expired ones
 * is one range.
 */
const NUMBER_AND_DIGEST_KEY_BYTES = 1 + U64_BYTES + DIGEST_BYTES;
const TWO_TO_32 = 0x1_0000_0000;

/**
 * Limits for decoding signed messages that this replica stored itself. The checksum, not these
 * bounds, vouches for stored bytes; the bounds only keep a malformed record from allocating
 * more than it holds (the decoder also checks every count against the bytes remaining).
 */
const STORED_MESSAGE_LIMITS: DecodeLimits = decodeLimitsFor({
  replicaCount: 0x1_0000,
  maxSignatureBytes: 0xffff,
  batchCountMax: 0xffff_ffff,
  batchBytesMax: Number.MAX_SAFE_INTEGER,
  vertexPayloadBytesMax: 0xffff_ffff,
  vertexParentsMax: 0xffff,
  watermarkWindow: 0xffff_ffff,
  stateEntriesMax: 0xffff_ffff,
  maxFrameBytes: 0xffff_ffff,
});

// ---------------------------------------------------------------------------------------------
// Errors

/** Why a record was refused. */
export type RecordErrorCode = 'checksum' | 'malformed';

/** A stored record that fails its checksum or does not decode. The store names the key. */
export class RecordError extends CretoaiError {
  override readonly name = 'RecordError';
  readonly code: RecordErrorCode;
  constructor(code: RecordErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

function singleKey(prefix: number): Uint8Array {
  return Uint8Array.of(prefix);
}

/** The key of the record of kind `prefix` at `sequence` (prefix byte, big-endian u64). */
export function keyBySequence(prefix: number, sequence: number): Uint8Array {
  const w = new Writer(1 + U64_BYTES);
  w.u8(prefix);
  w.u64(sequence);
  return w.finish();
}

/**
 * Writes `value` (a safe integer, at most 2^53 - 1) as a big-endian u64 at `at`. The vertex index
 * builds a key per finalized vertex, so its keys are pooled arrays (see `wire/bytes.ts`) written
 * by hand, not Writers.
 */
function setU64(bytes: Uint8Array, at: number, value: number): void {
  setU32(bytes, at, Math.floor(value / TWO_TO_32));
  setU32(bytes, at + 4, value >>> 0);
}

function setU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

function getU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Writes the vertex index key of (hash, sequence, index) into `bytes` from its start. */
function writeVertexKey(bytes: Uint8Array, hash: Digest, sequence: number, index: number, hashAt = 0): void {
  bytes[0] = KEY_PREFIX.vertex;
  // Copied byte by byte: `set` would want a view of the hash, an object to copy 32 bytes.
  for (let i = 0; i < DIGEST_BYTES; i++) bytes[1 + i] = hash[hashAt + i]!;
  setU64(bytes, 1 + DIGEST_BYTES, sequence);
  setU32(bytes, 1 + DIGEST_BYTES + U64_BYTES, index);
}

/** A key of `prefix`, a big-endian u64 and a digest. */
function numberAndDigestKey(prefix: number, number: number, digest: Digest): Uint8Array {
  const key = allocBytes(NUMBER_AND_DIGEST_KEY_BYTES);
  key[0] = prefix;
  setU64(key, 1, number);
  key.set(digest, 1 + U64_BYTES);
  return key;
}

/** Record keys. */
export const keys = Object.freeze({
  meta: (): Uint8Array => singleKey(KEY_PREFIX.meta),
  view: (): Uint8Array => singleKey(KEY_PREFIX.view),
  stable: (): Uint8Array => singleKey(KEY_PREFIX.stable),
  lastFinalized: (): Uint8Array => singleKey(KEY_PREFIX.lastFinalized),
  indexWatermarks: (): Uint8Array => singleKey(KEY_PREFIX.indexWatermarks),
  prePrepare: (sequence: number): Uint8Array => keyBySequence(KEY_PREFIX.prePrepare, sequence),
  prepared: (sequence: number): Uint8Array => keyBySequence(KEY_PREFIX.prepared, sequence),
  finalized: (sequence: number): Uint8Array => keyBySequence(KEY_PREFIX.finalized, sequence),
  /** An epoch of the history, by its number (laid out as a key by sequence). */
  epoch: (number: number): Uint8Array => keyBySequence(KEY_PREFIX.epoch, number),
  /** The record of a client vertex this replica accepted (format 3). */
  accepted: (validThrough: number, hash: Digest): Uint8Array =>
    numberAndDigestKey(KEY_PREFIX.accepted, validThrough, hash),
  /**
   * The record of a list of client vertices this replica accepted: kept through the highest
   * validThrough among them, named by the list's batch digest.
   */
  acceptedList: (keptThrough: number, digest: Digest): Uint8Array =>
    numberAndDigestKey(KEY_PREFIX.acceptedList, keptThrough, digest),
  /** The vertex index entry of the vertex `hash` at `index` of the batch finalized at `sequence`. */
  vertex: (hash: Digest, sequence: number, index: number): Uint8Array => {
    const key = allocBytes(VERTEX_KEY_BYTES);
    writeVertexKey(key, hash, sequence, index);
    return key;
  },
});

/**
 * LMDB range bounds holding exactly the vertex index entries of `hash`: from the prefix and the
 * hash (inclusive) to the prefix and the next hash (exclusive).
 */
export function vertexKeyRange(hash: Digest): { start: Uint8Array; end: Uint8Array } {
  const start = new Uint8Array(1 + DIGEST_BYTES);
  start[0] = KEY_PREFIX.vertex;
  start.set(hash, 1);
  // The successor of prefix|hash as a big-endian number; prefix|ff..ff becomes the next prefix.
  const end = start.slice();
  let at = end.length - 1;
  while (at > 0 && end[at] === 0xff) end[at--] = 0;
  end[at]! += 1;
  return { start, end: at === 0 ? end.subarray(0, 1) : end };
}

/** What a key is: its kind and, for records by sequence or hash, which one. */
export type ParsedKey =
  | { readonly kind: 'meta' | 'view' | 'stable' | 'lastFinalized' | 'indexWatermarks' }
  | { readonly kind: 'prePrepare' | 'prepared' | 'finalized'; readonly sequence: number }
  | { readonly kind: 'epoch'; readonly number: number }
  | { readonly kind: 'accepted'; readonly validThrough: number; readonly hash: Digest }
  | { readonly kind: 'acceptedList'; readonly keptThrough: number; readonly digest: Digest }
  | {
      readonly kind: 'vertex';
      readonly hash: Digest;
      readonly sequence: number;
      readonly index: number;
    };

const KIND_BY_PREFIX = new Map<number, RecordKind>(
  Object.entries(KEY_PREFIX).map(([kind, prefix]) => [prefix, kind as RecordKind]),
);

/** Parses a key, or returns null for a key this build does not know. */
export function parseKey(key: Uint8Array): ParsedKey | null {
  const kind = KIND_BY_PREFIX.get(key[0] ?? -1);
  switch (kind) {
    case undefined:
      return null;
    case 'meta':
    case 'view':
    case 'stable':
    case 'lastFinalized':
    case 'indexWatermarks':
      return key.length === 1 ? { kind } : null;
    case 'prePrepare':
    case 'prepared':
    case 'finalized': {
      if (key.length !== 1 + U64_BYTES) return null;
      try {
        const r = new Reader(key);
        r.u8('prefix');
        return { kind, sequence: r.u64('sequence') };
      } catch {
        return null;
      }
    }
    case 'epoch': {
      if (key.length !== 1 + U64_BYTES) return null;
      try {
        const r = new Reader(key);
        r.u8('prefix');
        const number = r.u64('epoch');
        return number > 0xffff_ffff ? null : { kind, number };
      } catch {
        return null;
      }
    }
    case 'accepted':
    case 'acceptedList': {
      if (key.length !== NUMBER_AND_DIGEST_KEY_BYTES) return null;
      const high = getU32(key, 1);
      if (high > 0x1f_ffff) return null;
      const number = high * TWO_TO_32 + getU32(key, 5);
      const digest = key.slice(1 + U64_BYTES);
      return kind === 'accepted'
        ? { kind, validThrough: number, hash: digest }
        : { kind, keptThrough: number, digest };
    }
    case 'vertex': {
      if (key.length !== VERTEX_KEY_BYTES) return null;
      const at = 1 + DIGEST_BYTES;
      const high = getU32(key, at);
      // A sequence above 2^53 - 1 is not one this store writes (nor exact as a number).
      if (high > 0x1f_ffff) return null;
      return {
        kind,
        hash: key.slice(1, at),
        sequence: high * TWO_TO_32 + getU32(key, at + 4),
        index: getU32(key, at + U64_BYTES),
      };
    }
  }
}

/** A key in words, for error messages: "finalized record at sequence 42". */
export function describeKey(key: Uint8Array): string {
  const parsed = parseKey(key);
  if (parsed === null && key[0] === RETIRED_KEY_PREFIX.vertexPositions) {
    return `store format 1 vertex index record 0x${Buffer.from(key).toString('hex')}`;
  }
  if (parsed === null) return `unknown key 0x${Buffer.from(key).toString('hex')}`;
  switch (parsed.kind) {
    case 'meta':
      return 'metadata record';
    case 'view':
      return 'view record';
    case 'stable':
      return 'stable checkpoint record';
    case 'lastFinalized':
      return 'last-finalized record';
    case 'indexWatermarks':
      return 'vertex index watermark record';
    case 'prePrepare':
      return `pre-prepare record at sequence ${parsed.sequence}`;
    case 'prepared':
      return `prepared certificate record at sequence ${parsed.sequence}`;
    case 'finalized':
      return `finalized record at sequence ${parsed.sequence}`;
    case 'epoch':
      return `epoch ${parsed.number} record`;
    case 'accepted':
      return `accepted vertex ${Buffer.from(parsed.hash).toString('hex')} (valid through ${parsed.validThrough})`;
    case 'acceptedList':
      return `accepted list ${Buffer.from(parsed.digest).toString('hex')} (kept through ${parsed.keptThrough})`;
    case 'vertex':
      return `vertex index entry for ${Buffer.from(parsed.hash).toString('hex')} at index ${parsed.index} of sequence ${parsed.sequence}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Envelope: format byte, body, checksum over key and value

function checksum(key: Uint8Array, value: Uint8Array, end: number): number {
  return crc32(value.subarray(0, end), crc32(key));
}

/** Starts a record value: a writer with the format byte written. `bodyBytes` sizes it exactly. */
function begin(bodyBytes: number): Writer {
  const w = new Writer(FORMAT_BYTES + bodyBytes + CHECKSUM_BYTES);
  w.u8(RECORD_FORMAT);
  return w;
}

/** Appends the checksum over `key` and everything written. */
function seal(w: Writer, key: Uint8Array): Uint8Array {
  const unsealed = w.finish();
  const crc = checksum(key, unsealed, unsealed.length);
  w.u32(crc);
  return w.finish();
}

/**
 * Checks a value's checksum and format and returns a reader over its body.
 *
 * @throws RecordError with code 'checksum' or 'malformed'.
 */
export function openRecord(key: Uint8Array, bytes: Uint8Array): Reader {
  if (bytes.length < FORMAT_BYTES + CHECKSUM_BYTES) {
    throw new RecordError('malformed', `${bytes.length} bytes is shorter than any record`);
  }
  const end = bytes.length - CHECKSUM_BYTES;
  const stored = new DataView(bytes.buffer, bytes.byteOffset + end, CHECKSUM_BYTES).getUint32(0);
  const computed = checksum(key, bytes, end);
  if (stored !== computed) {
    throw new RecordError(
      'checksum',
      `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(computed)} over ${end} bytes)`,
    );
  }
  const format = bytes[0];
  if (format !== RECORD_FORMAT && format !== EPOCHLESS_RECORD_FORMAT) {
    throw new RecordError('malformed', `record format ${format} is unknown`);
  }
  return new Reader(bytes.subarray(FORMAT_BYTES, end));
}

/** Whether a record's drafts carry their epoch: the format byte of a value `openRecord` accepted. */
function draftsHaveEpochs(value: Uint8Array): boolean {
  return value[0] !== EPOCHLESS_RECORD_FORMAT;
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/** Runs a body decoder: any decode failure or trailing byte becomes a 'malformed' RecordError. */
function decodeBody<T>(key: Uint8Array, value: Uint8Array, read: (r: Reader) => T): T {
  const r = openRecord(key, value);
  try {
    const result = read(r);
    if (r.remaining !== 0) throw new DecodeFailure('trailing-bytes', `${r.remaining} bytes after the record`);
    return result;
  } catch (error) {
    if (error instanceof DecodeFailure) throw new RecordError('malformed', `${error.code}: ${error.detail}`);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** A signed message, exactly as the wire encodes it, behind a u32 length. */
function signedSize(message: Message): number {
  return 4 + encodedMessageBytes(message);
}

function writeSigned(w: Writer, message: Message): void {
  w.u32(encodedMessageBytes(message));
  writeMessage(w, message);
}

function readSigned<K extends MessageKind>(r: Reader, kind: K): MessageOf<K> {
  const length = r.u32(`${kind} length`);
  const result = decodeMessage(r.bytes(length, kind), STORED_MESSAGE_LIMITS, true);
  if (!result.ok) throw new DecodeFailure(result.error.code, `stored ${kind}: ${result.error.detail}`);
  if (result.message.kind !== kind) {
    throw new DecodeFailure('invalid-value', `expected a stored ${kind}, found a ${result.message.kind}`);
  }
  return result.message as MessageOf<K>;
}

/** A batch, hashes first: u32 count, the hashes, then each vertex's payload, parents and validThrough. */
function batchSize(batch: Batch): number {
  let size = 4;
  for (const vertex of batch)
    size += DIGEST_BYTES + 4 + vertex.payload.length + 2 + vertex.parents.length * DIGEST_BYTES + 8;
  return size;
}

function writeBatch(w: Writer, batch: Batch): void {
  w.u32(batch.length);
  for (const vertex of batch) w.digest(vertex.hash);
  for (const vertex of batch) {
    w.u32(vertex.payload.length);
    w.raw(vertex.payload);
    w.u16(vertex.parents.length);
    for (const parent of vertex.parents) w.digest(parent);
    w.u64(vertex.validThrough);
  }
}

function readBatchHashes(r: Reader): Digest[] {
  const count = r.count(r.u32('batch count'), 0xffff_ffff, DIGEST_BYTES, 'batch hashes');
  const hashes: Digest[] = [];
  for (let i = 0; i < count; i++) hashes.push(r.digest('vertex hash'));
  return hashes;
}

function readBatch(r: Reader): Batch {
  const hashes = readBatchHashes(r);
  const batch: Vertex[] = [];
  for (const hash of hashes) {
    const payload = r.bytes(r.u32('payload length'), 'payload');
    const parentCount = r.count(r.u16('parent count'), 0xffff, DIGEST_BYTES, 'parents');
    const parents: Digest[] = [];
    for (let i = 0; i < parentCount; i++) parents.push(r.digest('parent'));
    const validThrough = r.u64('validThrough');
    batch.push({ payload, parents, validThrough, hash });
  }
  return batch;
}

type StoredPrePrepare = PrePrepare | Draft<PrePrepare>;
type StoredNewView = NewView | Draft<NewView>;

/**
 * How a stored message's signature is held: absent (a draft, which has no `signature` field),
 * empty (`UNSIGNED`, the placeholder a new primary puts in its NEW-VIEW's PRE-PREPAREs), or a
 * real signature (the message is stored in its wire form).
 */
const SIGNATURE_FORM = Object.freeze({ absent: 0, empty: 1, signed: 2 } as const);

function signatureForm(message: StoredPrePrepare | StoredNewView): number {
  const signature = (message as { readonly signature?: Uint8Array }).signature;
  if (signature === undefined) return SIGNATURE_FORM.absent;
  return signature.length === 0 ? SIGNATURE_FORM.empty : SIGNATURE_FORM.signed;
}

function readSignatureForm(r: Reader): number {
  const form = r.u8('signature form');
  if (form > SIGNATURE_FORM.signed) throw new DecodeFailure('invalid-value', `signature form ${form}`);
  return form;
}

/** A draft PRE-PREPARE's fields: epoch, replica, view, sequence, digest, batch presence. */
const PRE_PREPARE_FIELDS_BYTES = 4 + 2 + 2 * U64_BYTES + DIGEST_BYTES + 1;

function prePrepareSize(prePrepare: StoredPrePrepare): number {
  if (signatureForm(prePrepare) === SIGNATURE_FORM.signed) return 1 + signedSize(prePrepare as PrePrepare);
  return 1 + PRE_PREPARE_FIELDS_BYTES + (prePrepare.batch === null ? 0 : batchSize(prePrepare.batch));
}

function writePrePrepare(w: Writer, prePrepare: StoredPrePrepare): void {
  const form = signatureForm(prePrepare);
  w.u8(form);
  if (form === SIGNATURE_FORM.signed) {
    writeSigned(w, prePrepare as PrePrepare);
    return;
  }
  w.u32(prePrepare.epoch);
  w.u16(prePrepare.replica);
  w.u64(prePrepare.view);
  w.u64(prePrepare.sequence);
  w.digest(prePrepare.digest);
  w.bool(prePrepare.batch !== null);
  if (prePrepare.batch !== null) writeBatch(w, prePrepare.batch);
}

function readPrePrepare(r: Reader, epochs: boolean): StoredPrePrepare {
  const form = readSignatureForm(r);
  if (form === SIGNATURE_FORM.signed) return readSigned(r, 'pre-prepare');
  const epoch = epochs ? r.u32('epoch') : 0;
  const replica = r.u16('replica');
  const view = r.u64('view');
  const sequence = r.u64('sequence');
  const digest = r.digest('digest');
  const batch = r.bool('batch presence') ? readBatch(r) : null;
  const draft: Draft<PrePrepare> = { kind: 'pre-prepare', epoch, view, sequence, digest, batch, replica };
  return form === SIGNATURE_FORM.empty ? { ...draft, signature: new Uint8Array(0) } : draft;
}

function newViewSize(newView: StoredNewView): number {
  if (signatureForm(newView) === SIGNATURE_FORM.signed) return 1 + signedSize(newView as NewView);
  let size = 1 + 4 + 2 + U64_BYTES + 2 + 4;
  for (const viewChange of newView.viewChanges) size += signedSize(viewChange);
  for (const prePrepare of newView.prePrepares) size += prePrepareSize(prePrepare);
  return size;
}

function writeNewView(w: Writer, newView: StoredNewView): void {
  const form = signatureForm(newView);
  w.u8(form);
  if (form === SIGNATURE_FORM.signed) {
    writeSigned(w, newView as NewView);
    return;
  }
  w.u32(newView.epoch);
  w.u16(newView.replica);
  w.u64(newView.view);
  w.u16(newView.viewChanges.length);
  for (const viewChange of newView.viewChanges) writeSigned(w, viewChange);
  w.u32(newView.prePrepares.length);
  for (const prePrepare of newView.prePrepares) writePrePrepare(w, prePrepare);
}

function readNewView(r: Reader, epochs: boolean): StoredNewView {
  const form = readSignatureForm(r);
  if (form === SIGNATURE_FORM.signed) return readSigned(r, 'new-view');
  const epoch = epochs ? r.u32('epoch') : 0;
  const replica = r.u16('replica');
  const view = r.u64('view');
  const viewChangeCount = r.u16('view change count');
  const viewChanges = [];
  for (let i = 0; i < viewChangeCount; i++) viewChanges.push(readSigned(r, 'view-change'));
  const prePrepareCount = r.count(r.u32('pre-prepare count'), 0xffff_ffff, 1, 'pre-prepares');
  // A NEW-VIEW's PRE-PREPAREs have type PrePrepare; a draft's carry the empty signature.
  const prePrepares: PrePrepare[] = [];
  for (let i = 0; i < prePrepareCount; i++) prePrepares.push(readPrePrepare(r, epochs) as PrePrepare);
  const draft: Draft<NewView> = { kind: 'new-view', epoch, view, viewChanges, prePrepares, replica };
  return form === SIGNATURE_FORM.empty ? { ...draft, signature: new Uint8Array(0) } : draft;
}

// ---------------------------------------------------------------------------------------------
// Records

/** The metadata record: which store format, cluster and replica this data directory belongs to. */
export interface StoreMeta {
  readonly formatVersion: number;
  readonly clusterId: string;
  readonly replica: number;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeMeta(meta: StoreMeta): Uint8Array {
  const id = textEncoder.encode(meta.clusterId);
  const w = begin(2 + 2 + 2 + id.length);
  w.u16(meta.formatVersion);
  w.u16(meta.replica);
  w.u16(id.length);
  w.raw(id);
  return seal(w, keys.meta());
}

export function decodeMeta(value: Uint8Array): StoreMeta {
  return decodeBody(keys.meta(), value, (r) => {
    const formatVersion = r.u16('format version');
    const replica = r.u16('replica');
    const bytes = r.bytes(r.u16('cluster id length'), 'cluster id');
    let clusterId: string;
    try {
      clusterId = textDecoder.decode(bytes);
    } catch {
      throw new DecodeFailure('invalid-value', 'cluster id is not UTF-8');
    }
    return { formatVersion, clusterId, replica };
  });
}

export function encodeView(record: ViewRecord): Uint8Array {
  let size = 4 + U64_BYTES + 1 + 1 + (record.newView === null ? 0 : newViewSize(record.newView)) + 2;
  for (const timeout of record.timeoutCertificate) size += signedSize(timeout);
  const w = begin(size);
  w.u32(record.epoch);
  w.u64(record.view);
  w.bool(record.active);
  w.bool(record.newView !== null);
  if (record.newView !== null) writeNewView(w, record.newView);
  w.u16(record.timeoutCertificate.length);
  for (const timeout of record.timeoutCertificate) writeSigned(w, timeout);
  return seal(w, keys.view());
}

export function decodeView(value: Uint8Array): ViewRecord {
  return decodeBody(keys.view(), value, (r) => {
    const epochs = draftsHaveEpochs(value);
    const epoch = epochs ? r.u32('epoch') : 0;
    const view = r.u64('view');
    const active = r.bool('active');
    const newView = r.bool('new-view presence') ? readNewView(r, epochs) : null;
    const count = r.u16('timeout certificate count');
    const timeoutCertificate = [];
    for (let i = 0; i < count; i++) timeoutCertificate.push(readSigned(r, 'view-timeout'));
    return { kind: 'view', epoch, view, active, newView, timeoutCertificate };
  });
}

/** How a pre-prepare record holds its batch. */
const BATCH_FORM = Object.freeze({ none: 0, stored: 1, sameAsPrePrepare: 2 } as const);

export function encodePrePrepare(record: PrePrepareRecord): Uint8Array {
  // The batch usually travels both in the PRE-PREPARE and beside it; store it once.
  const shared = record.batch !== null && record.batch === record.prePrepare.batch;
  const form =
    record.batch === null ? BATCH_FORM.none : shared ? BATCH_FORM.sameAsPrePrepare : BATCH_FORM.stored;
  const w = begin(
    U64_BYTES +
      prePrepareSize(record.prePrepare) +
      1 +
      (form === BATCH_FORM.stored ? batchSize(record.batch as Batch) : 0),
  );
  w.u64(record.sequence);
  writePrePrepare(w, record.prePrepare);
  w.u8(form);
  if (form === BATCH_FORM.stored) writeBatch(w, record.batch as Batch);
  return seal(w, keys.prePrepare(record.sequence));
}

export function decodePrePrepare(sequence: number, value: Uint8Array): PrePrepareRecord {
  return decodeBody(keys.prePrepare(sequence), value, (r) => {
    const stored = r.u64('sequence');
    if (stored !== sequence) throw new DecodeFailure('invalid-value', `holds sequence ${stored}`);
    const prePrepare = readPrePrepare(r, draftsHaveEpochs(value));
    const form = r.u8('batch form');
    let batch: Batch | null;
    if (form === BATCH_FORM.none) batch = null;
    else if (form === BATCH_FORM.stored) batch = readBatch(r);
    else if (form === BATCH_FORM.sameAsPrePrepare && prePrepare.batch !== null) batch = prePrepare.batch;
    else throw new DecodeFailure('invalid-value', `batch form ${form}`);
    return { kind: 'pre-prepare', sequence, prePrepare, batch };
  });
}

function preparedCertificateSize(certificate: PreparedCertificate): number {
  let size = signedSize(certificate.prePrepare) + 2;
  for (const prepare of certificate.prepares) size += signedSize(prepare);
  return size;
}

export function encodePrepared(record: PreparedRecord): Uint8Array {
  const w = begin(U64_BYTES + preparedCertificateSize(record.certificate));
  w.u64(record.sequence);
  writeSigned(w, record.certificate.prePrepare);
  w.u16(record.certificate.prepares.length);
  for (const prepare of record.certificate.prepares) writeSigned(w, prepare);
  return seal(w, keys.prepared(record.sequence));
}

export function decodePrepared(sequence: number, value: Uint8Array): PreparedRecord {
  return decodeBody(keys.prepared(sequence), value, (r) => {
    const stored = r.u64('sequence');
    if (stored !== sequence) throw new DecodeFailure('invalid-value', `holds sequence ${stored}`);
    const prePrepare = readSigned(r, 'pre-prepare');
    const count = r.u16('prepare count');
    const prepares = [];
    for (let i = 0; i < count; i++) prepares.push(readSigned(r, 'prepare'));
    return { kind: 'prepared', sequence, certificate: { prePrepare, prepares } };
  });
}

export function encodeStable(certificate: CheckpointCertificate): Uint8Array {
  let size = U64_BYTES + DIGEST_BYTES + 2;
  for (const checkpoint of certificate.proof) size += signedSize(checkpoint);
  const w = begin(size);
  w.u64(certificate.sequence);
  w.digest(certificate.stateDigest);
  w.u16(certificate.proof.length);
  for (const checkpoint of certificate.proof) writeSigned(w, checkpoint);
  return seal(w, keys.stable());
}

export function decodeStable(value: Uint8Array): CheckpointCertificate {
  return decodeBody(keys.stable(), value, (r) => {
    const sequence = r.u64('sequence');
    const stateDigest = r.digest('state digest');
    const count = r.u16('proof count');
    const proof = [];
    for (let i = 0; i < count; i++) proof.push(readSigned(r, 'checkpoint'));
    return { sequence, stateDigest, proof };
  });
}

/**
 * Which positions of a finalized batch were delivered: a form byte, 0 when all of them were
 * (the honest case), else 1, a u32 count and the positions as u32s in ascending order.
 */
const DELIVERED_FORM = Object.freeze({ all: 0, listed: 1 } as const);

function deliveredAll(record: FinalizedRecord): boolean {
  return record.delivered.length === record.batch.length;
}

function deliveredSize(record: FinalizedRecord): number {
  return deliveredAll(record) ? 1 : 1 + 4 + 4 * record.delivered.length;
}

function writeDelivered(w: Writer, record: FinalizedRecord): void {
  if (deliveredAll(record)) {
    w.u8(DELIVERED_FORM.all);
    return;
  }
  w.u8(DELIVERED_FORM.listed);
  w.u32(record.delivered.length);
  for (const position of record.delivered) w.u32(position);
}

/** The delivered positions; `batchLength` checks them (read later, so passed once known). */
function readDelivered(r: Reader): (batchLength: number) => number[] {
  const form = r.u8('delivered form');
  if (form === DELIVERED_FORM.all) return (batchLength) => Array.from({ length: batchLength }, (_, i) => i);
  if (form !== DELIVERED_FORM.listed) throw new DecodeFailure('invalid-value', `delivered form ${form}`);
  const count = r.count(r.u32('delivered count'), 0xffff_ffff, 4, 'delivered positions');
  const positions: number[] = [];
  for (let i = 0; i < count; i++) positions.push(r.u32('delivered position'));
  return (batchLength) => {
    for (const [i, position] of positions.entries()) {
      if (position >= batchLength || (i > 0 && position <= positions[i - 1]!))
        throw new DecodeFailure(
          'invalid-value',
          `delivered positions ${positions.join(',')} in a batch of ${batchLength}`,
        );
    }
    return positions;
  };
}

/**
 * Format 3's record of one accepted vertex: its payload, parents and validThrough (the hash is in
 * the key). This release reads it and never writes it; tests build format-3 stores with it.
 */
export function encodeAccepted(vertex: Vertex): Uint8Array {
  const w = begin(4 + vertex.payload.length + 2 + vertex.parents.length * DIGEST_BYTES + U64_BYTES);
  w.u32(vertex.payload.length);
  w.raw(vertex.payload);
  w.u16(vertex.parents.length);
  for (const parent of vertex.parents) w.digest(parent);
  w.u64(vertex.validThrough);
  return seal(w, keys.accepted(vertex.validThrough, vertex.hash));
}

/** The accepted vertex stored under `key`; its hash and validThrough must match the key's. */
export function decodeAccepted(key: Uint8Array, value: Uint8Array): Vertex {
  return decodeBody(key, value, (r) => {
    const payload = r.bytes(r.u32('payload length'), 'payload');
    const parentCount = r.count(r.u16('parent count'), 0xffff, DIGEST_BYTES, 'parents');
    const parents: Digest[] = [];
    for (let i = 0; i < parentCount; i++) parents.push(r.digest('parent'));
    const validThrough = r.u64('validThrough');
    const parsed = parseKey(key);
    if (parsed?.kind !== 'accepted' || parsed.validThrough !== validThrough)
      throw new DecodeFailure('invalid-value', `holds validThrough ${validThrough}`);
    return { payload, parents, validThrough, hash: parsed.hash };
  });
}

/**
 * The record of one accepted list of client vertices (not empty): its key (see
 * {@link keys.acceptedList}) and its value, the vertices as a batch (hashes first).
 */
export function encodeAcceptedList(vertices: readonly Vertex[]): { key: Uint8Array; value: Uint8Array } {
  if (vertices.length === 0) throw new ArgumentError('an accepted list holds at least one vertex');
  const key = keys.acceptedList(keptThroughOf(vertices), batchDigest(vertices));
  const w = begin(batchSize(vertices));
  writeBatch(w, vertices);
  return { key, value: seal(w, key) };
}

/** The vertices of the accepted list stored under `key`; the key must name them. */
export function decodeAcceptedList(key: Uint8Array, value: Uint8Array): Batch {
  return decodeBody(key, value, (r) => {
    const vertices = readBatch(r);
    const parsed = parseKey(key);
    if (parsed?.kind !== 'acceptedList' || vertices.length === 0) {
      throw new DecodeFailure('invalid-value', 'not an accepted list of at least one vertex');
    }
    const keptThrough = keptThroughOf(vertices);
    if (keptThrough !== parsed.keptThrough) {
      throw new DecodeFailure('invalid-value', `holds vertices kept through ${keptThrough}`);
    }
    if (!bytesEqual(batchDigest(vertices), parsed.digest)) {
      throw new DecodeFailure('invalid-value', 'holds vertices of another digest');
    }
    return vertices;
  });
}

/** The highest validThrough of a list: it is kept until the last of its vertices expires. */
function keptThroughOf(vertices: readonly Vertex[]): number {
  let highest = 0;
  for (const vertex of vertices) if (vertex.validThrough > highest) highest = vertex.validThrough;
  return highest;
}

export function encodeFinalized(record: FinalizedRecord): Uint8Array {
  let size = 2 * U64_BYTES + 2 * DIGEST_BYTES + deliveredSize(record) + batchSize(record.batch) + 2;
  for (const commit of record.commits) size += signedSize(commit);
  const w = begin(size);
  w.u64(record.sequence);
  w.u64(record.view);
  w.digest(record.digest);
  w.digest(record.chainDigest);
  writeDelivered(w, record);
  writeBatch(w, record.batch);
  w.u16(record.commits.length);
  for (const commit of record.commits) writeSigned(w, commit);
  return seal(w, keys.finalized(record.sequence));
}

function readFinalizedHeader(
  r: Reader,
  sequence: number,
): { view: number; digest: Digest; chainDigest: Digest } {
  const stored = r.u64('sequence');
  if (stored !== sequence) throw new DecodeFailure('invalid-value', `holds sequence ${stored}`);
  return { view: r.u64('view'), digest: r.digest('digest'), chainDigest: r.digest('chain digest') };
}

export function decodeFinalized(sequence: number, value: Uint8Array): FinalizedRecord {
  return decodeBody(keys.finalized(sequence), value, (r) => {
    const { view, digest, chainDigest } = readFinalizedHeader(r, sequence);
    const delivered = readDelivered(r);
    const batch = readBatch(r);
    const count = r.u16('commit count');
    const commits = [];
    for (let i = 0; i < count; i++) commits.push(readSigned(r, 'commit'));
    return { sequence, view, digest, batch, commits, chainDigest, delivered: delivered(batch.length) };
  });
}

/**
 * The delivered vertices of a stored finalized record (their hashes and positions, in batch
 * order), without decoding the rest (the checksum is still verified over the whole value).
 */
export function finalizedDeliveredHashes(
  sequence: number,
  value: Uint8Array,
): { readonly hash: Digest; readonly position: number }[] {
  const r = openRecord(keys.finalized(sequence), value);
  try {
    readFinalizedHeader(r, sequence);
    const delivered = readDelivered(r);
    const hashes = readBatchHashes(r);
    return delivered(hashes.length).map((position) => ({ hash: hashes[position]!, position }));
  } catch (error) {
    if (error instanceof DecodeFailure) throw new RecordError('malformed', `${error.code}: ${error.detail}`);
    throw error;
  }
}

/**
 * An epoch of the history: number (u32), start (u64), end and closing sequence (u64 each, 0
 * while the epoch is open: no epoch ends at or is closed by sequence 0), the opening request
 * (u32 length and bytes).
 */
export function encodeEpoch(record: EpochRecord): Uint8Array {
  const w = begin(4 + 3 * U64_BYTES + 4 + record.opening.length);
  w.u32(record.number);
  w.u64(record.start);
  w.u64(record.end ?? 0);
  w.u64(record.closedAt ?? 0);
  w.u32(record.opening.length);
  w.raw(record.opening);
  return seal(w, keys.epoch(record.number));
}

export function decodeEpoch(number: number, value: Uint8Array): EpochRecord {
  return decodeBody(keys.epoch(number), value, (r) => {
    const stored = r.u32('epoch number');
    if (stored !== number) throw new DecodeFailure('invalid-value', `holds epoch ${stored}`);
    const start = r.u64('start');
    const end = r.u64('end');
    const closedAt = r.u64('closing sequence');
    if (start < 1 || (end !== 0 && (end < start || closedAt < 1 || closedAt > end))) {
      throw new DecodeFailure('invalid-value', `epoch range ${start}..${end} closed at ${closedAt}`);
    }
    const opening = r.bytes(r.u32('opening length'), 'opening request');
    return { number, start, end: end === 0 ? null : end, closedAt: end === 0 ? null : closedAt, opening };
  });
}

export function encodeLastFinalized(sequence: number): Uint8Array {
  const w = begin(U64_BYTES);
  w.u64(sequence);
  return seal(w, keys.lastFinalized());
}

export function decodeLastFinalized(value: Uint8Array): number {
  return decodeBody(keys.lastFinalized(), value, (r) => r.u64('sequence'));
}

/** The index watermarks: a count (u16), then one sequence (u64) per bucket. */
export function encodeIndexWatermarks(watermarks: readonly number[]): Uint8Array {
  const w = begin(2 + watermarks.length * U64_BYTES);
  w.u16(watermarks.length);
  for (const sequence of watermarks) w.u64(sequence);
  return seal(w, keys.indexWatermarks());
}

export function decodeIndexWatermarks(value: Uint8Array): number[] {
  return decodeBody(keys.indexWatermarks(), value, (r) => {
    const count = r.u16('bucket count');
    const watermarks: number[] = [];
    for (let i = 0; i < count; i++) watermarks.push(r.u64('watermark'));
    return watermarks;
  });
}

/** A vertex index entry: the vertex hash and where it sits (see the module comment). */
export interface VertexIndexEntry {
  readonly hash: Digest;
  /** The sequence of a finalized batch that holds the vertex. */
  readonly sequence: number;
  /** The vertex's index in that batch. */
  readonly index: number;
}

/** The format byte alone, which an index entry's checksum covers after its key. */
const RECORD_FORMAT_BYTE = Uint8Array.of(RECORD_FORMAT);

/**
 * The key and sealed value of the vertex index entry of (hash, sequence, index): the value is a
 * record with an empty body, the format byte and the checksum over the key and it.
 *
 * Built for the flush, which makes one per finalized vertex, with as few objects as it can:
 * key and value are two pooled arrays (LMDB takes the address of the slab they lie in once for
 * many entries), the hash may be read in place from `hashAt` of a larger array, and the
 * checksum is CRC-32 over the key continued over the format byte, as `seal` computes it.
 */
export function vertexIndexEntry(
  hash: Digest,
  sequence: number,
  index: number,
  hashAt = 0,
): { readonly key: Uint8Array; readonly value: Uint8Array } {
  const key = allocBytes(VERTEX_KEY_BYTES);
  writeVertexKey(key, hash, sequence, index, hashAt);
  const value = allocBytes(FORMAT_BYTES + CHECKSUM_BYTES);
  value[0] = RECORD_FORMAT;
  setU32(value, FORMAT_BYTES, crc32(RECORD_FORMAT_BYTE, crc32(key)));
  return { key, value };
}

/**
 * Verifies a vertex index entry and returns what its key says.
 *
 * @throws RecordError for a bad checksum, a non-empty body, or a key that is not a vertex index key.
 */
export function decodeVertexIndexEntry(key: Uint8Array, value: Uint8Array): VertexIndexEntry {
  const parsed = parseKey(key);
  if (parsed?.kind !== 'vertex') {
    // The entry's meaning is all in its key, so the key's shape is checked as well as the sum.
    throw new RecordError('malformed', `${key.length}-byte key is not a vertex index key`);
  }
  decodeBody(key, value, () => undefined);
  return { hash: parsed.hash, sequence: parsed.sequence, index: parsed.index };
}

/**
 * Verifies and decodes any record by its key (for a full scan of a store or a backup).
 *
 * @throws RecordError for a bad checksum or body; returns null for a key this build does not know.
 */
export function verifyRecord(key: Uint8Array, value: Uint8Array): ParsedKey | null {
  const parsed = parseKey(key);
  if (parsed === null) return null;
  switch (parsed.kind) {
    case 'meta':
      decodeMeta(value);
      break;
    case 'view':
      decodeView(value);
      break;
    case 'stable':
      decodeStable(value);
      break;
    case 'lastFinalized':
      decodeLastFinalized(value);
      break;
    case 'indexWatermarks':
      decodeIndexWatermarks(value);
      break;
    case 'prePrepare':
      decodePrePrepare(parsed.sequence, value);
      break;
    case 'prepared':
      decodePrepared(parsed.sequence, value);
      break;
    case 'finalized':
      decodeFinalized(parsed.sequence, value);
      break;
    case 'vertex':
      decodeVertexIndexEntry(key, value);
      break;
    case 'accepted':
      decodeAccepted(key, value);
      break;
    case 'acceptedList':
      decodeAcceptedList(key, value);
      break;
    case 'epoch':
      decodeEpoch(parsed.number, value);
      break;
  }
  return parsed;
}
