/**
 * The slow leader: as primary it holds every PRE-PREPARE and NEW-VIEW it sends for most of the
 * view-change timeout before letting it go, so that each batch is ordered just before the
 * backups would give up on it. It never stalls long enough to be provably at fault: liveness
 * then rests on the backups' timers (and, past the timeout, on their view changes), and the
 * run checks that everything is still finalized in time.
 */
import type { Message } from '../../protocol/index.ts';
import type { SimContext } from '../node.ts';
import { ByzantineNode } from './byzantine-node.ts';

/** The share of the base view-change timeout that each leader message is held for. */
const STALL_SHARE = 0.6;

interface Held {
  readonly releaseTick: number;
  readonly message: Message;
  readonly peers: readonly number[];
}

export class SlowLeader extends ByzantineNode {
  readonly strategy = 'slow-leader';
  readonly #stallTicks: number;
  #ticks = 0;
  #held: Held[] = [];

  constructor(id: number, context: SimContext) {
    super(id, context);
    this.#stallTicks = Math.floor(STALL_SHARE * this.config.viewChangeTimeoutTicks);
  }

  override tick(): void {
    super.tick();
    if (!this.alive) return;
    this.#ticks++;
    while (this.#held.length > 0 && this.#held[0]!.releaseTick <= this.#ticks) {
      const { message, peers } = this.#held.shift()!;
      super.transmit(message, peers);
    }
  }

  /** What was held dies with the process. */
  override crash(): void {
    super.crash();
    this.#held = [];
  }

  protected override transmit(message: Message, peers: readonly number[]): void {
    const leading =
      message.replica === this.id &&
      ((message.kind === 'pre-prepare' && message.batch !== null) || message.kind === 'new-view');
    if (leading) this.#held.push({ releaseTick: this.#ticks + this.#stallTicks, message, peers });
    else super.transmit(message, peers);
  }
}
