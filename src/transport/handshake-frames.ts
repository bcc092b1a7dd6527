/**
 * The frames of the connection handshake (`handshake.ts`) and their strict codec.
 *
 * Every frame starts with the magic "CRHS", the handshake version (u16) and a kind (u8).
 * OFFER and ANSWER travel in the clear (they carry only public values); AUTH and READY are
 * sealed with the new session's keys; REFUSE is in the clear, since it may have to be sent
 * before there are keys. Frames use the stream's u32 length prefix, bounded by
 * {@link HANDSHAKE_FRAME_BYTES_MAX}: an unauthenticated peer is owed very little memory.
 *
 * Decoding never throws: every malformed input is a {@link HandshakeRefusal}.
 */

import { ArgumentError } from '../errors.ts';
import { Writer } from '../wire/writer.ts';
import {
  type KeyAnswer,
  type KeyOffer,
  MLKEM768_CIPHERTEXT_BYTES,
  MLKEM768_ENCAPSULATION_KEY_BYTES,
  X25519_PUBLIC_BYTES,
} from './key-exchange.ts';
import type { NodeId } from './transport.ts';

/**
 * The handshake protocol version this build speaks; it also names the message layouts spoken
 * after it. Version 2: REQUESTs carry no signature. Version 3: a hybrid key exchange and
 * sealed frames, the dialer proves itself first. Version 4: vertices carry validThrough (codec
 * version 2). Peers of other versions refuse each other here, with a reason, before any
 * message, rather than blaming each other for every frame the other cannot decode.
 */
export const HANDSHAKE_VERSION = 4;

/** The first bytes of every handshake frame: ASCII "CRHS". Refuses strangers fast. */
const MAGIC = Object.freeze([0x43, 0x52, 0x48, 0x53] as const);

/** Bytes of a handshake nonce: 256 bits of fresh randomness per connection and side. */
export const NONCE_BYTES = 32;

/** Bytes of an instance id. */
export const INSTANCE_BYTES = 16;

/** The largest handshake frame body accepted. A sealed AUTH with an ML-DSA-87 signature is ~4.7 KB. */
export const HANDSHAKE_FRAME_BYTES_MAX = 8192;

/** The longest cluster id (as in the protocol config) and node id, in UTF-8 bytes. */
const CLUSTER_ID_BYTES_MAX = 64;
const NODE_ID_BYTES_MAX = 255;
/** The longest signature an AUTH may carry. */
const SIGNATURE_BYTES_MAX = 8000;

/** Handshake frame kinds; wire ids are never reused (1, version 2's HELLO, is retired). */
const FRAME_KIND = Object.freeze({ auth: 2, refuse: 3, ready: 4, offer: 5, answer: 6 } as const);

/**
 * Every reason a handshake ends without an authenticated peer, listed once so that
 * {@link HandshakeRefusalCode} is derived from it.
 */
export const HANDSHAKE_REFUSAL_CODES = Object.freeze([
  // The peer speaks a handshake version this build does not.
  'unsupported-version',
  // The peer belongs to another cluster.
  'wrong-cluster',
  // The peer claims a node id with no registered public key: not a validator.
  'unknown-node',
  // The peer claims this node's own id (a node dialed itself, or an impostor).
  'self-connection',
  // The dialed node answered with another id, or the dialer meant another node.
  'unexpected-peer',
  // The peer's nonce was seen before, or is this side's own nonce reflected back.
  'replay',
  // The peer's AUTH does not verify under the key registered for the id it claimed.
  'bad-signature',
  // A frame that does not parse, does not open under the session key, carries a key OpenSSL
  // refuses, or is of the wrong kind at this step.
  'malformed',
  // A handshake frame longer than HANDSHAKE_FRAME_BYTES_MAX.
  'oversized',
  // The handshake did not finish in time.
  'timeout',
  // The connection closed during the handshake.
  'closed',
  // The peer refused this side (its REFUSE frame's code is in the detail).
  'refused-by-peer',
  // Too many handshakes in progress from this address or in all, or this node is stopping.
  'busy',
  // The peer's key is in use by another live process (instance) that holds the link; this one
  // is refused for a while (see `duplicate-identity.ts`).
  'duplicate-identity',
] as const);

/** Why a handshake failed; see {@link HANDSHAKE_REFUSAL_CODES}. */
export type HandshakeRefusalCode = (typeof HANDSHAKE_REFUSAL_CODES)[number];

/** A failed handshake: the code to branch on and a sentence for logs. */
export interface HandshakeRefusal {
  readonly code: HandshakeRefusalCode;
  readonly detail: string;
}

/** The fields OFFER and ANSWER share: who speaks, to whom, in which cluster and instance. */
export interface Greeting {
  readonly clusterId: string;
  /** The id the sender claims (not yet authenticated). */
  readonly from: NodeId;
  /** The id the sender means to talk to. */
  readonly to: NodeId;
  /** The sender's instance id: fresh at every transport start. */
  readonly instance: Uint8Array;
  readonly nonce: Uint8Array;
}

/** The dialer's first frame. */
export interface Offer extends Greeting {
  readonly keys: KeyOffer;
}

/** The accepting side's first frame. */
export interface Answer extends Greeting {
  readonly keys: KeyAnswer;
}

/** A decoded handshake frame. */
export type HandshakeFrame =
  | { readonly kind: 'offer'; readonly offer: Offer }
  | { readonly kind: 'answer'; readonly answer: Answer }
  | { readonly kind: 'auth'; readonly signature: Uint8Array }
  | { readonly kind: 'refuse'; readonly code: string }
  | { readonly kind: 'ready' };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const HEADER_BYTES = MAGIC.length + 2 + 1;

function header(w: Writer, kind: number): void {
  for (const byte of MAGIC) w.u8(byte);
  w.u16(HANDSHAKE_VERSION);
  w.u8(kind);
}

function idBytes(what: string, id: string, max: number): Uint8Array {
  const bytes = encoder.encode(id);
  if (bytes.length === 0 || bytes.length > max)
    throw new ArgumentError(`a ${what} is 1 to ${max} bytes, got ${bytes.length}`);
  return bytes;
}

function encodeGreeting(kind: number, greeting: Greeting, keyParts: readonly Uint8Array[]): Uint8Array {
  const cluster = idBytes('cluster id', greeting.clusterId, CLUSTER_ID_BYTES_MAX);
  const from = idBytes('node id', greeting.from, NODE_ID_BYTES_MAX);
  const to = idBytes('node id', greeting.to, NODE_ID_BYTES_MAX);
  if (greeting.instance.length !== INSTANCE_BYTES) throw new ArgumentError('an instance id is 16 bytes');
  if (greeting.nonce.length !== NONCE_BYTES) throw new ArgumentError('a nonce is 32 bytes');
  let keyBytes = 0;
  for (const part of keyParts) keyBytes += part.length;
  const w = new Writer(
    HEADER_BYTES + 3 + cluster.length + from.length + to.length + INSTANCE_BYTES + NONCE_BYTES + keyBytes,
  );
  header(w, kind);
  for (const id of [cluster, from, to]) {
    w.u8(id.length);
    w.raw(id);
  }
  w.raw(greeting.instance);
  w.raw(greeting.nonce);
  for (const part of keyParts) w.raw(part);
  return w.finish();
}

/**
 * An OFFER frame body.
 *
 * @throws ArgumentError on ids too long to encode or fields of the wrong size: local
 *   configuration errors, never peer input.
 */
export function encodeOffer(offer: Offer): Uint8Array {
  if (offer.keys.x25519.length !== X25519_PUBLIC_BYTES) throw new ArgumentError('an X25519 key is 32 bytes');
  if (offer.keys.mlkemKey.length !== MLKEM768_ENCAPSULATION_KEY_BYTES)
    throw new ArgumentError('an ML-KEM-768 key is 1,184 bytes');
  return encodeGreeting(FRAME_KIND.offer, offer, [offer.keys.x25519, offer.keys.mlkemKey]);
}

/** An ANSWER frame body; throws as {@link encodeOffer} does. */
export function encodeAnswer(answer: Answer): Uint8Array {
  if (answer.keys.x25519.length !== X25519_PUBLIC_BYTES) throw new ArgumentError('an X25519 key is 32 bytes');
  if (answer.keys.mlkemCiphertext.length !== MLKEM768_CIPHERTEXT_BYTES)
    throw new ArgumentError('an ML-KEM-768 ciphertext is 1,088 bytes');
  return encodeGreeting(FRAME_KIND.answer, answer, [answer.keys.x25519, answer.keys.mlkemCiphertext]);
}

/** An AUTH frame body carrying `signature` (sealed before it is sent). */
export function encodeAuth(signature: Uint8Array): Uint8Array {
  if (signature.length > SIGNATURE_BYTES_MAX) throw new ArgumentError('signature too long for an AUTH');
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

/** A READY frame body (sealed): the dialer accepted the peer; data frames follow. */
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
  const text = (): string | null => {
    const length = take(1)?.[0];
    const bytes = length === undefined ? null : take(length);
    if (bytes === null || bytes.length === 0) return null;
    try {
      return decoder.decode(bytes);
    } catch {
      return null;
    }
  };
  const greeting = (): Greeting | null => {
    const clusterId = text();
    const from = text();
    const to = text();
    const instance = take(INSTANCE_BYTES);
    const nonce = take(NONCE_BYTES);
    if (clusterId === null || from === null || to === null || instance === null || nonce === null)
      return null;
    return { clusterId, from, to, instance, nonce };
  };
  let frame: HandshakeFrame;
  switch (kind) {
    case FRAME_KIND.offer: {
      const fields = greeting();
      const x25519 = take(X25519_PUBLIC_BYTES);
      const mlkemKey = take(MLKEM768_ENCAPSULATION_KEY_BYTES);
      if (fields === null || x25519 === null || mlkemKey === null)
        return malformed('an OFFER is truncated or its ids are empty or not UTF-8');
      frame = { kind: 'offer', offer: { ...fields, keys: { x25519, mlkemKey } } };
      break;
    }
    case FRAME_KIND.answer: {
      const fields = greeting();
      const x25519 = take(X25519_PUBLIC_BYTES);
      const mlkemCiphertext = take(MLKEM768_CIPHERTEXT_BYTES);
      if (fields === null || x25519 === null || mlkemCiphertext === null)
        return malformed('an ANSWER is truncated or its ids are empty or not UTF-8');
      frame = { kind: 'answer', answer: { ...fields, keys: { x25519, mlkemCiphertext } } };
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
      const code = text();
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
