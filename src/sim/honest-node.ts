/**
 * An honest simulated replica: the production protocol core behind the same shell duties as
 * the engine (decode, verify, sign, persist before release, detect and ban Byzantine peers),
 * with a simulated disk whose writes take time and are lost if the replica crashes first.
 */
import { ByzantineDetector } from '../byzantine/index.ts';
import {
  buildStateReply,
  createReplica,
  DurableImage,
  type DurableWrite,
  durableReceipt,
  type Input,
  InvariantError,
  type Message,
  primaryOf,
  type Ready,
  type Released,
  type ReplicaState,
  restoreReplica,
  step,
  type Vertex,
} from '../protocol/index.ts';
import { ReleaseQueue } from '../shell/release-queue.ts';
import { type SigningIdentity, signDraft, verifyMessage } from '../shell/signing.ts';
import { decodeMessage, encodeMessage } from '../wire/index.ts';
import type { SimContext, SimNode } from './node.ts';

/** How a replica built on the honest one differs from it. */
export interface HonestNodeOptions {
  /** Whether the replica runs a Byzantine detector (default true; a Byzantine strategy does not). */
  readonly detector?: boolean;
}

/**
 * The honest replica. Byzantine strategies (`byzantine/`) extend it and override the protected
 * hooks, `transmit` above all, so that they run this same core and shell and alter only what
 * leaves it; the honest behaviour lives here once.
 */
export class HonestNode implements SimNode {
  readonly id: number;
  readonly honest: boolean = true;
  alive = true;
  /** True once an invariant broke: the replica stops for good, as a real one would. */
  halted = false;
  state: ReplicaState;
  readonly image: DurableImage;
  protected readonly context: SimContext;
  /** The replica's real signing key: a Byzantine replica signs validly with it too. */
  protected readonly identity: SigningIdentity;
  /** Every other replica, in id order: the destinations of 'all' and 'others'. */
  protected readonly peers: readonly number[];
  /**
   * Scores peers from what this replica sees and bans the ones that provably misbehave. It
   * lives in memory only: a restarted replica starts a fresh one, as a restarted process would.
   */
  detector: ByzantineDetector | null;
  readonly #detecting: boolean;
  /** The last view this replica was moved off because its primary is banned. */
  #skippedView = -1;
  readonly #releases = new ReleaseQueue();
  /** Bumped at every crash, so that disk completions of an earlier life are ignored. */
  #incarnation = 0;
  /** When the last write batch completes: the disk completes writes in order. */
  #diskBusyUntil = 0;

  constructor(id: number, context: SimContext, options: HonestNodeOptions = {}) {
    this.id = id;
    this.context = context;
    this.identity = {
      scheme: context.scheme,
      privateKey: context.keys[id]!.privateKey,
      clusterId: context.configs[id]!.clusterId,
    };
    const n = context.configs[id]!.replicaCount;
    this.peers = Array.from({ length: n }, (_, peer) => peer).filter((peer) => peer !== id);
    this.image = new DurableImage();
    this.state = createReplica(context.configs[id]!);
    this.#detecting = options.detector ?? true;
    this.detector = this.#newDetector();
  }

  receive(from: number, frame: Uint8Array): void {
    if (!this.alive) return;
    const { observer, limits, scheme, publicKeys, configs } = this.context;
    const detector = this.detector;
    if (detector?.isBanned(from)) {
      observer.dropped(this.id, from, 'banned');
      return;
    }
    const decoded = decodeMessage(frame, limits);
    if (!decoded.ok) {
      observer.dropped(this.id, from, 'malformed');
      detector?.detectMalformed(from, decoded.error.code);
      this.#checkBanned(from);
      return;
    }
    const message = decoded.message;
    if (!verifyMessage(scheme, publicKeys, configs[this.id]!.clusterId, message)) {
      observer.dropped(this.id, from, 'invalid-signature');
      detector?.detectInvalidSignature(from, message);
      this.#checkBanned(from);
      return;
    }
    this.#input({ kind: 'message', from, message });
  }

  tick(): void {
    if (!this.alive) return;
    this.#input({ kind: 'tick' });
    if (this.alive && this.detector !== null) this.#banned(this.detector.tick());
  }

  propose(vertices: readonly Vertex[]): boolean {
    if (!this.alive) return false;
    const ready = this.#input({ kind: 'propose', vertices });
    // A vertex the core would not hold (this replica lags behind the one the client learned
    // validThrough from) is offered again later, as a refusal.
    return ready !== null && ready.verdict?.outcome === 'accepted' && ready.refused.length === 0;
  }

  crash(): void {
    if (!this.alive) return;
    this.alive = false;
    this.#incarnation++;
    this.#releases.clear();
  }

  restart(): void {
    if (this.alive || this.halted) return;
    this.alive = true;
    this.#diskBusyUntil = this.context.queue.now;
    const snapshot = this.image.snapshot(this.context.configs[this.id]!.dedupHorizonSequences);
    const restored = restoreReplica(this.context.configs[this.id]!, snapshot);
    this.state = restored.state;
    this.detector = this.#newDetector();
    this.#skippedView = -1;
    this.#releases.reset();
    this.#handle(restored.ready);
  }

  viewState(): { readonly view: number; readonly active: boolean } | null {
    if (!this.alive || this.halted) return null;
    return { view: this.state.view, active: this.state.viewActive };
  }

  describe(): string {
    const s = this.state;
    const status = this.halted ? 'halted' : this.alive ? 'up' : 'down';
    const transfer =
      s.stateTransfer === null ? '' : ` transfer->${s.stateTransfer.target}@${s.stateTransfer.peer}`;
    return (
      `r${this.id} ${status} view ${s.view}${s.viewActive ? '' : ' (changing)'} executed ${s.lastExecuted} ` +
      `stable ${s.stable.sequence} next ${s.nextSequence} log ${s.log.size} queue ${s.queue.size} ` +
      `pending ${s.pending.size} vcs [${[...s.viewChanges.values()].map((vc) => `${vc.replica}:${vc.view}`).join(' ')}]${transfer}`
    );
  }

  #input(input: Input): Ready | null {
    let ready: Ready;
    try {
      ready = step(this.state, input);
    } catch (error) {
      if (!(error instanceof InvariantError)) throw error;
      this.halted = true;
      this.crash();
      this.context.observer.halted(this.id, error);
      return null;
    }
    if (input.kind === 'message' && ready.verdict !== null) {
      this.context.observer.verdict(this.id, input.from, input.message.kind, ready.verdict);
    }
    this.#handle(ready);
    const detector = this.detector;
    if (detector !== null && this.alive) {
      this.#banned(detector.recordStep(input, ready));
      // The core forgets bans (it keeps no list of them), so a view led by a replica banned
      // earlier is skipped here, as a ban of the primary in force is: its NEW-VIEW and
      // PRE-PREPAREs would be dropped anyway, and waiting for them only costs a timeout.
      const primary = primaryOf(this.state.config, this.state.view);
      if (this.alive && this.state.view !== this.#skippedView && detector.isBanned(primary)) {
        this.#skippedView = this.state.view;
        this.#input({ kind: 'banned', replica: primary });
      }
    }
    return ready;
  }

  #newDetector(): ByzantineDetector | null {
    if (!this.#detecting) return null;
    const { configs, scheme, publicKeys } = this.context;
    const config = configs[this.id]!;
    return new ByzantineDetector({
      replicaCount: config.replicaCount,
      self: this.id,
      verification: { scheme, publicKeys, clusterId: config.clusterId },
    });
  }

  /** After a `detect*` call about `peer`: if it banned the peer, act on the ban. */
  #checkBanned(peer: number): void {
    if (this.detector?.isBanned(peer)) this.#banned([peer]);
  }

  /** Replicas the detector has just banned: reported, and given to the core as input. */
  #banned(replicas: readonly number[]): void {
    for (const replica of replicas) {
      if (!this.alive) return;
      this.context.observer.banned(this.id, replica);
      this.#input({ kind: 'banned', replica });
    }
  }

  #handle(ready: Ready): void {
    const { observer } = this.context;
    for (const evidence of ready.evidence) observer.evidence(this.id, evidence);
    for (const suspicion of ready.suspicions) observer.suspicion(this.id, suspicion);
    for (const event of ready.events) observer.event(this.id, event);
    if (ready.writes.length > 0) this.#write(ready.writes, this.state.writeOrdinal);
    this.#release(this.#releases.push(ready.released));
    for (const request of ready.serveState) {
      const reply = buildStateReply(this.image, request, this.id, this.state.config.batchBytesMax);
      if (reply !== null) this.#send(request.to, signDraft(this.identity, reply));
    }
  }

  /** A write batch becomes durable after a disk latency, in order, unless the replica crashes first. */
  #write(writes: readonly DurableWrite[], through: number): void {
    const { queue, prng, diskLatencyMs } = this.context;
    const incarnation = this.#incarnation;
    const completesAt = Math.max(
      this.#diskBusyUntil,
      queue.now + prng.between(diskLatencyMs[0], diskLatencyMs[1]),
    );
    this.#diskBusyUntil = completesAt;
    queue.schedule(completesAt - queue.now, () => {
      if (incarnation !== this.#incarnation) return;
      for (const write of writes) this.image.apply(write);
      this.#release(this.#releases.durable(durableReceipt(through)));
    });
  }

  #release(batches: readonly Released[]): void {
    for (const { messages, deliveries } of batches) {
      for (const outbound of messages) {
        const message = 'draft' in outbound ? signDraft(this.identity, outbound.draft) : outbound.relay;
        this.#send(outbound.to, message);
      }
      for (const delivery of deliveries) this.context.observer.delivered(this.id, delivery);
    }
  }

  #send(to: number | 'all' | 'others', message: Message): void {
    if (to === 'all' || to === 'others') {
      this.transmit(message, this.peers);
      // The replica's own copy does not cross the network, but it is handled after the
      // current step, like any other input.
      if (to === 'all') this.#deliverToSelf(message);
    } else if (to === this.id) {
      this.#deliverToSelf(message);
    } else {
      this.transmit(message, [to]);
    }
  }

  #deliverToSelf(message: Message): void {
    const incarnation = this.#incarnation;
    this.context.queue.schedule(0, () => {
      if (incarnation === this.#incarnation && this.alive)
        this.#input({ kind: 'message', from: this.id, message });
    });
  }

  /**
   * Sends one signed message to `peers` over the network (the replica's own copy never comes
   * here). The hook Byzantine strategies override to alter, withhold or multiply what leaves.
   */
  protected transmit(message: Message, peers: readonly number[]): void {
    const frame = encodeMessage(message);
    for (const peer of peers) this.context.network.send(this.id, peer, frame);
  }
}
