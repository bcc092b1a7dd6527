/**
 * ML-DSA-87 (FIPS 204, security category 5) through `node:crypto` only: Node 24 links
 * OpenSSL 3.5, which implements it, so no third-party code ever touches a private key.
 *
 * Keys are seed-based: a private key is always re-creatable from its 32-byte FIPS 204 seed
 * xi, which is what {@link mlDsa87}.exportSeed returns and what key files carry.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { CryptoError } from './errors.ts';
import type { KeyPair, PrivateKey, PublicKey, SignatureScheme } from './scheme.ts';
import { checkContext } from './scheme.ts';
import { sealedKeys } from './sealed-keys.ts';

const NAME = 'ml-dsa-87';
// FIPS 204, Table 2, ML-DSA-87: |pk| = 2592, |sig| = 4627; the key-generation seed xi is 32 bytes.
const PUBLIC_KEY_BYTES = 2592;
const SEED_BYTES = 32;
const SIGNATURE_BYTES = 4627;

// node:crypto wants Buffers for raw key input; view the caller's bytes without copying.
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Hand callers plain Uint8Arrays, as the rest of the crypto layer does (see digest.ts), so that
// `assert.deepStrictEqual` and structural comparisons do not trip over the Buffer prototype.
function asBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * A KeyObject of this module that carries the FIPS 204 context of the call being made: node:crypto
 * reads a sign or verify call's options from its key argument, KeyObject or not.
 */
interface ContextCarrier extends KeyObject {
  context?: Uint8Array;
}

/**
 * The key argument of a node:crypto sign or verify call under `context`.
 *
 * Node 24 checks a `{ key, context }` options object with `isKeyObject` and `isCryptoKey`, each
 * of which throws and catches a TypeError for a plain object, and those two throws were most of
 * the main thread's cost of handing a signature or a verification to the thread pool, stack
 * traces off or not (docs/benchmarks.md). A KeyObject passes both checks at once, so the context
 * is set on the module's own KeyObject (the sealed keys never hand it out) just before the
 * synchronous call that reads it. Whether this Node honours a context given so is checked once;
 * where it does not, the options object serves.
 */
function keyArgument(
  key: KeyObject,
  context: Uint8Array,
): KeyObject | { key: KeyObject; context: Uint8Array } {
  contextOnKeyHonoured ??= checkContextOnKey();
  if (!contextOnKeyHonoured) return { key, context };
  (key as ContextCarrier).context = context;
  return key;
}

let contextOnKeyHonoured: boolean | undefined;

/**
 * Whether a context set on a KeyObject binds its signatures: a signature made so verifies under
 * its context given as an option, and through a KeyObject that carries it, but not through one
 * that carries another. If a Node ignored the property, every signature would silently lose its
 * context (and with it the domain separation the protocol relies on), so nothing is assumed.
 */
function checkContextOnKey(): boolean {
  const { privateKey, publicKey } = generateKeyPairSync(NAME);
  const message = new Uint8Array(1);
  const ours = new TextEncoder().encode('ours');
  const other = new TextEncoder().encode('other');
  (privateKey as ContextCarrier).context = ours;
  const signature = nodeSign(null, message, privateKey);
  const withOption = nodeVerify(null, message, { key: publicKey, context: ours }, signature);
  (publicKey as ContextCarrier).context = other;
  const underOther = nodeVerify(null, message, publicKey, signature);
  (publicKey as ContextCarrier).context = ours;
  return withOption && !underOther && nodeVerify(null, message, publicKey, signature);
}

/**
 * Runs a node:crypto sign or verify call with stack traces off: where {@link keyArgument} falls
 * back to an options object, Node's two type checks each capture a stack trace otherwise.
 */
function withoutStackTraces<T>(call: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return call();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

// The keys hide their parsed KeyObjects, so that a verify never parses a key again.
const keys = sealedKeys<KeyObject, KeyObject>(NAME, {
  publicKey: 'an ML-DSA-87 public key must come from this module (importPublicKey)',
  privateKey: 'an ML-DSA-87 private key must come from this module',
});

function publicKeyFromKeyObject(keyObject: KeyObject): PublicKey {
  return keys.publicKey(asBytes(keyObject.export({ format: 'raw-public' })), keyObject);
}

function keyPairFromPrivateKeyObject(privateKey: KeyObject): KeyPair {
  return {
    publicKey: publicKeyFromKeyObject(createPublicKey(privateKey)),
    privateKey: keys.privateKey(privateKey),
  };
}

/**
 * ML-DSA-87 (FIPS 204) signatures through `node:crypto`. Signing is hedged (randomized), so
 * two signatures of the same message differ; both verify.
 *
 * Signing costs several times what verifying does (docs/benchmarks.md). The async variants run
 * on the libuv thread pool, so a replica verifies on every core.
 */
export const mlDsa87: SignatureScheme = Object.freeze({
  name: NAME,
  publicKeyBytes: PUBLIC_KEY_BYTES,
  seedBytes: SEED_BYTES,
  signatureBytes: SIGNATURE_BYTES,

  generateKeyPair(): KeyPair {
    return keyPairFromPrivateKeyObject(generateKeyPairSync(NAME).privateKey);
  },

  keyPairFromSeed(seed: Uint8Array): KeyPair {
    if (seed.length !== SEED_BYTES) {
      throw new CryptoError('invalid-seed', `an ML-DSA-87 seed is ${SEED_BYTES} bytes, got ${seed.length}`);
    }
    const privateKey = createPrivateKey({ key: asBuffer(seed), format: 'raw-seed', asymmetricKeyType: NAME });
    return keyPairFromPrivateKeyObject(privateKey);
  },

  exportSeed(privateKey: PrivateKey): Uint8Array {
    return asBytes(keys.privatePart(privateKey).export({ format: 'raw-seed' }));
  },

  importPublicKey(raw: Uint8Array): PublicKey {
    if (raw.length !== PUBLIC_KEY_BYTES) {
      throw new CryptoError(
        'invalid-public-key',
        `an ML-DSA-87 public key is ${PUBLIC_KEY_BYTES} bytes, got ${raw.length}`,
      );
    }
    // Copy first: the key must not change if the caller later reuses its buffer.
    const copy = raw.slice();
    let keyObject: KeyObject;
    try {
      keyObject = createPublicKey({ key: asBuffer(copy), format: 'raw-public', asymmetricKeyType: NAME });
    } catch (cause) {
      throw new CryptoError('invalid-public-key', 'OpenSSL refused the ML-DSA-87 public key', { cause });
    }
    return keys.publicKey(copy, keyObject);
  },

  sign(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Uint8Array {
    checkContext(context);
    const key = keys.privatePart(privateKey);
    return asBytes(withoutStackTraces(() => nodeSign(null, message, keyArgument(key, context))));
  },

  signAsync(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    // Argument checks throw inside the executor, so misuse surfaces as a rejection, the
    // same way for every async call. Node copies `message` before the job leaves the thread.
    return new Promise((resolve, reject) => {
      checkContext(context);
      const key = keys.privatePart(privateKey);
      withoutStackTraces(() =>
        nodeSign(null, message, keyArgument(key, context), (error, signature) => {
          if (error) reject(error);
          else resolve(asBytes(signature));
        }),
      );
    });
  },

  verify(publicKey: PublicKey, message: Uint8Array, signature: Uint8Array, context: Uint8Array): boolean {
    checkContext(context);
    const key = keys.publicPart(publicKey);
    // Signatures come from peers. FIPS 204 signatures have one exact length, and checking it
    // here means no malformed length ever reaches OpenSSL.
    if (signature.length !== SIGNATURE_BYTES) return false;
    // Outside the try: a failure of the module's own check is no verdict on the signature.
    const keyWithContext = keyArgument(key, context);
    try {
      return withoutStackTraces(() => nodeVerify(null, message, keyWithContext, signature));
    } catch {
      // Everything but the signature has been checked above, so a throw can only be OpenSSL
      // rejecting the signature bytes: that is a failed verification, not a crash.
      return false;
    }
  },

  verifyAsync(
    publicKey: PublicKey,
    message: Uint8Array,
    signature: Uint8Array,
    context: Uint8Array,
  ): Promise<boolean> {
    return new Promise((resolve) => {
      checkContext(context);
      const key = keys.publicPart(publicKey);
      if (signature.length !== SIGNATURE_BYTES) {
        resolve(false);
        return;
      }
      const keyWithContext = keyArgument(key, context);
      try {
        // As in `verify`: an error about the signature bytes is a failed verification.
        withoutStackTraces(() =>
          nodeVerify(null, message, keyWithContext, signature, (error, valid) => resolve(!error && valid)),
        );
      } catch {
        resolve(false);
      }
    });
  },
});

/**
 * The private key as PKCS#8 PEM, for a key file. The encoding is OpenSSL's (seed and
 * expanded key), which `openssl pkey` and {@link importPrivateKeyPem} read back. It is not
 * encrypted: protect the file with file-system permissions.
 */
export function exportPrivateKeyPem(privateKey: PrivateKey): string {
  return keys.privatePart(privateKey).export({ format: 'pem', type: 'pkcs8' }).toString();
}

/**
 * Reads an ML-DSA-87 PKCS#8 PEM private key and derives its public key. Returns the pair
 * because whoever loads a key file also has to announce the public key.
 *
 * Throws CryptoError `invalid-pem` for unreadable or encrypted text (or a public key),
 * `wrong-key-type` for a private key of another algorithm, and `missing-seed` for an
 * ML-DSA-87 key stored without its seed (this layer's keys are always seed-based).
 */
export function importPrivateKeyPem(pem: string): KeyPair {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new CryptoError('invalid-pem', 'not a readable PEM private key', { cause });
  }
  if (keyObject.asymmetricKeyType !== NAME) {
    throw new CryptoError(
      'wrong-key-type',
      `expected an ML-DSA-87 private key, got ${keyObject.asymmetricKeyType ?? 'an unknown key type'}`,
    );
  }
  try {
    keyObject.export({ format: 'raw-seed' });
  } catch (cause) {
    throw new CryptoError('missing-seed', 'the ML-DSA-87 private key was stored without its seed', { cause });
  }
  return keyPairFromPrivateKeyObject(keyObject);
}

/** The public key as SPKI PEM, for a cluster file or a peer's key file. */
export function exportPublicKeyPem(publicKey: PublicKey): string {
  return keys.publicPart(publicKey).export({ format: 'pem', type: 'spki' }).toString();
}

/**
 * Reads an ML-DSA-87 SPKI PEM public key.
 *
 * Throws CryptoError `invalid-pem` for unreadable text, and also for a private key: Node
 * would quietly derive the public key from it, but a private key where a public one belongs
 * means a secret is being handed around, which an operator should hear about.
 * Throws `wrong-key-type` for a public key of another algorithm.
 */
export function importPublicKeyPem(pem: string): PublicKey {
  if (!pem.includes('-----BEGIN PUBLIC KEY-----') || pem.includes('PRIVATE KEY-----')) {
    throw new CryptoError(
      'invalid-pem',
      'expected a PEM block "-----BEGIN PUBLIC KEY-----" and no private key',
    );
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new CryptoError('invalid-pem', 'not a readable PEM public key', { cause });
  }
  if (keyObject.asymmetricKeyType !== NAME) {
    throw new CryptoError(
      'wrong-key-type',
      `expected an ML-DSA-87 public key, got ${keyObject.asymmetricKeyType ?? 'an unknown key type'}`,
    );
  }
  return publicKeyFromKeyObject(keyObject);
}
