/**
 * The receive path: decode each frame, check its signatures off the event loop, and hand the
 * messages of each sender to the engine in the order that sender sent them. Verification
 * completes out of order (a PREPARE whose signature was cached is ready before the PRE-PREPARE
 * still on the thread pool), so each sender has a FIFO and a message leaves only when every
 * earlier one from the same sender has. Senders do not wait for each other.
 *
 * Senders are named by node id, the transport's authenticated name for the link: replica ids
 * change from one epoch to the next, and a frame may be checked across a switch.
 */
import type { Message } from '../protocol/index.ts';
import { Fifo } from '../shell/fifo.ts';
import type { NodeId } from '../transport/transport.ts';
import { type DecodeError, type DecodeLimits, decodeMessage } from '../wire/index.ts';
import type { KnownVertices } from '../wire/known-vertices.ts';
import type { SignatureVerifier, VerifyOutcome } from './verifier.ts';

/**
 * What becomes of a decoded message, by its epoch (`EngineEpochs.admit`): its signatures are
 * checked (`check`); it is passed on unchecked as a hint its link authenticates (`hint`: a
 * STATUS of an epoch whose keys this replica does not know yet); it is dropped (`other-epoch`);
 * or it is a vote its certificate does not need now, which the engine keeps aside unchecked
 * (`surplus`, see `vote-gate.ts`) and may hand back with {@link InboundPipeline.checkAside}.
 */
export type Admission = 'check' | 'hint' | 'other-epoch' | 'surplus';

/** What the engine is told about each frame. */
export interface InboundHooks {
  /** A frame decoded; its checks start now. */
  decoded?(from: NodeId, message: Message): void;
  /** The frame did not decode. */
  malformed(from: NodeId, error: DecodeError): void;
  /**
   * The signed message names an epoch whose messages this replica has no use for: dropped
   * before its signatures are checked (they would be checked against the wrong set), never
   * blamed on the sender, which may be a correct replica ahead of or behind this one.
   */
  otherEpoch(from: NodeId, message: Message): void;
  /** A frame dropped by `clearSender` before its checks were reported (its sender was banned). */
  discarded?(from: NodeId, message: Message): void;
  /** The sender has `inboundFramesPerPeerMax` frames waiting: this one is dropped. */
  overloaded(from: NodeId, message: Message): void;
  /** The checks of a message are done (`valid` for a hint); called in the sender's order. */
  checked(from: NodeId, message: Message, outcome: VerifyOutcome, verifySeconds: number | null): void;
  /** Verification itself failed (a local fault, not the peer's). */
  failed(error: unknown): void;
}

interface Slot {
  readonly message: Message;
  outcome: VerifyOutcome | null;
  /** Seconds spent verifying, or null when every signature was cached. */
  seconds: number | null;
}

export interface InboundOptions {
  /** The decode limits now: they grow with the validator set. */
  readonly limits: () => DecodeLimits;
  /** Vertices the decoder may take rather than hash again (see `known-vertices.ts`). */
  readonly knownVertices?: KnownVertices;
  readonly verifier: SignatureVerifier;
  readonly perSenderMax: number;
  /** What to do with a message, by its epoch (see {@link Admission}). */
  readonly admit: (from: NodeId, message: Message) => Admission;
  readonly hooks: InboundHooks;
}

export class InboundPipeline {
  readonly #options: InboundOptions;
  readonly #queues = new Map<NodeId, Fifo<Slot>>();
  /** Bumped by `clear`, so that verifications of dropped frames are ignored when they finish. */
  #generation = 0;
  #waiting = 0;

  constructor(options: InboundOptions) {
    this.#options = options;
  }

  /** Frames decoded and waiting for their checks (or for an earlier frame of their sender). */
  get waiting(): number {
    return this.#waiting;
  }

  /** The most frames waiting from any one sender (at most `perSenderMax`). */
  get longestSenderQueue(): number {
    let longest = 0;
    for (const queue of this.#queues.values()) if (queue.length > longest) longest = queue.length;
    return longest;
  }

  receive(from: NodeId, frame: Uint8Array): void {
    const { limits, verifier, perSenderMax, hooks } = this.#options;
    const decoded = decodeMessage(frame, limits(), false, this.#options.knownVertices);
    if (!decoded.ok) {
      hooks.malformed(from, decoded.error);
      return;
    }
    const message = decoded.message;
    hooks.decoded?.(from, message);
    const admission = this.#options.admit(from, message);
    if (admission === 'other-epoch') {
      hooks.otherEpoch(from, message);
      return;
    }
    if (admission === 'surplus') return;
    let queue = this.#queues.get(from);
    if (queue === undefined) {
      queue = new Fifo();
      this.#queues.set(from, queue);
    }
    if (queue.length >= perSenderMax) {
      hooks.overloaded(from, message);
      return;
    }
    const started = performance.now();
    const result = admission === 'hint' ? 'valid' : verifier.verify(message);
    const slot: Slot = { message, outcome: null, seconds: null };
    queue.push(slot);
    this.#waiting++;
    if (typeof result === 'string') {
      slot.outcome = result;
      this.#drain(from, queue);
      return;
    }
    const generation = this.#generation;
    result.then(
      (outcome) => {
        if (generation !== this.#generation) return;
        slot.outcome = outcome;
        slot.seconds = (performance.now() - started) / 1000;
        this.#drain(from, queue);
      },
      (error: unknown) => hooks.failed(error),
    );
  }

  /**
   * Checks a message the engine kept aside (`surplus`) and reports it like any other. It is
   * reported on a later turn even when its signatures were cached, and out of its sender's order:
   * only votes are kept aside, and the core takes votes in any order.
   */
  checkAside(from: NodeId, message: Message): void {
    const { verifier, hooks } = this.#options;
    const started = performance.now();
    const generation = this.#generation;
    Promise.resolve(verifier.verify(message)).then(
      (outcome) => {
        if (generation !== this.#generation) return;
        hooks.checked(from, message, outcome, (performance.now() - started) / 1000);
      },
      (error: unknown) => hooks.failed(error),
    );
  }

  /** Frames from `from` waiting for their checks or behind an earlier frame of theirs. */
  queuedFrom(from: NodeId): number {
    return this.#queues.get(from)?.length ?? 0;
  }

  /** Drops every frame waiting (the engine is stopping). */
  clear(): void {
    this.#generation++;
    this.#queues.clear();
    this.#waiting = 0;
  }

  /** Drops the frames waiting from one sender (it was banned). */
  clearSender(from: NodeId): void {
    const queue = this.#queues.get(from);
    if (queue === undefined) return;
    this.#waiting -= queue.length;
    // Verifications under way still hold their slots, but the slots are no longer queued.
    this.#queues.set(from, new Fifo());
    const { discarded } = this.#options.hooks;
    if (discarded !== undefined)
      for (let slot = queue.shift(); slot !== undefined; slot = queue.shift()) discarded(from, slot.message);
  }

  #drain(from: NodeId, queue: Fifo<Slot>): void {
    // A sender cleared while this verification ran has a fresh queue: its old slots are gone.
    for (;;) {
      if (this.#queues.get(from) !== queue) return;
      const head = queue.peek();
      if (head === undefined || head.outcome === null) return;
      queue.shift();
      this.#waiting--;
      this.#options.hooks.checked(from, head.message, head.outcome, head.seconds);
    }
  }
}
