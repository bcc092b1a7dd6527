/**
 * The connection handshake: mutual authentication of two validators with their ML-DSA-87 keys,
 * before a single consensus frame is exchanged.
 *
 * Both sides speak at once; neither waits for the other to go first:
 *
 * 1. Each sends a HELLO: protocol version, cluster id, its node id, a fresh 32-byte random
 *    challenge and a 16-byte instance id (fresh at every transport start, so that a peer can
 *    tell a restarted node's new connection from a stale one of its previous life).
 * 2. Each checks the peer's HELLO (a guard that returns the reason to refuse: wrong version,
 *    wrong cluster, unknown node id, its own id, a challenge seen before), then signs the
 *    transcript and sends an AUTH carrying the signature.
 * 3. Each verifies the peer's AUTH against the public key registered for the node id that the
 *    peer's HELLO claimed, and sends READY (or REFUSE).
 * 4. Each waits for the peer's READY: only then do both sides know that the other accepted them,
 *    so neither sends data into a connection the other is about to close.
 *
 * The signed transcript is the signer's HELLO, then the verifier's HELLO (so the signature
 * covers the peer's challenge, the cluster id and both node ids), then the channel binding: on
 * TLS, keying material exported from the TLS session, which ties the authentication to this
 * one TLS connection so that a machine in the middle cannot relay it into a session of its
 * own. The ML-DSA context is {@link HANDSHAKE_CONTEXT}, distinct from the consensus context,
 * so that a handshake signature can never be passed off as a consensus message or back.
 *
 * Any failure ends the handshake with a typed {@link HandshakeRefusal}; where the peer can still
 * hear it, a REFUSE frame tells it why before the socket is closed. Nothing a peer sends can
 * throw here: every malformed input is a refusal.
 *
 * Handshake frames use the same u32 length prefix as data frames but a much smaller bound
 * ({@link HANDSHAKE_FRAME_BYTES_MAX}), since an unauthenticated peer is owed very little memory.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { bytesEqual, toHex } from '../crypto/digest.ts';
import type { PrivateKey, PublicKey, SignatureScheme } from '../crypto/scheme.ts';
import { FRAME_PREFIX_BYTES } from '../wire/frame.ts';
import { Writer } from '../wire/writer.ts';
import type { NodeId } from './transport.ts';

/** The ML-DSA-87 context of every handshake signature (FIPS 204 domain separation). */
export const HANDSHAKE_CONTEXT: Uint8Array = new TextEncoder().encode('cretoai-consensus/handshake/v1');

/**
 * The handshake protocol version this build speaks; it also names the message layouts spoken
 * after it. Version 2: REQUESTs carry no signature. A peer of version 1 would send REQUEST
 * frames this build cannot decode, and each would count against it as malformed, so the two
 * refuse each other here, with a reason, before any message.
 */
export const HANDSHAKE_VERSION = 2;

/** The first bytes of every handshake frame: ASCII "CRHS". Refuses strangers fast. */
const MAGIC = Object.freeze([0x43, 0x52, 0x48, 0x53] as const);

/** Bytes of a challenge: 256 bits of fresh randomness per connection. */
export const CHALLENGE_BYTES = 32;

/** Bytes of an instance id. */
export const INSTANCE_BYTES = 16;

/** The largest handshake frame body accepted. An AUTH with an ML-DSA-87 signature is ~4.6 KB. */
export const HANDSHAKE_FRAME_BYTES_MAX = 8192;

/** The longest cluster id (as in the protocol config) and node id, in UTF-8 bytes. */
const CLUSTER_ID_BYTES_MAX = 64;
const NODE_ID_BYTES_MAX = 255;
/** The longest signature an AUTH may carry. */
const SIGNATURE_BYTES_MAX = 8000;

/** Handshake frame kinds; wire ids are never reused. */
const FRAME_KIND = Object.freeze({ hello: 1, auth: 2, refuse: 3, ready: 4 } as const);

/**
 * Every reason a handshake ends without an authenticated peer, listed once so that
 * {@link HandshakeRefusalCode} is derived from it.
 */
export const HANDSHAKE_REFUSAL_CODES = Object.freeze([
  // The peer's HELLO speaks a handshake version this build does not.
  'unsupported-version',
  // The peer belongs to another cluster.
  'wrong-cluster',
  // The peer claims a node id with no registered public key: not a validator.
  'unknown-node',
  // The peer claims this node's own id (a node dialed itself, or an impostor).
  'self-connection',
  // The dialed address answered with another validator's id than the one dialed.
  'unexpected-peer',
  // The peer's challenge was seen before, or is this side's own challenge reflected back.
  'replay',
  // The peer's AUTH does not verify under the key registered for the id it claimed.
  'bad-signature',
  // A handshake frame that does not parse, or a frame of the wrong kind at this step.
  'malformed',
  // A handshake frame longer than HANDSHAKE_FRAME_BYTES_MAX.
  'oversized',
  // The handshake did not finish in time.
  'timeout',
  // The connection closed during the handshake.
  'closed',
  // The peer refused this side (its REFUSE frame's code is in the detail).
  'refused-by-peer',
  // This node has too many handshakes in progress, or is stopping.
  'busy',
] as const);

/** Why a handshake failed; see {@link HANDSHAKE_REFUSAL_CODES}. */
export type HandshakeRefusalCode = (typeof HANDSHAKE_REFUSAL_CODES)[number];

/** A failed handshake: the code to branch on and a sentence for logs. */
export interface HandshakeRefusal {
  readonly code: HandshakeRefusalCode;
  readonly detail: string;
}

/** A decoded HELLO. */
export interface Hello {
  readonly version: number;
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly challenge: Uint8Array;
  readonly instance: Uint8Array;
}

/** A decoded handshake frame. */
export type HandshakeFrame =
  | { readonly kind: 'hello'; readonly hello: Hello }
  | { readonly kind: 'auth'; readonly signature: Uint8Array }
  | { readonly kind: 'refuse'; readonly code: string }
  | { readonly kind: 'ready' };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function header(w: Writer, kind: number): void {
  for (const byte of MAGIC) w.u8(byte);
  w.u16(HANDSHAKE_VERSION);
  w.u8(kind);
}

const HEADER_BYTES = MAGIC.length + 2 + 1;

/**
 * A HELLO frame body.
 *
 * @throws RangeError on ids too long to encode or challenges of the wrong size: local
 *   configuration errors, never peer input.
 */
export function encodeHello(hello: Omit<Hello, 'version'>): Uint8Array {
  const cluster = encoder.encode(hello.clusterId);
  const node = encoder.encode(hello.nodeId);
  if (cluster.length === 0 || cluster.length > CLUSTER_ID_BYTES_MAX)
    throw new RangeError(`a cluster id is 1 to ${CLUSTER_ID_BYTES_MAX} bytes, got ${cluster.length}`);
  if (node.length === 0 || node.length > NODE_ID_BYTES_MAX)
    throw new RangeError(`a node id is 1 to ${NODE_ID_BYTES_MAX} bytes, got ${node.length}`);
  if (hello.challenge.length !== CHALLENGE_BYTES) throw new RangeError('a challenge is 32 bytes');
  if (hello.instance.length !== INSTANCE_BYTES) throw new RangeError('an instance id is 16 bytes');
  const w = new Writer(HEADER_BYTES + 2 + cluster.length + node.length + CHALLENGE_BYTES + INSTANCE_BYTES);
  header(w, FRAME_KIND.hello);
  w.u8(cluster.length);
  w.raw(cluster);
  w.u8(node.length);
  w.raw(node);
  w.raw(hello.challenge);
  w.raw(hello.instance);
  return w.finish();
}

/** An AUTH frame body carrying `signature`. */
export function encodeAuth(signature: Uint8Array): Uint8Array {
  if (signature.length > SIGNATURE_BYTES_MAX) throw new RangeError('signature too long for an AUTH');
  const w = new Writer(HEADER_BYTES + 2 + signature.length);
  header(w, FRAME_KIND.auth);
  w.u16(signature.length);
  w.raw(signature);
  return w.finish();
}

/** A REFUSE frame body telling the peer why it is turned away. */
export function encodeRefuse(code: HandshakeRefusalCode): Uint8Array {
  const text = encoder.encode(code);
  const w = new Writer(HEADER_BYTES + 1 + text.length);
  header(w, FRAME_KIND.refuse);
  w.u8(text.length);
  w.raw(text);
  return w.finish();
}

/** A READY frame body: this side accepted the peer; data frames follow. */
export function encodeReady(): Uint8Array {
  const w = new Writer(HEADER_BYTES);
  header(w, FRAME_KIND.ready);
  return w.finish();
}

/** The result of decoding a handshake frame: the frame, or why it is refused. */
export type HandshakeDecodeResult =
  | { readonly ok: true; readonly frame: HandshakeFrame }
  | { readonly ok: false; readonly refusal: HandshakeRefusal };

/**
 * Decodes a handshake frame body from an unauthenticated peer. Never throws.
 *
 * A version other than {@link HANDSHAKE_VERSION} is refused as `unsupported-version` before
 * anything after it is read, so that a later version may change everything that follows.
 */
export function decodeHandshakeFrame(body: Uint8Array): HandshakeDecodeResult {
  const malformed = (detail: string): HandshakeDecodeResult => ({
    ok: false,
    refusal: { code: 'malformed', detail },
  });
  if (body.length > HANDSHAKE_FRAME_BYTES_MAX)
    return { ok: false, refusal: { code: 'oversized', detail: `a handshake frame of ${body.length} bytes` } };
  if (body.length < HEADER_BYTES) return malformed('shorter than a handshake header');
  for (const [i, byte] of MAGIC.entries())
    if (body[i] !== byte) return malformed('not a cretoai-consensus handshake (bad magic)');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const version = view.getUint16(MAGIC.length);
  if (version !== HANDSHAKE_VERSION)
    return {
      ok: false,
      refusal: {
        code: 'unsupported-version',
        detail: `peer speaks handshake v${version}, this node v${HANDSHAKE_VERSION}`,
      },
    };
  const kind = body[MAGIC.length + 2];
  let at = HEADER_BYTES;
  const take = (count: number): Uint8Array | null => {
    if (at + count > body.length) return null;
    const bytes = body.slice(at, at + count);
    at += count;
    return bytes;
  };
  const text = (bytes: Uint8Array | null): string | null => {
    if (bytes === null) return null;
    try {
      return decoder.decode(bytes);
    } catch {
      return null;
    }
  };
  let frame: HandshakeFrame;
  switch (kind) {
    case FRAME_KIND.hello: {
      const clusterLength = take(1)?.[0];
      const clusterId = clusterLength === undefined ? null : text(take(clusterLength));
      const nodeLength = take(1)?.[0];
      const nodeId = nodeLength === undefined ? null : text(take(nodeLength));
      const challenge = take(CHALLENGE_BYTES);
      const instance = take(INSTANCE_BYTES);
      if (clusterId === null || nodeId === null || challenge === null || instance === null)
        return malformed('a HELLO is truncated or its ids are not UTF-8');
      if (clusterId.length === 0 || nodeId.length === 0) return malformed('a HELLO with an empty id');
      frame = { kind: 'hello', hello: { version, clusterId, nodeId, challenge, instance } };
      break;
    }
    case FRAME_KIND.auth: {
      const lengthBytes = take(2);
      if (lengthBytes === null) return malformed('an AUTH is truncated');
      const signature = take(new DataView(lengthBytes.buffer).getUint16(0));
      if (signature === null) return malformed('an AUTH signature is truncated');
      frame = { kind: 'auth', signature };
      break;
    }
    case FRAME_KIND.refuse: {
      const codeLength = take(1)?.[0];
      const code = codeLength === undefined ? null : text(take(codeLength));
      if (code === null) return malformed('a REFUSE is truncated');
      frame = { kind: 'refuse', code };
      break;
    }
    case FRAME_KIND.ready:
      frame = { kind: 'ready' };
      break;
    default:
      return malformed(`unknown handshake frame kind ${kind}`);
  }
  if (at !== body.length) return malformed('bytes after a complete handshake frame');
  return { ok: true, frame };
}

/**
 * The bytes a side signs: its own HELLO, the peer's HELLO, then the channel binding, each
 * behind a u32 length so that no two different triples give the same bytes.
 */
export function handshakeTranscript(
  signerHello: Uint8Array,
  verifierHello: Uint8Array,
  channelBinding: Uint8Array,
): Uint8Array {
  const w = new Writer(12 + signerHello.length + verifierHello.length + channelBinding.length);
  for (const part of [signerHello, verifierHello, channelBinding]) {
    w.u32(part.length);
    w.raw(part);
  }
  return w.finish();
}

/**
 * The peer challenges seen recently, to refuse a HELLO replayed from an earlier connection.
 * Bounded: the oldest is forgotten first. A replayed HELLO could not complete a handshake anyway
 * (it would need a signature over this side's fresh challenge), but refusing it at once saves a
 * signature and makes the attempt visible.
 */
export class ChallengeLedger {
  readonly #seen = new Set<string>();
  readonly #capacity: number;

  /** @param capacity - challenges remembered; default 4,096. */
  constructor(capacity = 4096) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** Records `challenge`; false if it was already recorded. */
  record(challenge: Uint8Array): boolean {
    const key = toHex(challenge);
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    if (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}

/** What a side needs to run the handshake. */
export interface HandshakeOptions {
  readonly scheme: SignatureScheme;
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly privateKey: PrivateKey;
  /** The registered public key of a validator, or undefined for a stranger. */
  readonly publicKeyOf: (nodeId: NodeId) => PublicKey | undefined;
  /** This transport's instance id ({@link INSTANCE_BYTES} bytes). */
  readonly instance: Uint8Array;
  /** On the dialing side: the validator dialed. Another id answering is refused. */
  readonly expectedPeer?: NodeId;
  /** Bytes both sides derive from the secure channel (TLS exported keying material), or empty. */
  readonly channelBinding?: Uint8Array;
  /** Where peer challenges are remembered, shared by every connection of one transport. */
  readonly ledger: ChallengeLedger;
  /** The challenge; default: 32 fresh random bytes. Tests pass one to replay a HELLO. */
  readonly challenge?: Uint8Array;
}

/** The result of a handshake. */
export type HandshakeOutcome =
  | {
      readonly ok: true;
      /** The authenticated peer. */
      readonly peer: NodeId;
      /** The peer's instance id, hex. */
      readonly peerInstance: string;
    }
  | { readonly ok: false; readonly refusal: HandshakeRefusal; readonly claimedPeer?: NodeId };

/** Frames in and out of a connection during the handshake; see {@link StreamHandshakeChannel}. */
export interface HandshakeChannel {
  /** Sends one handshake frame body (the channel adds the length prefix). */
  send(body: Uint8Array): void;
  /** The next frame body, or the refusal that ended the channel (closed, oversized, timeout). */
  receive(): Promise<Uint8Array | HandshakeRefusal>;
}

/**
 * Why `hello` from a peer is refused, or null to go on: the guard before any signing.
 * Records the challenge in the ledger when it passes every other check.
 */
export function checkHello(
  hello: Hello,
  ours: { readonly challenge: Uint8Array },
  options: HandshakeOptions,
): HandshakeRefusal | null {
  if (hello.clusterId !== options.clusterId)
    return { code: 'wrong-cluster', detail: `peer is in cluster ${JSON.stringify(hello.clusterId)}` };
  if (hello.nodeId === options.nodeId)
    return { code: 'self-connection', detail: `peer claims this node's id ${hello.nodeId}` };
  if (options.expectedPeer !== undefined && hello.nodeId !== options.expectedPeer)
    return {
      code: 'unexpected-peer',
      detail: `dialed ${options.expectedPeer}, ${JSON.stringify(hello.nodeId)} answered`,
    };
  if (options.publicKeyOf(hello.nodeId) === undefined)
    return { code: 'unknown-node', detail: `no registered key for ${JSON.stringify(hello.nodeId)}` };
  if (bytesEqual(hello.challenge, ours.challenge))
    return { code: 'replay', detail: 'peer reflected this side’s challenge' };
  if (!options.ledger.record(hello.challenge))
    return { code: 'replay', detail: 'peer challenge seen before' };
  return null;
}

function isRefusal(value: Uint8Array | HandshakeRefusal): value is HandshakeRefusal {
  return !(value instanceof Uint8Array);
}

/**
 * Runs one side of the handshake over `channel`. Resolves (never rejects for anything the peer
 * does) once the peer is authenticated or refused. The caller owns the timeout: it fails the
 * channel with `timeout`, which makes the pending `receive` return the refusal.
 */
export async function performHandshake(
  channel: HandshakeChannel,
  options: HandshakeOptions,
): Promise<HandshakeOutcome> {
  const challenge = options.challenge ?? new Uint8Array(randomBytes(CHALLENGE_BYTES));
  const ourHello = encodeHello({
    clusterId: options.clusterId,
    nodeId: options.nodeId,
    challenge,
    instance: options.instance,
  });
  const binding = options.channelBinding ?? new Uint8Array(0);
  channel.send(ourHello);

  const refuse = (refusal: HandshakeRefusal, claimedPeer?: NodeId): HandshakeOutcome => {
    // Tell the peer why, unless the channel itself failed (it could not hear it) or it refused us.
    if (refusal.code !== 'closed' && refusal.code !== 'refused-by-peer' && refusal.code !== 'timeout')
      channel.send(encodeRefuse(refusal.code));
    return claimedPeer === undefined ? { ok: false, refusal } : { ok: false, refusal, claimedPeer };
  };

  const first = await receiveFrame(channel);
  if (!first.ok) return refuse(first.refusal);
  if (first.frame.kind !== 'hello') return refuse(unexpectedFrame(first.frame, 'HELLO'));
  const peerHello = first.frame.hello;
  const guard = checkHello(peerHello, { challenge }, options);
  if (guard !== null) return refuse(guard, peerHello.nodeId);
  // The guard checked that the key exists.
  const peerKey = options.publicKeyOf(peerHello.nodeId)!;
  const theirHelloBytes = encodeHello(peerHello);

  const signature = await options.scheme.signAsync(
    options.privateKey,
    handshakeTranscript(ourHello, theirHelloBytes, binding),
    HANDSHAKE_CONTEXT,
  );
  channel.send(encodeAuth(signature));

  const second = await receiveFrame(channel);
  if (!second.ok) return refuse(second.refusal, peerHello.nodeId);
  if (second.frame.kind !== 'auth') return refuse(unexpectedFrame(second.frame, 'AUTH'), peerHello.nodeId);
  const valid = await options.scheme.verifyAsync(
    peerKey,
    handshakeTranscript(theirHelloBytes, ourHello, binding),
    second.frame.signature,
    HANDSHAKE_CONTEXT,
  );
  if (!valid)
    return refuse(
      { code: 'bad-signature', detail: `AUTH does not verify under ${peerHello.nodeId}'s key` },
      peerHello.nodeId,
    );
  channel.send(encodeReady());

  const third = await receiveFrame(channel);
  if (!third.ok) return refuse(third.refusal, peerHello.nodeId);
  if (third.frame.kind !== 'ready') return refuse(unexpectedFrame(third.frame, 'READY'), peerHello.nodeId);
  return { ok: true, peer: peerHello.nodeId, peerInstance: toHex(peerHello.instance) };
}

async function receiveFrame(channel: HandshakeChannel): Promise<HandshakeDecodeResult> {
  const body = await channel.receive();
  if (isRefusal(body)) return { ok: false, refusal: body };
  return decodeHandshakeFrame(body);
}

function unexpectedFrame(frame: HandshakeFrame, wanted: string): HandshakeRefusal {
  if (frame.kind === 'refuse') return { code: 'refused-by-peer', detail: `peer refused: ${frame.code}` };
  return { code: 'malformed', detail: `expected ${wanted}, got ${frame.kind.toUpperCase()}` };
}

/**
 * A {@link HandshakeChannel} over a byte stream (a TCP or TLS socket).
 *
 * It parses frames only when asked, so that bytes following the handshake (the peer's first
 * data frames, which may arrive in the same chunk as its AUTH) stay unparsed for the data-phase
 * decoder with its larger bound; {@link StreamHandshakeChannel.detach} hands them over. It
 * pauses the stream while a whole handshake frame's worth of bytes is waiting, so an
 * unauthenticated peer cannot make it buffer more than that.
 */
export class StreamHandshakeChannel implements HandshakeChannel {
  readonly #stream: Duplex;
  #buffer = new Uint8Array(0);
  #waiter: ((value: Uint8Array | HandshakeRefusal) => void) | null = null;
  #failure: HandshakeRefusal | null = null;
  #detached = false;
  readonly #onData = (chunk: Buffer): void => this.#push(chunk);
  readonly #onClose = (): void => this.fail({ code: 'closed', detail: 'connection closed during handshake' });

  constructor(stream: Duplex) {
    this.#stream = stream;
    stream.on('data', this.#onData);
    stream.on('close', this.#onClose);
  }

  send(body: Uint8Array): void {
    if (this.#detached || this.#stream.destroyed || this.#stream.writableEnded) return;
    const frame = new Uint8Array(FRAME_PREFIX_BYTES + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, FRAME_PREFIX_BYTES);
    this.#stream.write(frame);
  }

  receive(): Promise<Uint8Array | HandshakeRefusal> {
    // Frames that arrived before the channel failed come first: a peer's REFUSE is usually
    // followed at once by its FIN, and the reason matters more than the close.
    const frame = this.#take();
    if (frame !== null) return Promise.resolve(frame);
    // Taking may have failed the channel (an oversized declared length).
    if (this.#failure !== null) return Promise.resolve(this.#failure);
    if (this.#waiter !== null) throw new Error('StreamHandshakeChannel: one receive at a time');
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#stream.resume();
    });
  }

  /** Ends the channel: the pending and every later `receive` return `refusal`. */
  fail(refusal: HandshakeRefusal): void {
    if (this.#failure !== null || this.#detached) return;
    this.#failure = refusal;
    this.#wake(refusal);
  }

  /**
   * Stops listening to the stream and returns the bytes received after the last handshake
   * frame. The stream is left paused: the new owner attaches its 'data' listener, then resumes.
   */
  detach(): Uint8Array {
    this.#detached = true;
    this.#stream.pause();
    this.#stream.off('data', this.#onData);
    this.#stream.off('close', this.#onClose);
    const rest = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return rest;
  }

  #push(chunk: Uint8Array): void {
    const grown = new Uint8Array(this.#buffer.length + chunk.length);
    grown.set(this.#buffer);
    grown.set(chunk, this.#buffer.length);
    this.#buffer = grown;
    if (this.#waiter !== null) {
      const frame = this.#take();
      if (frame !== null) this.#wake(frame);
    }
    if (this.#failure === null && this.#buffer.length >= FRAME_PREFIX_BYTES + HANDSHAKE_FRAME_BYTES_MAX)
      this.#stream.pause();
  }

  /** The next complete frame body from the buffer, or null; fails the channel on an oversized length. */
  #take(): Uint8Array | null {
    if (this.#buffer.length < FRAME_PREFIX_BYTES) return null;
    const length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getUint32(0);
    if (length > HANDSHAKE_FRAME_BYTES_MAX) {
      this.fail({
        code: 'oversized',
        detail: `declared handshake frame length ${length} > ${HANDSHAKE_FRAME_BYTES_MAX}`,
      });
      return null;
    }
    if (this.#buffer.length < FRAME_PREFIX_BYTES + length) return null;
    const body = this.#buffer.slice(FRAME_PREFIX_BYTES, FRAME_PREFIX_BYTES + length);
    this.#buffer = this.#buffer.subarray(FRAME_PREFIX_BYTES + length);
    return body;
  }

  #wake(value: Uint8Array | HandshakeRefusal): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(value);
  }
}
