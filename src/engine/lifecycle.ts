/**
 * The engine's lifecycle as a transition table (the MongoDB driver's state machine): a
 * transition not in the table is misuse of the API and throws, rather than leaving the engine
 * half started.
 */
import { EngineStateError } from './errors.ts';

export const ENGINE_STATES = Object.freeze([
  'created',
  'starting',
  'running',
  'stopping',
  'stopped',
  'halted',
] as const);

/**
 * - `created`: constructed, not started.
 * - `starting`: restoring from the store and starting the transport.
 * - `running`: taking proposals and messages.
 * - `stopping`: refusing new proposals, finalizing the accepted ones, flushing writes and sends.
 * - `stopped`: done; terminal.
 * - `halted`: a broken invariant or a failed write stopped it; terminal.
 */
export type EngineState = (typeof ENGINE_STATES)[number];

const TRANSITIONS: { readonly [S in EngineState]: readonly EngineState[] } = Object.freeze({
  created: ['starting', 'stopped'],
  starting: ['running', 'stopped', 'halted'],
  running: ['stopping', 'halted'],
  stopping: ['stopped', 'halted'],
  stopped: [],
  halted: [],
});

export class Lifecycle {
  #state: EngineState = 'created';

  get state(): EngineState {
    return this.#state;
  }

  /** Moves to `next`, or throws EngineStateError if the table does not allow it. */
  to(next: EngineState, action: string): void {
    if (!TRANSITIONS[this.#state].includes(next)) {
      throw new EngineStateError(`cannot ${action}: the engine is ${this.#state}`);
    }
    this.#state = next;
  }

  is(...states: readonly EngineState[]): boolean {
    return states.includes(this.#state);
  }
}
