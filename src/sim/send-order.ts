/**
 * Each honest replica's signed messages leave in the order its core produced them, whatever
 * order their signatures finish in: the engine promises it (`engine/outbound.ts`), so that a
 * peer on a FIFO link never sees a replica's COMMIT before its PREPARE, nor a NEW-VIEW before the
 * VIEW-CHANGE it follows. The simulated network reorders frames on purpose, and the core copes
 * with any order, so nothing downstream would notice a send queue that broke the promise: this
 * checker holds the engine to it directly. Every signed message a process's core released (its
 * own drafts and the messages it relays) must leave the send queue in release order.
 *
 * Two kinds of message are not in that order, by design: a REQUEST (unsigned, it leaves at once)
 * and a STATE-REPLY (built from the store, not released by a step).
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
  /** Per replica, the keys of the messages released and not sent yet, in release order. */
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
    const pending = this.#pending[replica]!;
    for (const outbound of released.messages) {
      const message = 'draft' in outbound ? outbound.draft : outbound.relay;
      if (tracked(message)) pending.push(key(message as SignedMessage));
    }
  }

  sent(replica: number, message: Message): void {
    if (!tracked(message)) return;
    const pending = this.#pending[replica]!;
    const expected = pending.shift();
    const actual = key(message as SignedMessage);
    if (expected === actual) return;
    this.#violate(
      `send order: replica ${replica} sent ${actual.slice(0, 40)} where its core released ${expected?.slice(0, 40) ?? 'nothing'} next`,
    );
    // One report per process is enough.
    pending.drain();
  }
}

function tracked(message: Message | Draft): boolean {
  return isSignedKind(message) && message.kind !== 'state-reply';
}

/**
 * A message's identity: its signer and what its signature covers, in short (a signed copy of a
 * draft keeps these fields; a NEW-VIEW's nested PRE-PREPAREs are signed with it, so its view
 * stands for it).
 */
function key(message: SignedMessage | Draft<SignedMessage>): string {
  const by = `${message.epoch}/${message.replica}`;
  switch (message.kind) {
    case 'pre-prepare':
    case 'prepare':
    case 'commit':
      return `${message.kind}/${by}/${message.view}/${message.sequence}/${toHex(message.digest)}`;
    case 'checkpoint':
      return `checkpoint/${by}/${message.sequence}/${toHex(message.stateDigest)}`;
    case 'status':
      return `status/${by}/${message.view}/${message.viewActive}/${message.lastExecuted}/${message.stableSequence}`;
    case 'state-request':
      return `state-request/${by}/${message.fromSequence}/${message.toSequence}`;
    case 'view-change':
    case 'new-view':
    case 'view-timeout':
      return `${message.kind}/${by}/${message.view}`;
    case 'state-reply':
      return `state-reply/${by}/${message.entries[0]?.sequence ?? 0}/${message.entries.length}`;
  }
}
