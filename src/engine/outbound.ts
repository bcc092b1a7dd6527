/**
 * The send path: the core's drafts are signed on the libuv thread pool and sent in the order the
 * core produced them. Signatures complete out of order; a FIFO holds each message until every
 * earlier one has gone, so a peer never sees this replica's COMMIT before its PREPARE, nor a
 * NEW-VIEW before the VIEW-CHANGE it follows.
 *
 * A REQUEST is not signed and nothing depends on its order among this replica's votes, so it
 * leaves at once instead of waiting in the FIFO behind votes still being signed, a wait that
 * was most of a forwarded vertex's time at a backup (docs/benchmarks.md).
 */
import {
  type Destination,
  type Draft,
  isSignedKind,
  type Message,
  type Outbound,
} from '../protocol/index.ts';
import { Fifo } from '../shell/fifo.ts';

interface Slot {
  readonly to: Destination;
  message: Message | null;
}

export interface OutboundOptions {
  /** Signs a draft (the shell's `signDraftAsync`). */
  readonly sign: (draft: Draft) => Promise<Message>;
  /** Sends a signed message; called in order. */
  readonly send: (to: Destination, message: Message) => void;
  /** Signing failed: a local fault (the key), after which nothing more may be sent. */
  readonly failed: (error: unknown) => void;
  /** Everything pushed has been sent. */
  readonly idle: () => void;
}

export class OutboundQueue {
  readonly #options: OutboundOptions;
  readonly #slots = new Fifo<Slot>();
  #closed = false;

  constructor(options: OutboundOptions) {
    this.#options = options;
  }

  /** Messages signed or being signed, not yet sent. */
  get size(): number {
    return this.#slots.length;
  }

  push(outbound: Outbound): void {
    if (this.#closed) return;
    if ('relay' in outbound) {
      this.#slots.push({ to: outbound.to, message: outbound.relay });
      this.#drain();
      return;
    }
    if (!isSignedKind(outbound.draft)) {
      this.#options.send(outbound.to, outbound.draft);
      if (this.#slots.length === 0) this.#options.idle();
      return;
    }
    const slot: Slot = { to: outbound.to, message: null };
    this.#slots.push(slot);
    this.#options.sign(outbound.draft).then(
      (message) => {
        slot.message = message;
        this.#drain();
      },
      (error: unknown) => this.#options.failed(error),
    );
  }

  /** Drops everything not sent and refuses more (the engine halted). */
  close(): void {
    this.#closed = true;
    this.#slots.drain();
  }

  #drain(): void {
    for (;;) {
      if (this.#closed) return;
      const head = this.#slots.peek();
      if (head === undefined) break;
      if (head.message === null) return;
      this.#slots.shift();
      this.#options.send(head.to, head.message);
    }
    this.#options.idle();
  }
}
