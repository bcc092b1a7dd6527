/**
 * The connection handshake: an authenticated hybrid key exchange between two validators,
 * after which every frame is sealed (`channel-crypto.ts`). Nobody without a validator's
 * ML-DSA-87 key can finish it, and nobody on the path can read or alter what follows it.
 *
 * The dialer speaks first and proves itself first:
 *
 * 1. Dialer: OFFER (cluster id, its id, the id it dialed, instance id, nonce, an X25519 key and
 *    an ML-KEM-768 encapsulation key, fresh for this connection).
 * 2. Acceptor: checks the OFFER (the guard: version, cluster, addressed to it, a validator
 *    that is not itself, a nonce not seen before), answers with its own X25519 key and a
 *    ciphertext encapsulated to the dialer's key (ANSWER). Both sides now hold the combined
 *    secret and the transcript hash h = SHA-256(OFFER, ANSWER, channel binding), and derive one
 *    key per direction from them.
 * 3. Dialer: AUTH, sealed: its ML-DSA-87 signature over h, with its role.
 * 4. Acceptor: opens and verifies that AUTH under the key registered for the id the OFFER
 *    claimed, and only then signs: its own AUTH, sealed. A stranger costs an acceptor a key
 *    exchange, never a signature, which costs several times as much.
 * 5. Dialer: verifies the acceptor's AUTH and sends READY, sealed; data frames follow in the
 *    same sealed sequence. The acceptor adopts the connection when READY opens.
 *
 * Why this binds: the signatures cover h, and h covers both sides' ephemeral keys, so a
 * signature made for one connection is worthless on any other; and the AUTHs are sealed under
 * keys only the holders of the ephemeral secrets can derive, so a relay that passes frames
 * between two connections of its own can neither read nor forge what follows. A relay cannot
 * even start: both nodes it dials take the accepting role, and no acceptor ever sends an OFFER.
 * The channel binding is empty on TCP; over QUIC it is both endpoints' authenticated ids.
 *
 * Any failure ends the handshake with a typed {@link HandshakeRefusal}; where the peer can still
 * hear it, a REFUSE frame tells it why before the socket is closed. Nothing a peer sends can
 * throw here: every malformed input is a refusal.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { bytesEqual, sha256, toHex } from '../crypto/digest.ts';
import type { PrivateKey, PublicKey, SignatureScheme } from '../crypto/scheme.ts';
import { FRAME_PREFIX_BYTES } from '../wire/frame.ts';
import { deriveChannelKeys, RecordOpener, RecordSealer } from './channel-crypto.ts';
import {
  type Answer,
  decodeHandshakeFrame,
  encodeAnswer,
  encodeAuth,
  encodeOffer,
  encodeReady,
  encodeRefuse,
  type Greeting,
  HANDSHAKE_FRAME_BYTES_MAX,
  type HandshakeDecodeResult,
  type HandshakeFrame,
  type HandshakeRefusal,
  NONCE_BYTES,
  type Offer,
} from './handshake-frames.ts';
import { answerKeyOffer, InitiatorKeyExchange } from './key-exchange.ts';
import type { NodeId } from './transport.ts';

export {
  HANDSHAKE_FRAME_BYTES_MAX,
  HANDSHAKE_REFUSAL_CODES,
  HANDSHAKE_VERSION,
  type HandshakeRefusal,
  type HandshakeRefusalCode,
  INSTANCE_BYTES,
  NONCE_BYTES,
} from './handshake-frames.ts';

import { integerField } from '../protocol/errors.ts';

/** The ML-DSA-87 context of every handshake signature (FIPS 204 domain separation). */
export const HANDSHAKE_CONTEXT: Uint8Array = new TextEncoder().encode('cretoai-consensus/handshake/v3');

const TRANSCRIPT_TAG = new TextEncoder().encode('cretoai-consensus/handshake/v3 transcript');
const ROLE_TAGS = Object.freeze({
  dialer: new TextEncoder().encode('cretoai-consensus/handshake/v3 dialer'),
  acceptor: new TextEncoder().encode('cretoai-consensus/handshake/v3 acceptor'),
});

/** Which end of a connection a side is. */
export type HandshakeRole = keyof typeof ROLE_TAGS;

/** The transcript hash: the OFFER and ANSWER as sent, then the channel binding, each behind a u32 length. */
export function transcriptHash(
  offer: Uint8Array,
  answer: Uint8Array,
  channelBinding: Uint8Array,
): Uint8Array {
  const parts: Uint8Array[] = [TRANSCRIPT_TAG];
  for (const part of [offer, answer, channelBinding]) {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, part.length);
    parts.push(length, part);
  }
  return sha256(...parts);
}

/** The bytes a side signs in its AUTH: its role, then the transcript hash. */
export function authSignBytes(role: HandshakeRole, hash: Uint8Array): Uint8Array {
  const tag = ROLE_TAGS[role];
  const bytes = new Uint8Array(tag.length + hash.length);
  bytes.set(tag);
  bytes.set(hash, tag.length);
  return bytes;
}

/**
 * The peer nonces seen recently, to refuse an OFFER or ANSWER replayed from an earlier
 * connection. Bounded: the oldest is forgotten first. A replay could not finish a handshake
 * anyway (it lacks the ephemeral secrets), but refusing it at once saves a key exchange and
 * makes the attempt visible.
 */
export class NonceLedger {
  readonly #seen = new Set<string>();
  readonly #capacity: number;

  /** @param capacity - nonces remembered; default 4,096. */
  constructor(capacity = 4096) {
    this.#capacity = integerField('capacity', capacity, undefined, 1);
  }

  /** Records `nonce`; false if it was already recorded. */
  record(nonce: Uint8Array): boolean {
    const key = toHex(nonce);
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
  /**
   * The registered public key of a validator, or its keys when more than one authenticates it
   * (the key of the epoch before a rotation, and the new one); undefined for a stranger.
   */
  readonly publicKeyOf: (nodeId: NodeId) => PublicKey | readonly PublicKey[] | undefined;
  /** This transport's instance id ({@link INSTANCE_BYTES} bytes). */
  readonly instance: Uint8Array;
  /** Bytes both sides derive from the channel under the stream (QUIC's endpoint ids), or empty. */
  readonly channelBinding?: Uint8Array;
  /** Where peer nonces are remembered, shared by every connection of one transport. */
  readonly ledger: NonceLedger;
  /** This side's nonce; default: 32 fresh random bytes. Tests pass one to replay a frame. */
  readonly nonce?: Uint8Array;
}

/** The dialing side's options: the validator it dialed. Another id answering is refused. */
export interface DialOptions extends HandshakeOptions {
  readonly peer: NodeId;
}

/** The accepting side's options. */
export interface AcceptOptions extends HandshakeOptions {
  /**
   * Called once the dialer has proven its identity and before this side signs: a refusal
   * (`busy`) here bounds how often even a validator can make this node sign, and one of
   * `duplicate-identity` turns away a second live process with the peer's key. `peerInstance`
   * is the dialer's instance id (hex), which its AUTH signed.
   */
  readonly admitAuthenticated?: (peer: NodeId, peerInstance: string) => HandshakeRefusal | null;
}

/** The result of a handshake. */
export type HandshakeOutcome =
  | {
      readonly ok: true;
      /** The authenticated peer. */
      readonly peer: NodeId;
      /** The peer's instance id, hex. */
      readonly peerInstance: string;
      /** Seals this side's frames, numbered after the handshake's own. */
      readonly sealer: RecordSealer;
      /** Opens the peer's frames, numbered after the handshake's own. */
      readonly opener: RecordOpener;
    }
  | { readonly ok: false; readonly refusal: HandshakeRefusal; readonly claimedPeer?: NodeId };

/** Frames in and out of a connection during the handshake; see {@link StreamHandshakeChannel}. */
export interface HandshakeChannel {
  /** Sends one handshake frame body (the channel adds the length prefix). */
  send(body: Uint8Array): void;
  /** The next frame body, or the refusal that ended the channel (closed, oversized, timeout). */
  receive(): Promise<Uint8Array | HandshakeRefusal>;
}

/** Why a greeting (OFFER or ANSWER) from a peer is refused, or null to go on. */
function checkGreeting(
  greeting: Greeting,
  ownNonce: Uint8Array,
  options: HandshakeOptions,
  expectedPeer: NodeId | undefined,
): HandshakeRefusal | null {
  if (greeting.clusterId !== options.clusterId)
    return { code: 'wrong-cluster', detail: `peer is in cluster ${JSON.stringify(greeting.clusterId)}` };
  if (greeting.from === options.nodeId)
    return { code: 'self-connection', detail: `peer claims this node's id ${greeting.from}` };
  if (greeting.to !== options.nodeId)
    return {
      code: 'unexpected-peer',
      detail: `peer meant ${JSON.stringify(greeting.to)}, this is ${options.nodeId}`,
    };
  if (expectedPeer !== undefined && greeting.from !== expectedPeer)
    return {
      code: 'unexpected-peer',
      detail: `dialed ${expectedPeer}, ${JSON.stringify(greeting.from)} answered`,
    };
  if (options.publicKeyOf(greeting.from) === undefined)
    return { code: 'unknown-node', detail: `no registered key for ${JSON.stringify(greeting.from)}` };
  if (bytesEqual(greeting.nonce, ownNonce))
    return { code: 'replay', detail: 'peer reflected this side’s nonce' };
  if (!options.ledger.record(greeting.nonce)) return { code: 'replay', detail: 'peer nonce seen before' };
  return null;
}

/** One side's run: the channel, the refusal path and the sealed steps shared by both roles. */
class HandshakeRun {
  readonly #channel: HandshakeChannel;
  readonly options: HandshakeOptions;
  readonly nonce: Uint8Array;
  /** The id the peer claims, once it has said one: NOT authenticated until its AUTH verifies. */
  claimedPeer: NodeId | undefined;

  constructor(channel: HandshakeChannel, options: HandshakeOptions) {
    this.#channel = channel;
    this.options = options;
    this.nonce = options.nonce ?? new Uint8Array(randomBytes(NONCE_BYTES));
  }

  send(body: Uint8Array): void {
    this.#channel.send(body);
  }

  refuse(refusal: HandshakeRefusal): HandshakeOutcome {
    // Tell the peer why, unless the channel itself failed (it could not hear it) or it refused us.
    if (refusal.code !== 'closed' && refusal.code !== 'refused-by-peer' && refusal.code !== 'timeout')
      this.#channel.send(encodeRefuse(refusal.code));
    return this.claimedPeer === undefined
      ? { ok: false, refusal }
      : { ok: false, refusal, claimedPeer: this.claimedPeer };
  }

  /**
   * The next frame in the clear with the bytes it came in (the transcript hashes those, never
   * a re-encoding), or the refusal that ends the handshake.
   */
  async receiveClear(): Promise<HandshakeDecodeResult & { readonly body?: Uint8Array }> {
    const body = await this.#channel.receive();
    if (isRefusal(body)) return { ok: false, refusal: body };
    return { ...decodeHandshakeFrame(body), body };
  }

  /** The next frame, sealed under `opener`; a REFUSE in the clear is the peer's refusal. */
  async receiveSealed(opener: RecordOpener): Promise<HandshakeDecodeResult> {
    const body = await this.#channel.receive();
    if (isRefusal(body)) return { ok: false, refusal: body };
    const opened = opener.open(body);
    if (opened !== null) return decodeHandshakeFrame(opened);
    const clear = decodeHandshakeFrame(body);
    if (clear.ok && clear.frame.kind === 'refuse')
      return { ok: false, refusal: { code: 'refused-by-peer', detail: `peer refused: ${clear.frame.code}` } };
    return {
      ok: false,
      refusal: { code: 'malformed', detail: 'a frame that does not open under the session key' },
    };
  }

  async sign(role: HandshakeRole, hash: Uint8Array): Promise<Uint8Array> {
    const { scheme, privateKey } = this.options;
    return scheme.signAsync(privateKey, authSignBytes(role, hash), HANDSHAKE_CONTEXT);
  }

  /** Whether `signature` is `peer`'s AUTH over `hash` in `role`. */
  /** Whether `signature` verifies under one of the peer's keys. */
  async verify(
    peerKeys: PublicKey | readonly PublicKey[],
    role: HandshakeRole,
    hash: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean> {
    const bytes = authSignBytes(role, hash);
    for (const key of Array.isArray(peerKeys) ? peerKeys : [peerKeys])
      if (await this.options.scheme.verifyAsync(key, bytes, signature, HANDSHAKE_CONTEXT)) return true;
    return false;
  }
}

/**
 * Runs the dialing side over `channel`. Resolves (never rejects for anything the peer does)
 * once the peer is authenticated or refused. The caller owns the timeout: it fails the
 * channel with `timeout`, which makes the pending `receive` return the refusal.
 */
export async function dialHandshake(
  channel: HandshakeChannel,
  options: DialOptions,
): Promise<HandshakeOutcome> {
  const run = new HandshakeRun(channel, options);
  const exchange = new InitiatorKeyExchange();
  const offer = encodeOffer({
    clusterId: options.clusterId,
    from: options.nodeId,
    to: options.peer,
    instance: options.instance,
    nonce: run.nonce,
    keys: exchange.offer,
  });
  run.send(offer);

  const first = await run.receiveClear();
  if (!first.ok) return run.refuse(first.refusal);
  if (first.frame.kind !== 'answer') return run.refuse(unexpectedFrame(first.frame, 'ANSWER'));
  const answer: Answer = first.frame.answer;
  run.claimedPeer = answer.from;
  const guard = checkGreeting(answer, run.nonce, options, options.peer);
  if (guard !== null) return run.refuse(guard);
  // The guard checked that the key exists.
  const peerKey = options.publicKeyOf(answer.from)!;
  const secret = exchange.finish(answer.keys);
  if (secret === null)
    return run.refuse({
      code: 'malformed',
      detail: 'the ANSWER carries a key or ciphertext OpenSSL refuses',
    });
  const hash = transcriptHash(offer, first.body!, options.channelBinding ?? new Uint8Array(0));
  const keys = deriveChannelKeys(secret, hash);
  const sealer = new RecordSealer(keys.dialerToAcceptor);
  const opener = new RecordOpener(keys.acceptorToDialer);

  run.send(sealer.seal(encodeAuth(await run.sign('dialer', hash))));

  const second = await run.receiveSealed(opener);
  if (!second.ok) return run.refuse(second.refusal);
  if (second.frame.kind !== 'auth') return run.refuse(unexpectedFrame(second.frame, 'AUTH'));
  if (!(await run.verify(peerKey, 'acceptor', hash, second.frame.signature)))
    return run.refuse({ code: 'bad-signature', detail: `AUTH does not verify under ${answer.from}'s key` });
  run.send(sealer.seal(encodeReady()));
  return { ok: true, peer: answer.from, peerInstance: toHex(answer.instance), sealer, opener };
}

/** Runs the accepting side over `channel`; see {@link dialHandshake}. */
export async function acceptHandshake(
  channel: HandshakeChannel,
  options: AcceptOptions,
): Promise<HandshakeOutcome> {
  const run = new HandshakeRun(channel, options);
  const first = await run.receiveClear();
  if (!first.ok) return run.refuse(first.refusal);
  if (first.frame.kind !== 'offer') return run.refuse(unexpectedFrame(first.frame, 'OFFER'));
  const offer: Offer = first.frame.offer;
  run.claimedPeer = offer.from;
  const guard = checkGreeting(offer, run.nonce, options, undefined);
  if (guard !== null) return run.refuse(guard);
  const peerKey = options.publicKeyOf(offer.from)!;
  const exchanged = answerKeyOffer(offer.keys);
  if (exchanged === null)
    return run.refuse({ code: 'malformed', detail: 'the OFFER carries a key OpenSSL refuses' });
  const answer = encodeAnswer({
    clusterId: options.clusterId,
    from: options.nodeId,
    to: offer.from,
    instance: options.instance,
    nonce: run.nonce,
    keys: exchanged.answer,
  });
  run.send(answer);
  const hash = transcriptHash(first.body!, answer, options.channelBinding ?? new Uint8Array(0));
  const keys = deriveChannelKeys(exchanged.secret, hash);
  const sealer = new RecordSealer(keys.acceptorToDialer);
  const opener = new RecordOpener(keys.dialerToAcceptor);

  const second = await run.receiveSealed(opener);
  if (!second.ok) return run.refuse(second.refusal);
  if (second.frame.kind !== 'auth') return run.refuse(unexpectedFrame(second.frame, 'AUTH'));
  if (!(await run.verify(peerKey, 'dialer', hash, second.frame.signature)))
    return run.refuse({ code: 'bad-signature', detail: `AUTH does not verify under ${offer.from}'s key` });
  const admission = options.admitAuthenticated?.(offer.from, toHex(offer.instance)) ?? null;
  if (admission !== null) return run.refuse(admission);
  run.send(sealer.seal(encodeAuth(await run.sign('acceptor', hash))));

  const third = await run.receiveSealed(opener);
  if (!third.ok) return run.refuse(third.refusal);
  if (third.frame.kind !== 'ready') return run.refuse(unexpectedFrame(third.frame, 'READY'));
  return { ok: true, peer: offer.from, peerInstance: toHex(offer.instance), sealer, opener };
}

function isRefusal(value: Uint8Array | HandshakeRefusal): value is HandshakeRefusal {
  return !(value instanceof Uint8Array);
}

function unexpectedFrame(frame: HandshakeFrame, wanted: string): HandshakeRefusal {
  if (frame.kind === 'refuse') return { code: 'refused-by-peer', detail: `peer refused: ${frame.code}` };
  return { code: 'malformed', detail: `expected ${wanted}, got ${frame.kind.toUpperCase()}` };
}

/**
 * A {@link HandshakeChannel} over a byte stream (a TCP socket or a QUIC stream).
 *
 * It parses frames only when asked, so that bytes following the handshake (the peer's first
 * data frames, which may arrive in the same chunk as its last handshake frame) stay unparsed
 * for the data-phase decoder with its larger bound; {@link StreamHandshakeChannel.detach}
 * hands them over. It pauses the stream while a whole handshake frame's worth of bytes is
 * waiting, so an unauthenticated peer cannot make it buffer more than that.
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
