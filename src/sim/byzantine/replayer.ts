/**
 * The replayer: it keeps the frames it received from other replicas and the ones it sent, and
 * sends them again later to peers they were not meant for: messages of views long gone,
 * PRE-PREPAREs, votes and VIEW-CHANGEs copied from other replicas, old checkpoints and
 * NEW-VIEWs. Every replayed frame carries a valid signature (its signer's), so the honest
 * replicas must tell stale and misdirected messages from fresh ones by content alone, and
 * must never blame the replica that signed one.
 */
import type { Message } from '../../protocol/index.ts';
import { encodeMessage } from '../../wire/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** Frames kept for replay; a new one replaces a random old one once the store is full. */
const STORE_FRAMES_MAX = 256;
/** The chance per tick of a replay burst, and its size. */
const REPLAY_RATE = 0.3;
const BURST_MAX = 4;
/** The chance that a frame just received is copied to another peer at once. */
const COPY_RATE = 0.15;

export class Replayer extends ByzantineReplica {
  readonly strategy = 'replayer';
  readonly #store: Uint8Array[] = [];

  protected override received(from: number, frame: Uint8Array): void {
    this.deliver(from, frame);
    if (!this.up) return;
    this.#keep(frame);
    if (this.prng.chance(COPY_RATE)) {
      const peer = this.prng.pick(this.peers);
      if (peer !== from) this.sendFrame(peer, frame);
    }
  }

  protected override onTick(): void {
    if (this.#store.length === 0 || !this.prng.chance(REPLAY_RATE)) return;
    const burst = 1 + this.prng.int(BURST_MAX);
    for (let i = 0; i < burst; i++) {
      this.sendFrame(this.prng.pick(this.peers), this.prng.pick(this.#store));
    }
  }

  protected override transmit(message: Message, peers: readonly number[], encoded?: Uint8Array): void {
    const frame = encoded ?? encodeMessage(message);
    for (const peer of peers) this.sendFrame(peer, frame);
    this.#keep(frame);
  }

  #keep(frame: Uint8Array): void {
    if (this.#store.length < STORE_FRAMES_MAX) this.#store.push(frame);
    else this.#store[this.prng.int(STORE_FRAMES_MAX)] = frame;
  }
}
