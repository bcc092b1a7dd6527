/**
 * The hybrid key exchange of the connection handshake: X25519 and ML-KEM-768 (FIPS 203), both
 * from `node:crypto` (OpenSSL 3.5), fresh for every connection.
 *
 * The dialer offers an X25519 public key and an ML-KEM-768 encapsulation key; the side that
 * accepts answers with its own X25519 public key and a ciphertext encapsulated to the offered
 * key. Each side ends with both shared secrets. The handshake feeds their concatenation to
 * HKDF with the transcript as salt (`channel-crypto.ts`), so the session keys stay secret as
 * long as either X25519 or ML-KEM-768 holds: recorded traffic does not become readable when a
 * quantum computer breaks elliptic curves, nor when a flaw is found in the younger lattice
 * scheme. Authentication is not this module's job: the ML-DSA-87 signatures of the handshake
 * bind these keys to the validators' identities.
 *
 * Every input here comes from an unauthenticated peer, so nothing throws: a key or ciphertext
 * that OpenSSL refuses (wrong length, a low-order X25519 point) makes the result null.
 */
// ML-KEM's functions are read off the module rather than imported by name: a named import
// that an older Node lacks fails when the module graph links, before the package's Node
// version check (runtime/require-node.js) can say in one sentence what is wrong.
import nodeCrypto, { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** Bytes of a raw X25519 public key. */
export const X25519_PUBLIC_BYTES = 32;
/** Bytes of a raw ML-KEM-768 encapsulation key. */
export const MLKEM768_ENCAPSULATION_KEY_BYTES = 1184;
/** Bytes of an ML-KEM-768 ciphertext. */
export const MLKEM768_CIPHERTEXT_BYTES = 1088;
/** Bytes of the combined secret: the X25519 secret (32) then the ML-KEM-768 secret (32). */
export const SHARED_SECRET_BYTES = 64;

/** What the dialer sends: its two public keys. */
export interface KeyOffer {
  readonly x25519: Uint8Array;
  readonly mlkemKey: Uint8Array;
}

/** What the accepting side sends back: its X25519 public key and the KEM ciphertext. */
export interface KeyAnswer {
  readonly x25519: Uint8Array;
  readonly mlkemCiphertext: Uint8Array;
}

function raw(key: KeyObject): Uint8Array {
  const bytes = key.export({ format: 'raw-public' });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function importRaw(bytes: Uint8Array, type: 'x25519' | 'ml-kem-768', length: number): KeyObject | null {
  if (bytes.length !== length) return null;
  try {
    return createPublicKey({ key: Buffer.from(bytes), format: 'raw-public', asymmetricKeyType: type });
  } catch {
    return null;
  }
}

function joinSecrets(x25519Secret: Uint8Array, mlkemSecret: Uint8Array): Uint8Array {
  const secret = new Uint8Array(SHARED_SECRET_BYTES);
  secret.set(x25519Secret, 0);
  secret.set(mlkemSecret, 32);
  return secret;
}

/** The dialer's half: fresh keys, the offer to send, and the secret once the answer arrives. */
export class InitiatorKeyExchange {
  readonly offer: KeyOffer;
  readonly #x25519: KeyObject;
  readonly #mlkem: KeyObject;

  constructor() {
    const x = generateKeyPairSync('x25519');
    const kem = generateKeyPairSync('ml-kem-768');
    this.#x25519 = x.privateKey;
    this.#mlkem = kem.privateKey;
    this.offer = { x25519: raw(x.publicKey), mlkemKey: raw(kem.publicKey) };
  }

  /** The combined secret, or null when the answer's key or ciphertext is refused. */
  finish(answer: KeyAnswer): Uint8Array | null {
    const peer = importRaw(answer.x25519, 'x25519', X25519_PUBLIC_BYTES);
    if (peer === null || answer.mlkemCiphertext.length !== MLKEM768_CIPHERTEXT_BYTES) return null;
    try {
      const x25519Secret = diffieHellman({ privateKey: this.#x25519, publicKey: peer });
      const mlkemSecret = nodeCrypto.decapsulate(this.#mlkem, Buffer.from(answer.mlkemCiphertext));
      return joinSecrets(x25519Secret, mlkemSecret);
    } catch {
      return null;
    }
  }
}

/**
 * The accepting side's half in one step: the answer to send and the combined secret, or null
 * when the offer's keys are refused.
 */
export function answerKeyOffer(offer: KeyOffer): { answer: KeyAnswer; secret: Uint8Array } | null {
  const peerX25519 = importRaw(offer.x25519, 'x25519', X25519_PUBLIC_BYTES);
  const peerKem = importRaw(offer.mlkemKey, 'ml-kem-768', MLKEM768_ENCAPSULATION_KEY_BYTES);
  if (peerX25519 === null || peerKem === null) return null;
  try {
    const x = generateKeyPairSync('x25519');
    const x25519Secret = diffieHellman({ privateKey: x.privateKey, publicKey: peerX25519 });
    const { sharedKey, ciphertext } = nodeCrypto.encapsulate(peerKem);
    return {
      answer: {
        x25519: raw(x.publicKey),
        mlkemCiphertext: new Uint8Array(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength),
      },
      secret: joinSecrets(x25519Secret, sharedKey),
    };
  } catch {
    return null;
  }
}
