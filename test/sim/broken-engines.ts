/**
 * Deliberately broken parts of the engine, for the broken-variant tests only: each is plugged in
 * through `EngineTestSeams`, never by editing shipped logic, and each breaks one rule the
 * shipped part keeps.
 */
import { createHash } from 'node:crypto';
import type { EngineTestSeams, OutboundQueuePart, ReleaseQueuePart } from '../../src/engine/index.ts';
import type { OutboundOptions } from '../../src/engine/outbound.ts';
import {
  AfterPersist,
  type DurableReceipt,
  durableReceipt,
  isSignedKind,
  type Outbound,
  type Released,
} from '../../src/protocol/index.ts';
import { ReleaseQueue } from '../../src/shell/release-queue.ts';
import type { SignatureCheck } from '../../src/wire/index.ts';

/**
 * Sends each step's messages, its votes included, at once, without waiting for the store's
 * receipt for the writes that record them (it mints the receipt itself, which only a store may);
 * deliveries and acknowledgments still wait for the receipt, so that only the votes break the
 * rule.
 */
class EagerVotesReleaseQueue implements ReleaseQueuePart {
  readonly #rest = new ReleaseQueue();

  get size(): number {
    return this.#rest.size;
  }

  get durableThrough(): number {
    return this.#rest.durableThrough;
  }

  push(sealed: AfterPersist<Released>): Released[] {
    const { messages, deliveries, acknowledged } = sealed.open(durableReceipt(sealed.requires));
    const rest = this.#rest.push(
      new AfterPersist<Released>(sealed.requires, { messages: [], deliveries, acknowledged }),
    );
    return [{ messages, deliveries: [], acknowledged: [] }, ...rest];
  }

  durable(receipt: DurableReceipt): Released[] {
    return this.#rest.durable(receipt);
  }
}

/** Sends each message as soon as its signature is done, whatever was pushed before it. */
class UnorderedOutboundQueue implements OutboundQueuePart {
  readonly #options: OutboundOptions;
  #signing = 0;
  #closed = false;

  constructor(options: OutboundOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#signing;
  }

  push(outbound: Outbound): void {
    if (this.#closed) return;
    if ('relay' in outbound) {
      this.#options.send(outbound.to, outbound.relay);
      return;
    }
    if (!isSignedKind(outbound.draft)) {
      this.#options.send(outbound.to, outbound.draft);
      return;
    }
    this.#signing++;
    this.#options.sign(outbound.draft).then(
      (message) => {
        this.#signing--;
        if (this.#closed) return;
        this.#options.send(outbound.to, message);
        if (this.#signing === 0) this.#options.idle();
      },
      (error: unknown) => this.#options.failed(error),
    );
  }

  close(): void {
    this.#closed = true;
  }
}

const replicaBytes = new Uint8Array(2);

/**
 * A verify cache key over the signer and the signed bytes but not the signature: once a message
 * verified, any copy of it with another signature, valid or not, is taken as verified.
 */
function keyWithoutSignature(check: SignatureCheck): string {
  new DataView(replicaBytes.buffer).setUint16(0, check.replica);
  return createHash('sha256').update(replicaBytes).update(check.bytes).digest('base64');
}

/** An engine that sends a vote before the write that records it is durable. */
export const VOTES_BEFORE_DURABLE: EngineTestSeams = Object.freeze({
  createReleaseQueue: () => new EagerVotesReleaseQueue(),
});

/** An engine whose votes leave in the order their signatures finish, not the order produced. */
export const VOTES_OUT_OF_ORDER: EngineTestSeams = Object.freeze({
  createOutboundQueue: (options: OutboundOptions) => new UnorderedOutboundQueue(options),
});

/** An engine whose verify cache answers for a message it never verified. */
export const CACHE_MISSES_SIGNATURE: EngineTestSeams = Object.freeze({
  verifyCacheKey: keyWithoutSignature,
});
