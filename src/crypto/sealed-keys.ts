/**
 * The key classes of a scheme. A key hides what its scheme signs or verifies with (a seed, a
 * parsed `KeyObject`) from every module but the scheme's own: each call of {@link sealedKeys}
 * makes classes of its own, whose private fields only the functions it returns can read, and
 * the scheme's module keeps those to itself. An object that merely looks like a key (the right
 * `scheme`, but not made here) holds nothing to read and is refused with `foreign-key`.
 */
import { CryptoError } from './errors.ts';
import { checkScheme, type PrivateKey, type PublicKey, type SchemeName } from './scheme.ts';

/** Making and reading the keys of one scheme: for its own module only. */
export interface SealedKeys<PublicPart, PrivatePart> {
  /** A public key: its raw encoding, and what verifying takes. */
  publicKey(raw: Uint8Array, part: PublicPart): PublicKey;
  /** A private key: what signing takes. */
  privateKey(part: PrivatePart): PrivateKey;
  /** What `key` hides. Throws CryptoError `scheme-mismatch` or `foreign-key`. */
  publicPart(key: PublicKey): PublicPart;
  /** What `key` hides. Throws CryptoError `scheme-mismatch` or `foreign-key`. */
  privatePart(key: PrivateKey): PrivatePart;
}

/**
 * The key classes of `scheme`. `foreign` holds the messages of the `foreign-key` errors, for a
 * look-alike public key and private key.
 */
export function sealedKeys<PublicPart, PrivatePart>(
  scheme: SchemeName,
  foreign: { readonly publicKey: string; readonly privateKey: string },
): SealedKeys<PublicPart, PrivatePart> {
  // Set in the classes' static blocks and never exposed: a static method would be reachable from
  // any key as `key.constructor`, and would hand its part to whoever holds the key.
  let publicPartOf: (key: PublicKey) => PublicPart | undefined = () => undefined;
  let privatePartOf: (key: PrivateKey) => PrivatePart | undefined = () => undefined;

  class SealedPublicKey implements PublicKey {
    readonly scheme = scheme;
    readonly #raw: Uint8Array;
    readonly #part: PublicPart;

    constructor(raw: Uint8Array, part: PublicPart) {
      this.#raw = raw;
      this.#part = part;
    }

    // A copy, so that a caller who writes into the array cannot make `raw` disagree with the
    // part that verifying uses.
    get raw(): Uint8Array {
      return this.#raw.slice();
    }

    static {
      publicPartOf = (key) => (#part in key ? key.#part : undefined);
    }
  }

  class SealedPrivateKey implements PrivateKey {
    readonly scheme = scheme;
    readonly #part: PrivatePart;

    constructor(part: PrivatePart) {
      this.#part = part;
    }

    static {
      privatePartOf = (key) => (#part in key ? key.#part : undefined);
    }
  }

  return {
    publicKey: (raw, part) => new SealedPublicKey(raw, part),
    privateKey: (part) => new SealedPrivateKey(part),
    publicPart: (key) => reveal(key, scheme, publicPartOf, foreign.publicKey),
    privatePart: (key) => reveal(key, scheme, privatePartOf, foreign.privateKey),
  };
}

/** What `key` hides, read by `partOf` once `key` is known to claim `scheme`. */
function reveal<K extends PublicKey | PrivateKey, T>(
  key: K,
  scheme: SchemeName,
  partOf: (key: K) => T | undefined,
  foreign: string,
): T {
  checkScheme(key, scheme);
  const part = partOf(key);
  if (part === undefined) throw new CryptoError('foreign-key', foreign);
  return part;
}
