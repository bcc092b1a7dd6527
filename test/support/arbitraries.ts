/**
 * fast-check arbitraries for every protocol message, valid under a given {@link DecodeLimits}.
 *
 * Shared by the wire tests and the fuzzer: every generated message encodes, decodes back to
 * itself, and respects every count and length limit (lists are also capped by
 * `maxListLength` so that runs stay fast; raise it to explore larger messages). The `message`
 * arbitrary also respects `maxFrameBytes`; the per-kind ones do not check the frame bound.
 *
 * Field values are structurally valid only: digests do not match batches, certificates do not
 * agree with themselves, signatures are random bytes of the configured length. That is what a
 * codec and a decoder fuzzer need; protocol tests build meaningful messages elsewhere.
 */
import fc from 'fast-check';
import { DIGEST_BYTES } from '../../src/crypto/digest.ts';
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
  SignedMessage,
  StateReply,
  StateRequest,
  Status,
  ViewChange,
  ViewTimeout,
} from '../../src/protocol/messages.ts';
import { isSignedKind, MESSAGE_KINDS } from '../../src/protocol/messages.ts';
import type { Batch, Digest, ReplicaId, Vertex } from '../../src/protocol/types.ts';
import { createVertex } from '../../src/protocol/types.ts';
import type { DecodeLimits } from '../../src/wire/index.ts';
import { encodedMessageBytes } from '../../src/wire/index.ts';
import { TEST_VALID_THROUGH } from './vertex.ts';

/** How to generate messages. */
export interface MessageArbitraryOptions {
  /** The limits every generated message must satisfy. */
  readonly limits: DecodeLimits;
  /**
   * Signature lengths: one length (a real scheme: 4,627 for ML-DSA-87, 16 for the simulation
   * scheme) or a range. Default: 1 to min(maxSignatureBytes, 64).
   */
  readonly signatureBytes?: number | { readonly min: number; readonly max: number };
  /** A cap on every generated list below its limit (default 4). */
  readonly maxListLength?: number;
  /** A cap on generated payload lengths below `vertexPayloadBytesMax` (default 64). */
  readonly maxPayloadBytes?: number;
  /** The usual range of views and sequences, 0 to this (default 1000); huge values still appear. */
  readonly counterMax?: number;
}

/** Arbitraries for every building block and every message kind. */
export interface MessageArbitraries {
  readonly replica: fc.Arbitrary<ReplicaId>;
  /**
   * A signed message's epoch: mostly 0 (today's clusters), sometimes any u32. Nested messages
   * draw their own: the certificates generated here need not agree with themselves.
   */
  readonly epoch: fc.Arbitrary<number>;
  /** A view or sequence number: mostly small, sometimes up to 2^53 - 1. */
  readonly counter: fc.Arbitrary<number>;
  readonly digest: fc.Arbitrary<Digest>;
  readonly signature: fc.Arbitrary<Uint8Array>;
  readonly vertex: fc.Arbitrary<Vertex>;
  /** A batch within `batchCountMax` and `batchBytesMax`. */
  readonly batch: fc.Arbitrary<Batch>;
  /** A PRE-PREPARE without its batch, as certificates and NEW-VIEW carry it. */
  readonly prePrepareHeader: fc.Arbitrary<PrePrepare>;
  readonly checkpointCertificate: fc.Arbitrary<CheckpointCertificate>;
  readonly preparedCertificate: fc.Arbitrary<PreparedCertificate>;
  readonly finalizedEntry: fc.Arbitrary<FinalizedEntry>;
  /** Every kind, by name. */
  readonly byKind: { readonly [K in MessageKind]: fc.Arbitrary<MessageOf<K>> };
  /** Any message of any kind that fits in `maxFrameBytes`. */
  readonly message: fc.Arbitrary<Message>;
  /** Any message of a signed kind (all but REQUEST) that fits in `maxFrameBytes`. */
  readonly signedMessage: fc.Arbitrary<SignedMessage>;
}

/**
 * Bytes of a given length expanded from a 32-bit seed. Generating thousands of signature bytes
 * one fast-check integer at a time is slow and shrinking them is pointless.
 */
function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed | 1;
  for (let i = 0; i < length; i++) {
    // xorshift32: cheap, deterministic, good enough for filler bytes.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

/**
 * fast-check sometimes builds records with a null prototype; decoded messages are plain
 * objects, and deep equality compares prototypes, so ask for plain objects only.
 */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

/** Builds the arbitraries for `options`. */
export function messageArbitraries(options: MessageArbitraryOptions): MessageArbitraries {
  const { limits } = options;
  const cap = options.maxListLength ?? 4;
  const list = <T>(element: fc.Arbitrary<T>, limit: number): fc.Arbitrary<T[]> =>
    fc.array(element, { maxLength: Math.min(cap, limit) });

  const replica = fc.nat({ max: limits.replicaCount - 1 });
  const epoch = fc.oneof(
    { arbitrary: fc.constant(0), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }), weight: 1 },
    { arbitrary: fc.constant(0xffff_ffff), weight: 1 },
  );
  const counter = fc.oneof(
    { arbitrary: fc.nat({ max: options.counterMax ?? 1000 }), weight: 4 },
    { arbitrary: fc.maxSafeNat(), weight: 1 },
    { arbitrary: fc.constant(Number.MAX_SAFE_INTEGER), weight: 1 },
  );
  const digest = fc.uint8Array({ minLength: DIGEST_BYTES, maxLength: DIGEST_BYTES });

  const requested = options.signatureBytes ?? { min: 1, max: Math.min(limits.maxSignatureBytes, 64) };
  const signatureRange = typeof requested === 'number' ? { min: requested, max: requested } : requested;
  if (signatureRange.min < 1 || signatureRange.max > limits.maxSignatureBytes) {
    throw new RangeError('signature lengths must be within 1..maxSignatureBytes');
  }
  const signature = fc
    .tuple(fc.integer(signatureRange), fc.integer())
    .map(([length, seed]) => seededBytes(length, seed));

  const vertex = fc
    .tuple(
      fc.uint8Array({ maxLength: Math.min(options.maxPayloadBytes ?? 64, limits.vertexPayloadBytesMax) }),
      list(digest, limits.vertexParentsMax),
    )
    .map(([payload, parents]) =>
      createVertex(payload, { parents: parents, validThrough: TEST_VALID_THROUGH }),
    );

  // Keep the longest prefix that fits the byte limit, rather than filtering, so that no
  // generation is wasted.
  const batch: fc.Arbitrary<Batch> = list(vertex, limits.batchCountMax).map((vertices) => {
    let bytes = 0;
    let count = 0;
    for (const v of vertices) {
      bytes += v.payload.length + v.parents.length * DIGEST_BYTES;
      if (bytes > limits.batchBytesMax) break;
      count++;
    }
    return vertices.slice(0, count);
  });

  const prePrepareWith = (batchArbitrary: fc.Arbitrary<Batch | null>): fc.Arbitrary<PrePrepare> =>
    record({
      kind: fc.constant('pre-prepare' as const),
      epoch,
      view: counter,
      sequence: counter,
      digest,
      batch: batchArbitrary,
      replica,
      signature,
    });
  const prePrepareHeader = prePrepareWith(fc.constant(null));
  const prePrepare = prePrepareWith(fc.option(batch, { nil: null }));

  const prepare: fc.Arbitrary<Prepare> = record({
    kind: fc.constant('prepare' as const),
    epoch,
    view: counter,
    sequence: counter,
    digest,
    replica,
    signature,
  });
  const commit: fc.Arbitrary<Commit> = record({
    kind: fc.constant('commit' as const),
    epoch,
    view: counter,
    sequence: counter,
    digest,
    replica,
    signature,
  });
  const checkpoint: fc.Arbitrary<Checkpoint> = record({
    kind: fc.constant('checkpoint' as const),
    epoch,
    sequence: counter,
    stateDigest: digest,
    replica,
    signature,
  });
  const checkpointCertificate: fc.Arbitrary<CheckpointCertificate> = record({
    sequence: counter,
    stateDigest: digest,
    proof: list(checkpoint, limits.checkpointProofMax),
  });
  const preparedCertificate: fc.Arbitrary<PreparedCertificate> = record({
    prePrepare: prePrepareHeader,
    prepares: list(prepare, limits.preparesPerCertificateMax),
  });
  const viewChange: fc.Arbitrary<ViewChange> = record({
    kind: fc.constant('view-change' as const),
    epoch,
    view: counter,
    checkpoint: checkpointCertificate,
    prepared: list(preparedCertificate, limits.preparedCertificatesMax),
    replica,
    signature,
  });
  const newView: fc.Arbitrary<NewView> = record({
    kind: fc.constant('new-view' as const),
    epoch,
    view: counter,
    viewChanges: list(viewChange, limits.viewChangesMax),
    prePrepares: list(prePrepareHeader, limits.newViewPrePreparesMax),
    replica,
    signature,
  });
  const request: fc.Arbitrary<Request> = record({
    kind: fc.constant('request' as const),
    vertices: list(vertex, limits.requestVerticesMax),
    replica,
    hold: fc.boolean(),
  });
  const held: fc.Arbitrary<Held> = record({
    kind: fc.constant('held' as const),
    hashes: list(digest, limits.requestVerticesMax),
    replica,
  });
  const status: fc.Arbitrary<Status> = record({
    kind: fc.constant('status' as const),
    epoch,
    view: counter,
    viewActive: fc.boolean(),
    lastExecuted: counter,
    stableSequence: counter,
    replica,
    signature,
  });
  const stateRequest: fc.Arbitrary<StateRequest> = record({
    kind: fc.constant('state-request' as const),
    epoch,
    fromSequence: counter,
    toSequence: counter,
    replica,
    signature,
  });
  const finalizedEntry: fc.Arbitrary<FinalizedEntry> = record({
    sequence: counter,
    view: counter,
    batch,
    commits: list(commit, limits.commitsPerEntryMax),
  });
  const stateReply: fc.Arbitrary<StateReply> = record({
    kind: fc.constant('state-reply' as const),
    epoch,
    entries: list(finalizedEntry, limits.stateEntriesMax),
    replica,
    signature,
  });

  const viewTimeout: fc.Arbitrary<ViewTimeout> = record({
    kind: fc.constant('view-timeout' as const),
    epoch,
    view: counter,
    replica,
    signature,
  });

  const byKind: { readonly [K in MessageKind]: fc.Arbitrary<MessageOf<K>> } = {
    'pre-prepare': prePrepare,
    prepare,
    commit,
    checkpoint,
    'view-change': viewChange,
    'new-view': newView,
    request,
    held,
    status,
    'state-request': stateRequest,
    'state-reply': stateReply,
    'view-timeout': viewTimeout,
  };
  const message: fc.Arbitrary<Message> = fc
    .oneof(...MESSAGE_KINDS.map((kind): fc.Arbitrary<Message> => byKind[kind]))
    .filter((m) => encodedMessageBytes(m) <= limits.maxFrameBytes);
  const signedMessage = message.filter((m): m is SignedMessage => isSignedKind(m));

  return {
    replica,
    epoch,
    counter,
    digest,
    signature,
    vertex,
    batch,
    prePrepareHeader,
    checkpointCertificate,
    preparedCertificate,
    finalizedEntry,
    byKind,
    message,
    signedMessage,
  };
}
