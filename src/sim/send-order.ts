/**
 * Each honest replica's signed messages leave in the order its core produced them, whatever
 * order their signatures finish in: the engine promises it (`engine/outbound.ts`), so that a
 * peer on a FIFO link never sees a replica's COMMIT before its PREPARE, nor a NEW-VIEW before the
 * VIEW-CHANGE it follows. The simulated network reorders frames on purpose, and the core copes
 * with any order, so nothing downstream would notice a send queue that broke the promise: this
 * checker holds the engine to it directly, comparing what each process released (in order) with
 * what it handed to the transport.
 *
 * Messages the replica signs anew are tracked; a message sent again as it was signed before (a
 * relay of its own vote, a state reply) is no new draft and is not.
 */
import { toHex } from '../crypto/digest.ts';
import {
  type Draft,
  isSignedKind,
  type Message,
  type Released,
  type SignedMessage,
} from '../protocol/index.ts';
import { Fifo } from '../shell/fifo.ts';

export class SendOrderChecker {
  readonly #violate: (message: string) => void;
  /** Per replica, the keys of its drafts released and not sent yet, in release order. */
  readonly #pending: Fifo<string>[];

  constructor(replicaCount: number, violate: (message: string) => void) {
    this.#violate = violate;
    this.#pending = Array.from({ length: replicaCount }, () => new Fifo<string>());
  }

  /** A new process of `replica`: what the last one had not sent died with it. */
  restarted(replica: number): void {
    this.#pending[replica] = new Fifo();
  }

  released(replica: number, released: Released): void {
    for (const outbound of released.messages) {
      if (!('draft' in outbound) || !isSignedKind(outbound.draft)) continue;
      this.#pending[replica]!.push(this.#key(outbound.draft as Draft<SignedMessage>));
    }
  }

  sent(replica: number, message: Message): void {
    if (!isSignedKind(message) || message.replica !== replica) return;
    const pending = this.#pending[replica]!;
    if (pending.length === 0) return;
    const key = this.#key(message);
    if (pending.peek() === key) {
      pending.shift();
      return;
    }
    // Not the next one: a relay of an earlier message, or a later draft overtaking earlier ones.
    const waiting = pending.drain();
    const at = waiting.indexOf(key);
    if (at < 0) {
      for (const item of waiting) pending.push(item);
      return;
    }
    this.#violate(
      `send order: replica ${replica} sent a ${message.kind} before ${at} message(s) its core released earlier (first: ${waiting[0]!.split('/')[0]})`,
    );
    for (const item of waiting.slice(at + 1)) pending.push(item);
  }

  /**
   * The message's identity: what its signature covers, in short (a signed copy of a draft keeps
   * these fields; a NEW-VIEW's nested PRE-PREPAREs are signed with it, so its view stands for it).
   */
  #key(message: SignedMessage | Draft<SignedMessage>): string {
    switch (message.kind) {
      case 'pre-prepare':
      case 'prepare':
      case 'commit':
        return `${message.kind}/${message.view}/${message.sequence}/${toHex(message.digest)}`;
      case 'checkpoint':
        return `checkpoint/${message.sequence}/${toHex(message.stateDigest)}`;
      case 'status':
        return `status/${message.view}/${message.viewActive}/${message.lastExecuted}/${message.stableSequence}`;
      case 'state-request':
        return `state-request/${message.fromSequence}/${message.toSequence}`;
      case 'view-change':
      case 'new-view':
      case 'view-timeout':
        return `${message.kind}/${message.view}`;
      case 'state-reply':
        return `state-reply/${message.entries[0]?.sequence ?? 0}/${message.entries.length}`;
    }
  }
}
