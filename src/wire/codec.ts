/**
 * The binary codec for every protocol message: versioned, bounded, strict and canonical.
 *
 * Layout of a frame body: codec version (u8, 1), wire type id (u8, the kind's index in
 * `MESSAGE_KINDS` plus one; ids are never reused), then the message's fields big-endian:
 *
 * - Every signed message, nested ones included, starts with its epoch (u32) and its signer's
 *   replica id. A REQUEST and a HELD (unsigned) start with the replica id.
 * - replica ids u16; views and sequence numbers u64 holding at most 2^53 - 1; digests 32 raw
 *   bytes; booleans one byte, 0 or 1; signatures a u16 length (1..maxSignatureBytes) and bytes.
 * - Every signed message is its fields, then its signature. A REQUEST is not signed (see
 *   `protocol/messages.ts`): its fields end the frame.
 * - A vertex is its payload (u32 length, bytes), its parents (u16 count, 32 bytes each) and its
 *   validThrough (u64, at least 1); its hash is never sent, the decoder recomputes it. A batch
 *   is a u32 count and its vertices.
 * - A PRE-PREPARE on its own carries a presence byte and, when 1, its batch. Inside prepared
 *   certificates and NEW-VIEW messages only its header travels (no presence byte): the batch is
 *   always absent there, so the encoding has no way to say otherwise.
 * - Lists bounded by the replica count (CHECKPOINT proofs, PREPAREs, VIEW-CHANGEs, COMMITs,
 *   parents) have u16 counts; lists bounded by the window or by a batch have u32 counts.
 * - Nested messages carry no version or type byte: their position says what they are.
 *
 * Decoding is total: any byte string yields a message or a typed error, never an exception, and
 * every count is checked against its limit and against the bytes remaining before allocation.
 * Every accepted input re-encodes to exactly the same bytes.
 */
import { DIGEST_BYTES } from '../crypto/digest.ts';
import { ArgumentError } from '../errors.ts';
import type {
  Checkpoint,
  CheckpointCertificate,
  Commit,
  FinalizedEntry,
  Held,
  Message,
  MessageKind,
  MessageOf,
  NewView,
  PrePrepare,
  Prepare,
  PreparedCertificate,
  Request,
  StateReply,
  StateRequest,
  Status,
  ViewChange,
  ViewTimeout,
} from '../protocol/messages.ts';
import { MESSAGE_KINDS } from '../protocol/messages.ts';
import type { Batch, Digest, Vertex } from '../protocol/types.ts';
import { hashedVertex, vertexPayloadBytes } from '../protocol/types.ts';
import { copyBytes } from './bytes.ts';
import type { DecodeResult } from './errors.ts';
import type { KnownVertices } from './known-vertices.ts';
import {
  BATCH_FIXED_BYTES,
  CHECKPOINT_CERTIFICATE_FIXED_BYTES,
  CHECKPOINT_FIELDS_BYTES,
  CODEC_VERSION,
  EPOCHLESS_CODEC_VERSION,
  FINALIZED_ENTRY_FIXED_BYTES,
  HEADER_BYTES,
  MIN_CHECKPOINT_BYTES,
  MIN_FINALIZED_ENTRY_BYTES,
  MIN_PREPARED_CERTIFICATE_BYTES,
  MIN_VERTEX_BYTES,
  MIN_VIEW_CHANGE_BYTES,
  MIN_VOTE_BYTES,
  REPLICA_BYTES,
  SIGNER_FIELDS_BYTES,
  STATE_REQUEST_FIELDS_BYTES,
  STATUS_FIELDS_BYTES,
  signatureFieldBytes,
  U64_BYTES,
  VERTEX_FIXED_BYTES,
  VIEW_TIMEOUT_FIELDS_BYTES,
  VOTE_FIELDS_BYTES,
} from './layout.ts';
import type { DecodeLimits } from './limits.ts';
import { DecodeFailure, Reader } from './reader.ts';
import { Writer } from './writer.ts';

export { CODEC_VERSION } from './layout.ts';

/** The wire type id of every message kind: its index in `MESSAGE_KINDS` plus one. */
export const WIRE_TYPE_IDS: { readonly [K in MessageKind]: number } = Object.freeze(
  Object.fromEntries(MESSAGE_KINDS.map((kind, index) => [kind, index + 1])) as {
    [K in MessageKind]: number;
  },
);

// ---------------------------------------------------------------------------------------------
// Sizes. Each mirrors its encoder exactly, so that encoding allocates once and never copies.

function vertexSize(vertex: Vertex): number {
  return VERTEX_FIXED_BYTES + vertex.payload.length + vertex.parents.length * DIGEST_BYTES;
}

function verticesSize(vertices: readonly Vertex[]): number {
  let size = BATCH_FIXED_BYTES;
  for (const vertex of vertices) size += vertexSize(vertex);
  return size;
}

function voteSize(message: { readonly signature: Uint8Array }): number {
  return VOTE_FIELDS_BYTES + signatureFieldBytes(message.signature.length);
}

function checkpointCertificateSize(certificate: CheckpointCertificate): number {
  let size = CHECKPOINT_CERTIFICATE_FIXED_BYTES;
  for (const checkpoint of certificate.proof) size += sizes.checkpoint(checkpoint);
  return size;
}

function preparedCertificateSize(certificate: PreparedCertificate): number {
  let size = voteSize(certificate.prePrepare) + 2;
  for (const prepare of certificate.prepares) size += voteSize(prepare);
  return size;
}

function finalizedEntrySize(entry: FinalizedEntry): number {
  let size = FINALIZED_ENTRY_FIXED_BYTES - BATCH_FIXED_BYTES + verticesSize(entry.batch);
  for (const commit of entry.commits) size += voteSize(commit);
  return size;
}

/** Body sizes (without the two header bytes) per kind. */
const sizes: { readonly [K in MessageKind]: (message: MessageOf<K>) => number } = {
  'pre-prepare': (m: PrePrepare) => voteSize(m) + 1 + (m.batch === null ? 0 : verticesSize(m.batch)),
  prepare: voteSize,
  commit: voteSize,
  checkpoint: (m: Checkpoint) => CHECKPOINT_FIELDS_BYTES + signatureFieldBytes(m.signature.length),
  'view-change': (m: ViewChange) => {
    let size = SIGNER_FIELDS_BYTES + U64_BYTES + checkpointCertificateSize(m.checkpoint) + 4;
    for (const certificate of m.prepared) size += preparedCertificateSize(certificate);
    return size + signatureFieldBytes(m.signature.length);
  },
  'new-view': (m: NewView) => {
    let size = SIGNER_FIELDS_BYTES + U64_BYTES + 2 + 4 + signatureFieldBytes(m.signature.length);
    for (const viewChange of m.viewChanges) size += sizes['view-change'](viewChange);
    for (const prePrepare of m.prePrepares) size += voteSize(prePrepare);
    return size;
  },
  request: (m: Request) => REPLICA_BYTES + 1 + verticesSize(m.vertices),
  held: (m: Held) => REPLICA_BYTES + 4 + m.hashes.length * DIGEST_BYTES,
  status: (m: Status) => STATUS_FIELDS_BYTES + signatureFieldBytes(m.signature.length),
  'state-request': (m: StateRequest) => STATE_REQUEST_FIELDS_BYTES + signatureFieldBytes(m.signature.length),
  'state-reply': (m: StateReply) => {
    let size = SIGNER_FIELDS_BYTES + 4 + signatureFieldBytes(m.signature.length);
    for (const entry of m.entries) size += finalizedEntrySize(entry);
    return size;
  },
  'view-timeout': (m: ViewTimeout) => VIEW_TIMEOUT_FIELDS_BYTES + signatureFieldBytes(m.signature.length),
};

function bodySize(message: Message): number {
  return (sizes[message.kind] as (message: Message) => number)(message);
}

/** The exact length of `encodeMessage(message)`, computed without encoding. */
export function encodedMessageBytes(message: Message): number {
  return HEADER_BYTES + bodySize(message);
}

// ---------------------------------------------------------------------------------------------
// Encoders. Inputs come from this replica; a value the layout cannot carry is a local bug and
// throws a ArgumentError (from the writer, or here for a nested PRE-PREPARE with a batch).

function writeSignature(w: Writer, signature: Uint8Array): void {
  if (signature.length === 0) throw new ArgumentError('a signature cannot be empty');
  w.u16(signature.length);
  w.raw(signature);
}

/** Every signed message, nested ones included, starts with its epoch and its signer. */
function writeSigner(w: Writer, m: { readonly epoch: number; readonly replica: number }): void {
  w.u32(m.epoch);
  w.u16(m.replica);
}

/** A vertex's fields as they travel: what peers exchange, and the HTTP API's binary list. */
export interface VertexFields {
  readonly payload: Uint8Array;
  readonly parents: readonly Uint8Array[];
  readonly validThrough: number;
}

/** Bytes a vertex takes in {@link writeVertexFields}. */
export function vertexFieldsBytes(vertex: VertexFields): number {
  return 4 + vertex.payload.length + 2 + vertex.parents.length * DIGEST_BYTES + 8;
}

/** A vertex's fields: u32 payload length, payload, u16 parent count, parent hashes, u64 validThrough. */
export function writeVertexFields(w: Writer, vertex: VertexFields): void {
  w.u32(vertex.payload.length);
  w.raw(vertex.payload);
  w.u16(vertex.parents.length);
  for (const parent of vertex.parents) w.digest(parent);
  w.u64(vertex.validThrough);
}

/** Reads what {@link writeVertexFields} wrote, refusing a payload or parent list beyond the bounds. */
export function readVertexFields(r: Reader, payloadBytesMax: number, parentsMax: number): VertexFields {
  const payloadBytes = readPayloadLength(r, payloadBytesMax);
  const payload = r.bytes(payloadBytes, 'vertex payload');
  const parentCount = r.count(r.u16('parent count'), parentsMax, DIGEST_BYTES, 'vertex parents');
  const parents: Uint8Array[] = [];
  for (let i = 0; i < parentCount; i++) parents.push(r.digest('parent hash'));
  return { payload, parents, validThrough: r.u64('vertex validThrough') };
}

function readPayloadLength(r: Reader, payloadBytesMax: number): number {
  const payloadBytes = r.u32('vertex payload length');
  if (payloadBytes > payloadBytesMax) {
    throw new DecodeFailure('limit-exceeded', `vertex payload of ${payloadBytes} bytes > ${payloadBytesMax}`);
  }
  return payloadBytes;
}

const NO_PARENTS = new Uint8Array(0);

/** A vertex's fields as views of an input (see {@link readVertexViews}). */
interface VertexViews {
  readonly payload: Uint8Array;
  /** The parent hashes one after another. */
  readonly parents: Uint8Array;
  readonly validThrough: number;
}

/** The fields of `views` in arrays of their own, which the input's reuse leaves intact. */
function copiedFields(views: VertexViews): VertexFields {
  const parents: Uint8Array[] = [];
  for (let at = 0; at < views.parents.length; at += DIGEST_BYTES)
    parents.push(copyBytes(views.parents.subarray(at, at + DIGEST_BYTES)));
  return { payload: copyBytes(views.payload), parents, validThrough: views.validThrough };
}

/**
 * {@link readVertexFields} as views of the input: the payload, and the parent hashes one after
 * another. For a caller that copies them (or finds the vertex it has) before the input is reused.
 */
function readVertexViews(r: Reader, payloadBytesMax: number, parentsMax: number): VertexViews {
  const payloadBytes = readPayloadLength(r, payloadBytesMax);
  const payload = r.view(payloadBytes, 'vertex payload');
  const parentCount = r.count(r.u16('parent count'), parentsMax, DIGEST_BYTES, 'vertex parents');
  // Most vertices have no parents: one empty view serves them all.
  const parents = parentCount === 0 ? NO_PARENTS : r.view(parentCount * DIGEST_BYTES, 'parent hash');
  return { payload, parents, validThrough: r.u64('vertex validThrough') };
}

function writeVertices(w: Writer, vertices: readonly Vertex[]): void {
  w.u32(vertices.length);
  for (const vertex of vertices) writeVertexFields(w, vertex);
}

/** PREPARE, COMMIT and a PRE-PREPARE header share these fields. */
function writeVote(w: Writer, m: Prepare | Commit | PrePrepare): void {
  writeSigner(w, m);
  w.u64(m.view);
  w.u64(m.sequence);
  w.digest(m.digest);
}

function writeVoteMessage(w: Writer, m: Prepare | Commit): void {
  writeVote(w, m);
  writeSignature(w, m.signature);
}

function writePrePrepareHeader(w: Writer, m: PrePrepare): void {
  if (m.batch !== null) {
    throw new ArgumentError('a PRE-PREPARE inside a certificate or NEW-VIEW must not carry its batch');
  }
  writeVote(w, m);
  writeSignature(w, m.signature);
}

function writeCheckpoint(w: Writer, m: Checkpoint): void {
  writeSigner(w, m);
  w.u64(m.sequence);
  w.digest(m.stateDigest);
  writeSignature(w, m.signature);
}

function writeViewChange(w: Writer, m: ViewChange): void {
  writeSigner(w, m);
  w.u64(m.view);
  w.u64(m.checkpoint.sequence);
  w.digest(m.checkpoint.stateDigest);
  w.u16(m.checkpoint.proof.length);
  for (const checkpoint of m.checkpoint.proof) writeCheckpoint(w, checkpoint);
  w.u32(m.prepared.length);
  for (const certificate of m.prepared) {
    writePrePrepareHeader(w, certificate.prePrepare);
    w.u16(certificate.prepares.length);
    for (const prepare of certificate.prepares) writeVoteMessage(w, prepare);
  }
  writeSignature(w, m.signature);
}

const encoders: { readonly [K in MessageKind]: (w: Writer, message: MessageOf<K>) => void } = {
  'pre-prepare': (w, m) => {
    writeVote(w, m);
    w.bool(m.batch !== null);
    if (m.batch !== null) writeVertices(w, m.batch);
    writeSignature(w, m.signature);
  },
  prepare: writeVoteMessage,
  commit: writeVoteMessage,
  checkpoint: writeCheckpoint,
  'view-change': writeViewChange,
  'new-view': (w, m) => {
    writeSigner(w, m);
    w.u64(m.view);
    w.u16(m.viewChanges.length);
    for (const viewChange of m.viewChanges) writeViewChange(w, viewChange);
    w.u32(m.prePrepares.length);
    for (const prePrepare of m.prePrepares) writePrePrepareHeader(w, prePrepare);
    writeSignature(w, m.signature);
  },
  request: (w, m) => {
    w.u16(m.replica);
    w.bool(m.hold);
    writeVertices(w, m.vertices);
  },
  held: (w, m) => {
    w.u16(m.replica);
    w.u32(m.hashes.length);
    for (const hash of m.hashes) w.digest(hash);
  },
  status: (w, m) => {
    writeSigner(w, m);
    w.u64(m.view);
    w.bool(m.viewActive);
    w.u64(m.lastExecuted);
    w.u64(m.stableSequence);
    writeSignature(w, m.signature);
  },
  'state-request': (w, m) => {
    writeSigner(w, m);
    w.u64(m.fromSequence);
    w.u64(m.toSequence);
    writeSignature(w, m.signature);
  },
  'state-reply': (w, m) => {
    writeSigner(w, m);
    w.u32(m.entries.length);
    for (const entry of m.entries) {
      w.u64(entry.sequence);
      w.u64(entry.view);
      writeVertices(w, entry.batch);
      w.u16(entry.commits.length);
      for (const commit of entry.commits) writeVoteMessage(w, commit);
    }
    writeSignature(w, m.signature);
  },
  'view-timeout': (w, m) => {
    writeSigner(w, m);
    w.u64(m.view);
    writeSignature(w, m.signature);
  },
};

/** Writes `message`'s body (header and fields) at the writer's position. */
export function writeMessage(w: Writer, message: Message): void {
  w.u8(CODEC_VERSION);
  w.u8(WIRE_TYPE_IDS[message.kind]);
  (encoders[message.kind] as (w: Writer, message: Message) => void)(w, message);
}

/**
 * The frame body of `message`: version, type id, fields. The result is one exactly sized
 * allocation.
 *
 * @throws ArgumentError when a field cannot be represented (a negative or unsafe view, a digest
 *   that is not 32 bytes, an empty signature, a nested PRE-PREPARE with a batch): such a
 *   message can only come from a local bug, never from a peer.
 */
export function encodeMessage(message: Message): Uint8Array {
  const w = new Writer(encodedMessageBytes(message));
  writeMessage(w, message);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoders. Each reads exactly its encoder's layout and checks every value as it goes.

function readReplica(r: Reader, limits: DecodeLimits, what: string): number {
  const replica = r.u16(what);
  if (replica >= limits.replicaCount) {
    throw new DecodeFailure('invalid-value', `${what} ${replica} >= replica count ${limits.replicaCount}`);
  }
  return replica;
}

/**
 * The epoch a signed message starts with; 0 in a body written before epochs existed (see
 * `EPOCHLESS_CODEC_VERSION`), whose messages all belonged to the cluster file's set.
 */
function readEpoch(r: Reader, epochs: boolean): number {
  return epochs ? r.u32('epoch') : 0;
}

function readSignature(r: Reader, limits: DecodeLimits): Uint8Array {
  const length = r.u16('signature length');
  if (length === 0) throw new DecodeFailure('invalid-value', 'empty signature');
  if (length > limits.maxSignatureBytes) {
    throw new DecodeFailure('limit-exceeded', `signature of ${length} bytes > ${limits.maxSignatureBytes}`);
  }
  return r.bytes(length, 'signature');
}

/**
 * A vertex, hashed here; or, when `known` holds one with exactly these bytes, that one, which
 * this replica hashed already (see `known-vertices.ts`).
 */
function readVertex(r: Reader, limits: DecodeLimits, known: KnownVertices | undefined): Vertex {
  const { vertexPayloadBytesMax: payloadMax, vertexParentsMax: parentsMax } = limits;
  if (known === undefined || known.size === 0) {
    // The copies straight away: views first cost a replica that holds nothing (most backups)
    // an object a vertex.
    const { payload, parents, validThrough } = readVertexFields(r, payloadMax, parentsMax);
    return hashedVertex(payload, parents, checkedValidThrough(validThrough));
  }
  const views = readVertexViews(r, payloadMax, parentsMax);
  const validThrough = checkedValidThrough(views.validThrough);
  const held = known.take(views.payload, views.parents, validThrough);
  if (held !== undefined) return held;
  const { payload, parents } = copiedFields(views);
  return hashedVertex(payload, parents, validThrough);
}

function checkedValidThrough(validThrough: number): number {
  if (validThrough < 1) throw new DecodeFailure('invalid-value', 'a vertex valid through sequence 0');
  return validThrough;
}

function readBatch(r: Reader, limits: DecodeLimits, known: KnownVertices | undefined): Batch {
  const count = r.count(r.u32('batch count'), limits.batchCountMax, MIN_VERTEX_BYTES, 'batch vertices');
  const batch: Vertex[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const vertex = readVertex(r, limits, known);
    bytes += vertexPayloadBytes(vertex);
    if (bytes > limits.batchBytesMax) {
      throw new DecodeFailure('limit-exceeded', `batch of more than ${limits.batchBytesMax} payload bytes`);
    }
    batch.push(vertex);
  }
  return batch;
}

function readPrepare(r: Reader, limits: DecodeLimits, epochs: boolean): Prepare {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const view = r.u64('view');
  const sequence = r.u64('sequence');
  const digest = r.digest('digest');
  const signature = readSignature(r, limits);
  return { kind: 'prepare', epoch, view, sequence, digest, replica, signature };
}

function readCommit(r: Reader, limits: DecodeLimits, epochs: boolean): Commit {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const view = r.u64('view');
  const sequence = r.u64('sequence');
  const digest = r.digest('digest');
  const signature = readSignature(r, limits);
  return { kind: 'commit', epoch, view, sequence, digest, replica, signature };
}

function readPrePrepare(
  r: Reader,
  limits: DecodeLimits,
  epochs: boolean,
  withBatch: boolean,
  known?: KnownVertices,
): PrePrepare {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const view = r.u64('view');
  const sequence = r.u64('sequence');
  const digest = r.digest('digest');
  const batch = withBatch && r.bool('batch presence') ? readBatch(r, limits, known) : null;
  const signature = readSignature(r, limits);
  return { kind: 'pre-prepare', epoch, view, sequence, digest, batch, replica, signature };
}

function readCheckpoint(r: Reader, limits: DecodeLimits, epochs: boolean): Checkpoint {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const sequence = r.u64('sequence');
  const stateDigest = r.digest('state digest');
  const signature = readSignature(r, limits);
  return { kind: 'checkpoint', epoch, sequence, stateDigest, replica, signature };
}

function readViewChange(r: Reader, limits: DecodeLimits, epochs: boolean): ViewChange {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const view = r.u64('view');
  const checkpointSequence = r.u64('checkpoint sequence');
  const stateDigest = r.digest('checkpoint state digest');
  const proofCount = r.count(
    r.u16('checkpoint proof count'),
    limits.checkpointProofMax,
    MIN_CHECKPOINT_BYTES,
    'checkpoint proof',
  );
  const proof: Checkpoint[] = [];
  for (let i = 0; i < proofCount; i++) proof.push(readCheckpoint(r, limits, epochs));
  const preparedCount = r.count(
    r.u32('prepared certificate count'),
    limits.preparedCertificatesMax,
    MIN_PREPARED_CERTIFICATE_BYTES,
    'prepared certificates',
  );
  const prepared: PreparedCertificate[] = [];
  for (let i = 0; i < preparedCount; i++) {
    const prePrepare = readPrePrepare(r, limits, epochs, false);
    const prepareCount = r.count(
      r.u16('prepare count'),
      limits.preparesPerCertificateMax,
      MIN_VOTE_BYTES,
      'prepares',
    );
    const prepares: Prepare[] = [];
    for (let j = 0; j < prepareCount; j++) prepares.push(readPrepare(r, limits, epochs));
    prepared.push({ prePrepare, prepares });
  }
  const signature = readSignature(r, limits);
  return {
    kind: 'view-change',
    epoch,
    view,
    checkpoint: { sequence: checkpointSequence, stateDigest, proof },
    prepared,
    replica,
    signature,
  };
}

function readNewView(r: Reader, limits: DecodeLimits, epochs: boolean): NewView {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const view = r.u64('view');
  const viewChangeCount = r.count(
    r.u16('view change count'),
    limits.viewChangesMax,
    MIN_VIEW_CHANGE_BYTES,
    'view changes',
  );
  const viewChanges: ViewChange[] = [];
  for (let i = 0; i < viewChangeCount; i++) viewChanges.push(readViewChange(r, limits, epochs));
  const prePrepareCount = r.count(
    r.u32('pre-prepare count'),
    limits.newViewPrePreparesMax,
    MIN_VOTE_BYTES,
    'pre-prepares',
  );
  const prePrepares: PrePrepare[] = [];
  for (let i = 0; i < prePrepareCount; i++) prePrepares.push(readPrePrepare(r, limits, epochs, false));
  const signature = readSignature(r, limits);
  return { kind: 'new-view', epoch, view, viewChanges, prePrepares, replica, signature };
}

function readRequest(r: Reader, limits: DecodeLimits, _epochs: boolean): Request {
  const replica = readReplica(r, limits, 'replica');
  const hold = r.bool('hold');
  const count = r.count(
    r.u32('vertex count'),
    limits.requestVerticesMax,
    MIN_VERTEX_BYTES,
    'request vertices',
  );
  const vertices: Vertex[] = [];
  for (let i = 0; i < count; i++) vertices.push(readVertex(r, limits, undefined));
  return { kind: 'request', vertices, replica, hold };
}

function readHeld(r: Reader, limits: DecodeLimits, _epochs: boolean): Held {
  const replica = readReplica(r, limits, 'replica');
  const count = r.count(r.u32('hash count'), limits.requestVerticesMax, DIGEST_BYTES, 'held hashes');
  const hashes: Digest[] = [];
  for (let i = 0; i < count; i++) hashes.push(r.digest('held hash'));
  return { kind: 'held', hashes, replica };
}

function readStatus(r: Reader, limits: DecodeLimits, epochs: boolean): Status {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const view = r.u64('view');
  const viewActive = r.bool('view active');
  const lastExecuted = r.u64('last executed');
  const stableSequence = r.u64('stable sequence');
  const signature = readSignature(r, limits);
  return { kind: 'status', epoch, view, viewActive, lastExecuted, stableSequence, replica, signature };
}

function readStateRequest(r: Reader, limits: DecodeLimits, epochs: boolean): StateRequest {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const fromSequence = r.u64('from sequence');
  const toSequence = r.u64('to sequence');
  const signature = readSignature(r, limits);
  return { kind: 'state-request', epoch, fromSequence, toSequence, replica, signature };
}

function readStateReply(r: Reader, limits: DecodeLimits, epochs: boolean): StateReply {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const count = r.count(
    r.u32('entry count'),
    limits.stateEntriesMax,
    MIN_FINALIZED_ENTRY_BYTES,
    'state entries',
  );
  const entries: FinalizedEntry[] = [];
  for (let i = 0; i < count; i++) {
    const sequence = r.u64('entry sequence');
    const view = r.u64('entry view');
    const batch = readBatch(r, limits, undefined);
    const commitCount = r.count(r.u16('commit count'), limits.commitsPerEntryMax, MIN_VOTE_BYTES, 'commits');
    const commits: Commit[] = [];
    for (let j = 0; j < commitCount; j++) commits.push(readCommit(r, limits, epochs));
    entries.push({ sequence, view, batch, commits });
  }
  const signature = readSignature(r, limits);
  return { kind: 'state-reply', epoch, entries, replica, signature };
}

function readViewTimeout(r: Reader, limits: DecodeLimits, epochs: boolean): ViewTimeout {
  const epoch = readEpoch(r, epochs);
  const replica = readReplica(r, limits, 'replica');
  const view = r.u64('view');
  const signature = readSignature(r, limits);
  return { kind: 'view-timeout', epoch, view, replica, signature };
}

type Decoder<M> = (r: Reader, limits: DecodeLimits, epochs: boolean, known: KnownVertices | undefined) => M;

const decoders: { readonly [K in MessageKind]: Decoder<MessageOf<K>> } = {
  'pre-prepare': (r, limits, epochs, known) => readPrePrepare(r, limits, epochs, true, known),
  prepare: readPrepare,
  commit: readCommit,
  checkpoint: readCheckpoint,
  'view-change': readViewChange,
  'new-view': readNewView,
  request: readRequest,
  held: readHeld,
  status: readStatus,
  'state-request': readStateRequest,
  'state-reply': readStateReply,
  'view-timeout': readViewTimeout,
};

/** Decoders indexed by wire type id (index 0 is id 1). */
const decodersById: readonly Decoder<Message>[] = MESSAGE_KINDS.map((kind) => decoders[kind]);

/**
 * Decodes one frame body. Never throws on any input and never allocates more than the input
 * justifies: every declared count is checked against its limit and against the remaining bytes
 * before anything is allocated for it.
 *
 * The result owns its byte arrays (payloads, digests and signatures are copies), so the caller
 * may reuse `bytes` afterwards. Vertex hashes are recomputed, never read from the wire, but
 * for a vertex of a PRE-PREPARE's batch whose bytes equal one in `known`: that one is
 * returned, hashed by this replica already (`known-vertices.ts`).
 *
 * The decoder checks the encoding only: whether a digest matches its batch, whether a
 * certificate's votes match each other or are signed by the right replicas is for the signature
 * checks (`signaturesOf`) and the protocol core.
 *
 * `acceptEpochless` is for bodies read back from a store: it also accepts codec version 2,
 * written before epochs existed, and reads its messages as epoch 0. Such a body re-encodes as
 * version 3. Frames from peers never set it, so every body a peer sends is canonical.
 */
export function decodeMessage(
  bytes: Uint8Array,
  limits: DecodeLimits,
  acceptEpochless = false,
  known?: KnownVertices,
): DecodeResult {
  if (bytes.length > limits.maxFrameBytes) {
    return {
      ok: false,
      error: { code: 'frame-too-large', detail: `${bytes.length} bytes > ${limits.maxFrameBytes}` },
    };
  }
  const r = new Reader(bytes);
  try {
    const version = r.u8('codec version');
    const epochless = acceptEpochless && version === EPOCHLESS_CODEC_VERSION;
    if (version !== CODEC_VERSION && !epochless) {
      throw new DecodeFailure('unknown-version', `codec version ${version}`);
    }
    const typeId = r.u8('type id');
    const decode = decodersById[typeId - 1];
    if (decode === undefined) throw new DecodeFailure('unknown-type', `wire type id ${typeId}`);
    const message = decode(r, limits, !epochless, known);
    if (r.remaining !== 0) {
      throw new DecodeFailure('trailing-bytes', `${r.remaining} bytes after a complete ${message.kind}`);
    }
    return { ok: true, message };
  } catch (error) {
    // Only the decoder's own signal becomes a result; anything else is a bug in this module and
    // must surface, not be counted as a peer's fault.
    if (error instanceof DecodeFailure)
      return { ok: false, error: { code: error.code, detail: error.detail } };
    throw error;
  }
}
