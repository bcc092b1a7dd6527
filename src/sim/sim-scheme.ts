/**
 * The signature scheme of one simulated process: the insecure simulation scheme (fast and
 * deterministic), with its asynchronous completions delivered as events of the process after a
 * latency drawn from the seed. Signatures and checks started together therefore finish in a
 * seeded order, as they do on the libuv thread pool, and the engine's ordering of them (the
 * send FIFO, the per-sender receive FIFO) is exercised on every run.
 */
import {
  insecureSimulationScheme,
  type KeyPair,
  type PrivateKey,
  type PublicKey,
  type SignatureScheme,
} from '../crypto/index.ts';
import type { Prng } from './prng.ts';
import type { SimProcess } from './process.ts';

const base = insecureSimulationScheme;

export class SimScheme implements SignatureScheme {
  readonly name = base.name;
  readonly publicKeyBytes = base.publicKeyBytes;
  readonly seedBytes = base.seedBytes;
  readonly signatureBytes = base.signatureBytes;
  readonly #process: SimProcess;
  readonly #prng: Prng;
  readonly #latencyMicros: readonly [number, number];

  /** @param latencyMicros - the range each completion's latency is drawn from, in microseconds. */
  constructor(process: SimProcess, prng: Prng, latencyMicros: readonly [number, number]) {
    this.#process = process;
    this.#prng = prng;
    this.#latencyMicros = latencyMicros;
  }

  generateKeyPair(): KeyPair {
    return base.generateKeyPair();
  }

  keyPairFromSeed(seed: Uint8Array): KeyPair {
    return base.keyPairFromSeed(seed);
  }

  exportSeed(privateKey: PrivateKey): Uint8Array {
    return base.exportSeed(privateKey);
  }

  importPublicKey(raw: Uint8Array): PublicKey {
    return base.importPublicKey(raw);
  }

  sign(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Uint8Array {
    return base.sign(privateKey, message, context);
  }

  verify(publicKey: PublicKey, message: Uint8Array, signature: Uint8Array, context: Uint8Array): boolean {
    return base.verify(publicKey, message, signature, context);
  }

  signAsync(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return this.#complete(() => base.sign(privateKey, message, context));
  }

  verifyAsync(
    publicKey: PublicKey,
    message: Uint8Array,
    signature: Uint8Array,
    context: Uint8Array,
  ): Promise<boolean> {
    return this.#complete(() => base.verify(publicKey, message, signature, context));
  }

  /** Computes now, settles later (never, if the process dies first). Misuse rejects, as ML-DSA's does. */
  #complete<T>(work: () => T): Promise<T> {
    const [low, high] = this.#latencyMicros;
    const delayMs = this.#prng.between(low, high) / 1000;
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: work() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    return new Promise((resolve, reject) => {
      this.#process.schedule(delayMs, () => (outcome.ok ? resolve(outcome.value) : reject(outcome.error)));
    });
  }
}
