/**
 * Signature checks for received messages, on the libuv thread pool (`verifyAsync`), so that
 * every core verifies while the event loop decodes and steps.
 *
 * Each distinct signature is verified once. The cache key is SHA-256 over (signer, sign-bytes,
 * signature), not over the whole frame: a PRE-PREPARE frame carries its batch (up to
 * `batchMaxBytes`) which the signature does not cover, and the same signed vote arrives on its
 * own and again nested in certificates (VIEW-CHANGE, NEW-VIEW, STATE-REPLY) inside frames that
 * all differ. Keying by what the signature covers skips every repeat and hashes a few KB per
 * check instead of the frame. Checks of the same signature that are in flight at once share one
 * verification.
 */
import { hash } from 'node:crypto';
import type { PublicKey, SignatureScheme } from '../crypto/index.ts';
import type { Message, ReplicaId } from '../protocol/index.ts';
import { Fifo } from '../shell/fifo.ts';
import { CONSENSUS_CONTEXT } from '../shell/signing.ts';
import { type SignatureCheck, signaturesOf } from '../wire/index.ts';

/** What the checks found: all valid, one invalid, or a signer whose key this node does not have. */
export type VerifyOutcome = 'valid' | 'invalid-signature' | 'unknown-sender';

export interface VerifierOptions {
  readonly scheme: SignatureScheme;
  readonly clusterId: string;
  /** Verified signatures remembered (oldest forgotten first). 0 disables the cache. */
  readonly cacheMax: number;
  /** The public key of a replica in an epoch (ids are per epoch), if this node knows it. */
  readonly keyOf: (epoch: number, replica: ReplicaId) => PublicKey | undefined;
  /**
   * FOR TESTS ONLY (`EngineTestSeams.verifyCacheKey`): the cache key of a check. Default: SHA-256
   * over (signer, sign-bytes, signature).
   */
  readonly cacheKey?: (check: SignatureCheck) => string;
}

/** Counters, for tests and benchmarks. */
export interface VerifierStats {
  /** Signatures looked at (outer and nested). */
  checks: number;
  /** Of those, found in the cache or already in flight. */
  cached: number;
  /** Verifications run on the thread pool. */
  verified: number;
}

export class SignatureVerifier {
  readonly #options: VerifierOptions;
  /** Keys of verified signatures. */
  readonly #verified = new Set<string>();
  /** The same keys, oldest first, for eviction (see `ProposalRegistry` on Map iteration). */
  readonly #order = new Fifo<string>();
  readonly #inFlight = new Map<string, Promise<boolean>>();
  readonly stats: VerifierStats = { checks: 0, cached: 0, verified: 0 };

  readonly #cacheKey: (check: SignatureCheck) => string;

  constructor(options: VerifierOptions) {
    this.#options = options;
    this.#cacheKey = options.cacheKey ?? keyOf;
  }

  /** Verified signatures remembered now (at most `cacheMax`). */
  get cached(): number {
    return this.#verified.size;
  }

  /** Distinct signatures being verified now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Checks every signature `message` carries. The result is immediate when all of them were
   * verified before (the common case for relayed and nested votes), a promise otherwise.
   */
  verify(message: Message): VerifyOutcome | Promise<VerifyOutcome> {
    const checks = signaturesOf(message, this.#options.clusterId);
    const pending: Promise<boolean>[] = [];
    for (const check of checks) {
      this.stats.checks++;
      const key = this.#options.keyOf(check.epoch, check.replica);
      if (key === undefined) return 'unknown-sender';
      const cacheKey = this.#cacheKey(check);
      if (this.#verified.has(cacheKey)) {
        this.stats.cached++;
        continue;
      }
      let verification = this.#inFlight.get(cacheKey);
      if (verification === undefined) {
        verification = this.#start(cacheKey, key, check);
      } else {
        this.stats.cached++;
      }
      pending.push(verification);
    }
    if (pending.length === 0) return 'valid';
    return Promise.all(pending).then((results) =>
      results.every((valid) => valid) ? 'valid' : 'invalid-signature',
    );
  }

  #start(cacheKey: string, key: PublicKey, check: SignatureCheck): Promise<boolean> {
    this.stats.verified++;
    const verification = this.#options.scheme
      .verifyAsync(key, check.bytes, check.signature, CONSENSUS_CONTEXT)
      .then((valid) => {
        this.#inFlight.delete(cacheKey);
        if (valid) this.#remember(cacheKey);
        return valid;
      });
    this.#inFlight.set(cacheKey, verification);
    return verification;
  }

  #remember(cacheKey: string): void {
    const max = this.#options.cacheMax;
    if (max === 0) return;
    if (this.#verified.has(cacheKey)) return;
    this.#verified.add(cacheKey);
    this.#order.push(cacheKey);
    if (this.#verified.size > max) this.#verified.delete(this.#order.shift()!);
  }
}

/**
 * SHA-256 over (signer, sign-bytes, signature), in base64 (44 characters). One native call over
 * one buffer: a Hash object fed part by part cost twice as much, on every signature checked.
 */
function keyOf(check: SignatureCheck): string {
  const { bytes, signature } = check;
  const joined = Buffer.allocUnsafe(2 + bytes.length + signature.length);
  joined.writeUInt16BE(check.replica, 0);
  joined.set(bytes, 2);
  joined.set(signature, 2 + bytes.length);
  return hash('sha256', joined, 'base64');
}
