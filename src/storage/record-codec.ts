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
 * big-endian u64 (so LMDB's byte order is sequence order), or a vertex hash. Prefixes are never
 * reused once released (STYLE 11); a new kind gets a new byte.
 *
 * | prefix | key                    | value                                                   |
 * |--------|------------------------|---------------------------------------------------------|
 * | 0x01   | meta                   | store format version, replica id, cluster id            |
 * | 0x02   | view                   | view, active, NEW-VIEW (signed or draft) or none         |
 * | 0x03   | stable                 | stable checkpoint certificate (sequence, digest, proof)  |
 * | 0x04   | pre-prepare + u64 seq  | PRE-PREPARE (signed or draft) and the batch if known     |
 * | 0x05   | prepared + u64 seq     | prepared certificate (PRE-PREPARE header and PREPAREs)   |
 * | 0x06   | finalized + u64 seq    | view, digest, chain digest, batch, commit certificate    |
 * | 0x07   | last finalized         | the highest sequence ever finalized                      |
 * | 0x08   | vertex + 32-byte hash  | positions: (sequence, index in batch), first delivered   |
 *
 * Value: record format (u8, 1), the body, then a CRC-32 (u32) over the key and everything
 * before it. Covering the key catches a record that landed under the wrong key; covering the
 * format byte catches a flipped version.
 *
 * Why CRC-32: the checksum guards against accidental damage (bit rot, a torn or misdirected
 * write, a bad copy), since LMDB keeps no checksums of its own. CRC-32 detects every burst of up
 * to 32 flipped bits and lets random damage through with probability 2^-32 per record, and
 * `node:zlib` computes it natively at gigabytes per second, which matters because every read
 * (restore, state transfer, vertex lookups) verifies it. A cryptographic hash would buy nothing
 * more: whoever can write the data file can recompute any checksum, so tampering is out of
 * scope for it either way. (CRC-32C would be marginally stronger but Node has no built-in one.)
 * Backups additionally carry a SHA-256 of the whole file (see `lmdb.ts`).
 *
 * Vertex hashes are stored with their vertices rather than recomputed on read: the checksum
 * already vouches for the bytes, and reading a batch's hashes must be cheap (pruning a finalized
 * record removes its vertices from the index). A batch therefore stores its hashes first.
 */
import { crc32 } from 'node:zlib';
import { DIGEST_BYTES } from '../crypto/digest.ts';
import type { PrePrepareRecord, PreparedRecord, ViewRecord } from '../protocol/durable-image.ts';
import type { FinalizedRecord } from '../protocol/effects.ts';
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
import type { Batch, Digest, Vertex } from '../protocol/types.ts';
import { decodeMessage, encodedMessageBytes, writeMessage } from '../wire/codec.ts';
import { type DecodeLimits, decodeLimitsFor } from '../wire/limits.ts';
import { DecodeFailure, Reader } from '../wire/reader.ts';
import { Writer } from '../wire/writer.ts';

/** The layout of record values. Bump it (and keep reading the old one) for a new layout. */
export const RECORD_FORMAT = 1;

/** The layout of keys and the set of record kinds, recorded in the metadata record. */
export const STORE_FORMAT_VERSION = 1;

/** Key prefixes, one per record kind. Never reorder, reuse or remove an entry. */
export const KEY_PREFIX = Object.freeze({
  meta: 0x01,
  view: 0x02,
  stable: 0x03,
  prePrepare: 0x04,
  prepared: 0x05,
  finalized: 0x06,
  lastFinalized: 0x07,
  vertex: 0x08,
} as const);

/** A record kind, named by its key prefix. */
export type RecordKind = keyof typeof KEY_PREFIX;

const CHECKSUM_BYTES = 4;
const FORMAT_BYTES = 1;
const U64_BYTES = 8;

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
export class RecordError extends Error {
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

/** Record keys. */
export const keys = Object.freeze({
  meta: (): Uint8Array => singleKey(KEY_PREFIX.meta),
  view: (): Uint8Array => singleKey(KEY_PREFIX.view),
  stable: (): Uint8Array => singleKey(KEY_PREFIX.stable),
  lastFinalized: (): Uint8Array => singleKey(KEY_PREFIX.lastFinalized),
  prePrepare: (sequence: number): Uint8Array => keyBySequence(KEY_PREFIX.prePrepare, sequence),
  prepared: (sequence: number): Uint8Array => keyBySequence(KEY_PREFIX.prepared, sequence),
  finalized: (sequence: number): Uint8Array => keyBySequence(KEY_PREFIX.finalized, sequence),
  vertex: (hash: Digest): Uint8Array => {
    const w = new Writer(1 + DIGEST_BYTES);
    w.u8(KEY_PREFIX.vertex);
    w.digest(hash);
    return w.finish();
  },
});

/** What a key is: its kind and, for records by sequence or hash, which one. */
export type ParsedKey =
  | { readonly kind: 'meta' | 'view' | 'stable' | 'lastFinalized' }
  | { readonly kind: 'prePrepare' | 'prepared' | 'finalized'; readonly sequence: number }
  | { readonly kind: 'vertex'; readonly hash: Digest };

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
      return key.length === 1 ? { kind } : null;
    case 'prePrepare':
    case 'prepared':
    case 'finalized': {
      if (key.length !== 1 + U64_BYTES) return null;
      try {
        const r = new Reader(plain(key));
        r.u8('prefix');
        return { kind, sequence: r.u64('sequence') };
      } catch {
        return null;
      }
    }
    case 'vertex':
      return key.length === 1 + DIGEST_BYTES ? { kind, hash: key.slice(1) } : null;
  }
}

/** A key in words, for error messages: "finalized record at sequence 42". */
export function describeKey(key: Uint8Array): string {
  const parsed = parseKey(key);
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
    case 'prePrepare':
      return `pre-prepare record at sequence ${parsed.sequence}`;
    case 'prepared':
      return `prepared certificate record at sequence ${parsed.sequence}`;
    case 'finalized':
      return `finalized record at sequence ${parsed.sequence}`;
    case 'vertex':
      return `vertex index record for ${Buffer.from(parsed.hash).toString('hex')}`;
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

/** A plain Uint8Array view (a Buffer's `slice` aliases; the Reader needs copies). */
function plain(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Checks a value's checksum and format and returns a reader over its body.
 *
 * @throws RecordError with code 'checksum' or 'malformed'.
 */
export function openRecord(key: Uint8Array, value: Uint8Array): Reader {
  const bytes = plain(value);
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
  if (format !== RECORD_FORMAT) throw new RecordError('malformed', `record format ${format} is unknown`);
  return new Reader(bytes.subarray(FORMAT_BYTES, end));
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
  const result = decodeMessage(r.bytes(length, kind), STORED_MESSAGE_LIMITS);
  if (!result.ok) throw new DecodeFailure(result.error.code, `stored ${kind}: ${result.error.detail}`);
  if (result.message.kind !== kind) {
    throw new DecodeFailure('invalid-value', `expected a stored ${kind}, found a ${result.message.kind}`);
  }
  return result.message as MessageOf<K>;
}

/** A batch, hashes first: u32 count, the hashes, then each vertex's payload and parents. */
function batchSize(batch: Batch): number {
  let size = 4;
  for (const vertex of batch)
    size += DIGEST_BYTES + 4 + vertex.payload.length + 2 + vertex.parents.length * DIGEST_BYTES;
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
    batch.push({ payload, parents, hash });
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

const PRE_PREPARE_FIELDS_BYTES = 2 + 2 * U64_BYTES + DIGEST_BYTES + 1;

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
  w.u16(prePrepare.replica);
  w.u64(prePrepare.view);
  w.u64(prePrepare.sequence);
  w.digest(prePrepare.digest);
  w.bool(prePrepare.batch !== null);
  if (prePrepare.batch !== null) writeBatch(w, prePrepare.batch);
}

function readPrePrepare(r: Reader): StoredPrePrepare {
  const form = readSignatureForm(r);
  if (form === SIGNATURE_FORM.signed) return readSigned(r, 'pre-prepare');
  const replica = r.u16('replica');
  const view = r.u64('view');
  const sequence = r.u64('sequence');
  const digest = r.digest('digest');
  const batch = r.bool('batch presence') ? readBatch(r) : null;
  const draft: Draft<PrePrepare> = { kind: 'pre-prepare', view, sequence, digest, batch, replica };
  return form === SIGNATURE_FORM.empty ? { ...draft, signature: new Uint8Array(0) } : draft;
}

function newViewSize(newView: StoredNewView): number {
  if (signatureForm(newView) === SIGNATURE_FORM.signed) return 1 + signedSize(newView as NewView);
  let size = 1 + 2 + U64_BYTES + 2 + 4;
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
  w.u16(newView.replica);
  w.u64(newView.view);
  w.u16(newView.viewChanges.length);
  for (const viewChange of newView.viewChanges) writeSigned(w, viewChange);
  w.u32(newView.prePrepares.length);
  for (const prePrepare of newView.prePrepares) writePrePrepare(w, prePrepare);
}

function readNewView(r: Reader): StoredNewView {
  const form = readSignatureForm(r);
  if (form === SIGNATURE_FORM.signed) return readSigned(r, 'new-view');
  const replica = r.u16('replica');
  const view = r.u64('view');
  const viewChangeCount = r.u16('view change count');
  const viewChanges = [];
  for (let i = 0; i < viewChangeCount; i++) viewChanges.push(readSigned(r, 'view-change'));
  const prePrepareCount = r.count(r.u32('pre-prepare count'), 0xffff_ffff, 1, 'pre-prepares');
  // A NEW-VIEW's PRE-PREPAREs have type PrePrepare; a draft's carry the empty signature.
  const prePrepares: PrePrepare[] = [];
  for (let i = 0; i < prePrepareCount; i++) prePrepares.push(readPrePrepare(r) as PrePrepare);
  const draft: Draft<NewView> = { kind: 'new-view', view, viewChanges, prePrepares, replica };
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
  const w = begin(U64_BYTES + 1 + 1 + (record.newView === null ? 0 : newViewSize(record.newView)));
  w.u64(record.view);
  w.bool(record.active);
  w.bool(record.newView !== null);
  if (record.newView !== null) writeNewView(w, record.newView);
  return seal(w, keys.view());
}

export function decodeView(value: Uint8Array): ViewRecord {
  return decodeBody(keys.view(), value, (r) => {
    const view = r.u64('view');
    const active = r.bool('active');
    const newView = r.bool('new-view presence') ? readNewView(r) : null;
    return { kind: 'view', view, active, newView };
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
    const prePrepare = readPrePrepare(r);
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

export function encodeFinalized(record: FinalizedRecord): Uint8Array {
  let size = 2 * U64_BYTES + 2 * DIGEST_BYTES + batchSize(record.batch) + 2;
  for (const commit of record.commits) size += signedSize(commit);
  const w = begin(size);
  w.u64(record.sequence);
  w.u64(record.view);
  w.digest(record.digest);
  w.digest(record.chainDigest);
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
    const batch = readBatch(r);
    const count = r.u16('commit count');
    const commits = [];
    for (let i = 0; i < count; i++) commits.push(readSigned(r, 'commit'));
    return { sequence, view, digest, batch, commits, chainDigest };
  });
}

/**
 * The vertex hashes of a stored finalized record, in batch order, without decoding the rest
 * (the checksum is still verified over the whole value).
 */
export function finalizedVertexHashes(sequence: number, value: Uint8Array): Digest[] {
  const r = openRecord(keys.finalized(sequence), value);
  try {
    readFinalizedHeader(r, sequence);
    return readBatchHashes(r);
  } catch (error) {
    if (error instanceof DecodeFailure) throw new RecordError('malformed', `${error.code}: ${error.detail}`);
    throw error;
  }
}

export function encodeLastFinalized(sequence: number): Uint8Array {
  const w = begin(U64_BYTES);
  w.u64(sequence);
  return seal(w, keys.lastFinalized());
}

export function decodeLastFinalized(value: Uint8Array): number {
  return decodeBody(keys.lastFinalized(), value, (r) => r.u64('sequence'));
}

/** Where a finalized vertex sits: the sequence of its batch and its index in the batch. */
export interface VertexPosition {
  readonly sequence: number;
  readonly index: number;
}

/**
 * A vertex's index entry lists every kept position of the vertex, in (sequence, index) order:
 * the first is where it was delivered; later ones are copies in later batches (not delivered
 * again), kept so that pruning the first batch leaves the vertex findable in the next.
 */
export function encodeVertexPositions(hash: Digest, positions: readonly VertexPosition[]): Uint8Array {
  const w = begin(4 + positions.length * (U64_BYTES + 4));
  w.u32(positions.length);
  for (const position of positions) {
    w.u64(position.sequence);
    w.u32(position.index);
  }
  return seal(w, keys.vertex(hash));
}

export function decodeVertexPositions(hash: Digest, value: Uint8Array): VertexPosition[] {
  return decodeBody(keys.vertex(hash), value, (r) => {
    const count = r.count(r.u32('position count'), 0xffff_ffff, U64_BYTES + 4, 'positions');
    if (count === 0) throw new DecodeFailure('invalid-value', 'no positions');
    const positions: VertexPosition[] = [];
    for (let i = 0; i < count; i++) positions.push({ sequence: r.u64('sequence'), index: r.u32('index') });
    return positions;
  });
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
      decodeVertexPositions(parsed.hash, value);
      break;
  }
  return parsed;
}
