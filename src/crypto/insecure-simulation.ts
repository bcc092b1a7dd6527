/**
 * A fast, deterministic stand-in for ML-DSA-87 used only by the deterministic simulator.
 *
 * The simulator runs thousands of seeded replica-steps per second and must replay a seed
 * exactly; ML-DSA-87 signing is both slow and randomized (hedged), so the
 * simulator signs with this scheme instead, through the same {@link SignatureScheme}
 * interface, so that the protocol code it drives is the production code.
 */
import { randomBytes } from 'node:crypto';
import { bytesEqual, sha256 } from './digest.ts';
import { CryptoError } from './errors.ts';
import type { KeyPair, PrivateKey, PublicKey, SignatureScheme } from './scheme.ts';
import { checkContext } from './scheme.ts';
import { sealedKeys } from './sealed-keys.ts';

const NAME = 'insecure-simulation';
const SEED_BYTES = 32;
const SIGNATURE_BYTES = 16;
// A tag of its own, so that these "signatures" can never equal any other digest in the system.
const SIGNATURE_TAG = new TextEncoder().encode('cretoai/insecure-simulation-signature/v1');

// The public key is the seed itself: both halves hide the same seed.
const keys = sealedKeys<Uint8Array, Uint8Array>(NAME, {
  publicKey: `a ${NAME} public key must come from this module`,
  privateKey: `a ${NAME} private key must come from this module`,
});

function tag(seed: Uint8Array, message: Uint8Array, context: Uint8Array): Uint8Array {
  // The context length is one byte (checkContext bounds it at 255), as in FIPS 204, so that
  // (context, message) pairs cannot be shifted into one another.
  const digest = sha256(SIGNATURE_TAG, seed, Uint8Array.of(context.length), context, message);
  return digest.slice(0, SIGNATURE_BYTES);
}

function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== SEED_BYTES) {
    throw new CryptoError('invalid-seed', `a ${NAME} seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  }
  const copy = seed.slice();
  return { publicKey: keys.publicKey(copy, copy), privateKey: keys.privateKey(copy) };
}

function sign(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Uint8Array {
  checkContext(context);
  return tag(keys.privatePart(privateKey), message, context);
}

function verify(
  publicKey: PublicKey,
  message: Uint8Array,
  signature: Uint8Array,
  context: Uint8Array,
): boolean {
  checkContext(context);
  const seed = keys.publicPart(publicKey);
  if (signature.length !== SIGNATURE_BYTES) return false;
  return bytesEqual(signature, tag(seed, message, context));
}

/**
 * THIS SCHEME PROVIDES NO SECURITY. THE PUBLIC KEY IS THE SECRET SEED, SO ANYONE WHO SEES A
 * PUBLIC KEY CAN FORGE EVERY SIGNATURE OF ITS OWNER. USE IT ONLY IN THE DETERMINISTIC
 * SIMULATOR AND IN TESTS, NEVER IN A NODE THAT TALKS TO A NETWORK.
 *
 * A "signature" is the first 16 bytes of
 * SHA-256(tag || seed || u8 contextLength || context || message). Signing is deterministic,
 * so a simulator run replays byte for byte from its seed. It shares the interface (and the
 * context and scheme checks) of {@link mlDsa87}, so the simulated protocol core receives
 * and rejects messages exactly as the production one does; its keys are refused by
 * ML-DSA-87 with `scheme-mismatch`, and ML-DSA-87 keys by it.
 */
export const insecureSimulationScheme: SignatureScheme = Object.freeze({
  name: NAME,
  publicKeyBytes: SEED_BYTES,
  seedBytes: SEED_BYTES,
  signatureBytes: SIGNATURE_BYTES,

  generateKeyPair(): KeyPair {
    return keyPairFromSeed(randomBytes(SEED_BYTES));
  },

  keyPairFromSeed,

  exportSeed(privateKey: PrivateKey): Uint8Array {
    return keys.privatePart(privateKey).slice();
  },

  importPublicKey(raw: Uint8Array): PublicKey {
    if (raw.length !== SEED_BYTES) {
      throw new CryptoError(
        'invalid-public-key',
        `a ${NAME} public key is ${SEED_BYTES} bytes, got ${raw.length}`,
      );
    }
    const copy = raw.slice();
    return keys.publicKey(copy, copy);
  },

  sign,

  // There is no work worth a thread hop; the async forms exist only to share the interface.
  // Misuse rejects rather than throws, as with ML-DSA-87.
  signAsync(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve) => resolve(sign(privateKey, message, context)));
  },

  verify,

  verifyAsync(
    publicKey: PublicKey,
    message: Uint8Array,
    signature: Uint8Array,
    context: Uint8Array,
  ): Promise<boolean> {
    return new Promise((resolve) => resolve(verify(publicKey, message, signature, context)));
  },
});
