/**
 * The crypto layer: SHA-256 digests, ML-DSA-87 signatures through `node:crypto`, and an
 * insecure deterministic scheme for the simulator, all behind one {@link SignatureScheme}.
 */
export { bytesEqual, DIGEST_BYTES, sha256, sha256Of, toHex } from './digest.ts';
export type { CryptoErrorCode } from './errors.ts';
export { CRYPTO_ERROR_CODES, CryptoError } from './errors.ts';
export { insecureSimulationScheme } from './insecure-simulation.ts';
export {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  importPrivateKeyPem,
  importPublicKeyPem,
  mlDsa87,
} from './ml-dsa.ts';
export type { KeyPair, PrivateKey, PublicKey, SchemeName, SignatureScheme } from './scheme.ts';
export { CONTEXT_BYTES_MAX } from './scheme.ts';
