/**
 * Frame protection after the handshake: every frame between two validators is sealed with
 * AES-256-GCM under a key of its direction, so that nothing on the path can read, forge,
 * alter, replay, reorder or move a frame between connections without the receiver noticing.
 *
 * Keys. The handshake's combined secret (X25519 and ML-KEM-768, `key-exchange.ts`) goes
 * through HKDF-SHA256 with the transcript hash as salt; the output is one 32-byte key per
 * direction (dialer to acceptor, acceptor to dialer). Fresh ephemeral keys on every
 * connection make every connection's keys unrelated to every other's.
 *
 * Nonces. A record's nonce is its number in its direction (four zero bytes, then a u64), kept
 * by both ends and never sent. A record dropped, replayed or reordered on the path therefore
 * fails to open at the receiver, as does one moved from another connection (another key).
 * Keys are never reused across directions, so one counter per direction is a unique nonce.
 *
 * Records. A sealed record is the ciphertext and its 16-byte tag; the stream carries it behind
 * the usual u32 length prefix (`wire/frame.ts`). The length is additional authenticated data,
 * so a changed prefix makes the record fail to open rather than parse as something else.
 *
 * A direction seals at most {@link RECORDS_PER_KEY_MAX} records; past that `seal` throws and
 * the transport closes the connection, and the next one starts with fresh keys.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { ArgumentError } from '../errors.ts';
import { FRAME_PREFIX_BYTES } from '../wire/frame.ts';

/** Bytes of an AES-GCM tag: what sealing adds to a frame. */
export const SEAL_OVERHEAD_BYTES = 16;

/** Records one key seals before the connection must be replaced (2^32; see the module comment). */
export const RECORDS_PER_KEY_MAX = 2 ** 32;

const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const KEY_INFO = new TextEncoder().encode('cretoai-consensus/channel/v3 keys');

/** The two directions' keys of one connection. */
export interface ChannelKeys {
  readonly dialerToAcceptor: Uint8Array;
  readonly acceptorToDialer: Uint8Array;
}

/** Derives the direction keys from the combined secret and the transcript hash. */
export function deriveChannelKeys(secret: Uint8Array, transcriptHash: Uint8Array): ChannelKeys {
  const out = new Uint8Array(hkdfSync('sha256', secret, transcriptHash, KEY_INFO, 2 * KEY_BYTES));
  return { dialerToAcceptor: out.slice(0, KEY_BYTES), acceptorToDialer: out.slice(KEY_BYTES) };
}

/** Writes the nonce of record `counter` into `nonce` (bytes 4-11, big-endian). */
function setNonce(nonce: Buffer, counter: number): void {
  nonce.writeUInt32BE(Math.floor(counter / 2 ** 32), 4);
  nonce.writeUInt32BE(counter >>> 0, 8);
}

function lengthBytes(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
  bytes.writeUInt32BE(length, 0);
  return bytes;
}

/**
 * A channel key as a KeyObject: node:crypto takes a raw Buffer key by first testing whether it
 * is a KeyObject, a test that throws and catches an error with a stack trace, which doubled the
 * cost of setting up each record's cipher (docs/benchmarks.md).
 */
function channelKey(key: Uint8Array): KeyObject {
  if (key.length !== KEY_BYTES) throw new ArgumentError(`a channel key is ${KEY_BYTES} bytes`);
  return createSecretKey(key);
}

/** Seals the records of one direction, numbering them from 0. */
export class RecordSealer {
  readonly #key: KeyObject;
  readonly #nonce = Buffer.alloc(NONCE_BYTES);
  #counter = 0;

  constructor(key: Uint8Array) {
    this.#key = channelKey(key);
  }

  /** Records sealed so far. */
  get sealed(): number {
    return this.#counter;
  }

  /**
   * `plaintext` sealed as the next record and framed for the stream: the u32 length of the
   * record, the ciphertext, the tag.
   *
   * @throws ArgumentError once {@link RECORDS_PER_KEY_MAX} records were sealed.
   */
  sealFrame(plaintext: Uint8Array): Uint8Array {
    const recordBytes = plaintext.length + SEAL_OVERHEAD_BYTES;
    const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + recordBytes);
    out.writeUInt32BE(recordBytes, 0);
    const cipher = this.#cipher(out.subarray(0, FRAME_PREFIX_BYTES));
    const head = cipher.update(plaintext);
    head.copy(out, FRAME_PREFIX_BYTES);
    const tail = cipher.final();
    tail.copy(out, FRAME_PREFIX_BYTES + head.length);
    cipher.getAuthTag().copy(out, FRAME_PREFIX_BYTES + plaintext.length);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** `plaintext` sealed as the next record, without the length prefix (the handshake frames). */
  seal(plaintext: Uint8Array): Uint8Array {
    return this.sealFrame(plaintext).subarray(FRAME_PREFIX_BYTES);
  }

  #cipher(aad: Buffer) {
    if (this.#counter >= RECORDS_PER_KEY_MAX)
      throw new ArgumentError(`${RECORDS_PER_KEY_MAX} records sealed under one key: reconnect`);
    setNonce(this.#nonce, this.#counter++);
    const cipher = createCipheriv(CIPHER, this.#key, this.#nonce);
    cipher.setAAD(aad);
    return cipher;
  }
}

/** Opens the records of one direction, expecting them numbered from 0 with no gap. */
export class RecordOpener {
  readonly #key: KeyObject;
  readonly #nonce = Buffer.alloc(NONCE_BYTES);
  #counter = 0;
  #failed = false;

  constructor(key: Uint8Array) {
    this.#key = channelKey(key);
  }

  /** Records opened so far. */
  get opened(): number {
    return this.#counter;
  }

  /**
   * The plaintext of `record` (ciphertext and tag, without the length prefix), or null when it
   * is not the next record of this direction under this key. Once a record fails, every later
   * one does too: the stream can no longer be trusted, and the connection must close.
   */
  open(record: Uint8Array): Uint8Array | null {
    if (this.#failed) return null;
    if (record.length < SEAL_OVERHEAD_BYTES || this.#counter >= RECORDS_PER_KEY_MAX) return this.#fail();
    setNonce(this.#nonce, this.#counter);
    const ciphertextBytes = record.length - SEAL_OVERHEAD_BYTES;
    try {
      const decipher = createDecipheriv(CIPHER, this.#key, this.#nonce);
      decipher.setAAD(lengthBytes(record.length));
      decipher.setAuthTag(record.subarray(ciphertextBytes));
      const head = decipher.update(record.subarray(0, ciphertextBytes));
      // final() checks the tag: nothing of the record is used before it passes.
      const tail = decipher.final();
      this.#counter++;
      const plaintext = tail.length === 0 ? head : Buffer.concat([head, tail]);
      return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    } catch {
      return this.#fail();
    }
  }

  #fail(): null {
    this.#failed = true;
    return null;
  }
}
