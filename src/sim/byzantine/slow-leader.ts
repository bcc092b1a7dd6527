/**
 * The slow leader: as primary it holds every PRE-PREPARE and NEW-VIEW it sends for most of the
 * view-change timeout before letting it go, so that each batch is ordered just before the
 * backups would give up on it. It never stalls long enough to be provably at fault: liveness
 * then rests on the backups' timers (and, past the timeout, on their view changes), and the
 * run checks that everything is still finalized in time.
 */
import type { Message } from '../../protocol/index.ts';
import type { SimContext } from '../node.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The share of the base view-change timeout that each leader message is held for. */
const STALL_SHARE = 0.6;

export class SlowLeader extends ByzantineReplica {
  readonly strategy = 'slow-leader';
  readonly #stallMs: number;
  /** Bumped at each crash: what was held dies with the process. */
  #life = 0;

  constructor(id: number, context: SimContext) {
    super(id, context);
    const tickMs = context.configFor(id, false).tickMs ?? 10;
    this.#stallMs = Math.floor(STALL_SHARE * this.config.viewChangeTimeoutTicks) * tickMs;
  }

  protected override onCrash(): void {
    this.#life++;
  }

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    const leading =
      message.replica === this.id &&
      ((message.kind === 'pre-prepare' && message.batch !== null) || message.kind === 'new-view');
    if (!leading) {
      super.transmit(message, peers, frame);
      return;
    }
    const life = this.#life;
    this.context.queue.schedule(this.#stallMs, () => {
      if (life === this.#life && this.up) super.transmit(message, peers, frame);
    });
  }
}
