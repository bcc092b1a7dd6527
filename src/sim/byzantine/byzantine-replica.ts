/**
 * What most Byzantine strategies share: the shipped engine, run unchanged (its detector off),
 * with a strategy that alters what its transport sends, to whom and when, re-signing what it
 * changes with the replica's real key, and now and then what reaches it. A replica built this
 * way stays protocol-plausible (it follows views, votes on real batches, signs with its real
 * key), so its lies reach the honest replicas' handlers instead of bouncing off their first
 * guard, which is what stresses them.
 */

import { insecureSimulationScheme, type PrivateKey, type SignatureScheme } from '../../crypto/index.ts';
import type { AcceptedProposal } from '../../engine/index.ts';
import { resolveBftConfig } from '../../engine/index.ts';
import type { Digest, Draft, Message, PrePrepare, ReplicaConfig, Vertex } from '../../protocol/index.ts';
import { primaryOf, UNSIGNED } from '../../protocol/index.ts';
import { type SigningIdentity, signDraft } from '../../shell/signing.ts';
import { decodeMessage, encodeMessage } from '../../wire/index.ts';
import type { ReplicaHost } from '../host.ts';
import { createHost, describeInstance, type SimContext, type SimNode } from '../node.ts';
import type { Prng } from '../prng.ts';
import type { StrategyName } from './strategy-names.ts';

export abstract class ByzantineReplica implements SimNode {
  readonly id: number;
  readonly honest = false;
  abstract readonly strategy: StrategyName;
  readonly hosts: readonly ReplicaHost[];
  protected readonly context: SimContext;
  protected readonly host: ReplicaHost;
  /** The strategy's own random choices, forked from the run's PRNG so that a seed replays them. */
  protected readonly prng: Prng;
  /** Every other replica, in id order. */
  protected readonly peers: readonly number[];
  /** The core's configuration, as this replica's engine resolves it. */
  protected readonly config: ReplicaConfig;
  /** The replica's real signing key: what it changes, it signs validly. */
  readonly #identity: SigningIdentity;

  constructor(id: number, context: SimContext) {
    this.id = id;
    this.context = context;
    this.prng = context.prng.fork();
    this.peers = context.nodeIds.map((_, peer) => peer).filter((peer) => peer !== id);
    const engineConfig = context.configFor(id, false);
    this.config = resolveBftConfig(engineConfig, insecureSimulationScheme.signatureBytes).replica;
    this.#identity = {
      scheme: insecureSimulationScheme,
      privateKey: context.keys[id]!.privateKey,
      clusterId: this.config.clusterId,
    };
    this.host = createHost(context, id, {
      honest: false,
      outgoing: (peers, frame) => this.#outgoing(peers, frame),
      signer: (scheme) => this.signer(scheme),
    });
    this.hosts = [this.host];
    // The strategy's own clock, for what it does unprompted (noise, replays, held messages).
    const tickMs = engineConfig.tickMs ?? 10;
    const tick = (): void => {
      if (this.host.up) this.onTick();
      context.queue.schedule(tickMs, tick);
    };
    context.queue.schedule(tickMs, tick);
  }

  get up(): boolean {
    return this.host.up;
  }

  get epoch(): number {
    return this.host.epoch;
  }

  receive(from: number, frame: Uint8Array): void {
    this.received(from, frame);
  }

  start(): void {
    this.host.start();
  }

  crash(): void {
    this.host.crash();
    this.onCrash();
  }

  accept(vertex: Vertex): Promise<AcceptedProposal> | null {
    const instance = this.host.instance;
    return instance === null ? null : instance.engine.accept(vertex);
  }

  /** Byzantine: not held to view agreement. */
  viewState(): null {
    return null;
  }

  describe(): string {
    return `r${this.id} ${this.strategy} (byzantine) ${describeInstance(this.host.instance)}`;
  }

  /**
   * One message the engine sends to `peers` (its own copy never comes here). The hook strategies
   * override to alter, withhold or multiply what leaves; the default sends it as it is.
   */
  protected transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    const bytes = frame ?? encodeMessage(message);
    for (const peer of peers) this.sendFrame(peer, bytes);
  }

  /** A frame from `from`; the default hands it to the engine. */
  protected received(from: number, frame: Uint8Array): void {
    this.deliver(from, frame);
  }

  /** What the engine signs with: the strategy may alter what its signer signs. The default signs truly. */
  protected signer(scheme: SignatureScheme): SignatureScheme {
    return scheme;
  }

  /** Every tick of the strategy's clock while the replica is up. */
  protected onTick(): void {}

  /** The process died: what the strategy held for later dies with it. */
  protected onCrash(): void {}

  /** Hands a frame to the engine. */
  protected deliver(from: number, frame: Uint8Array): void {
    this.host.instance?.deliver(from, frame);
  }

  /** Whether this replica leads `view`. */
  protected leads(view: number): boolean {
    return primaryOf(this.config, view) === this.id;
  }

  /**
   * Signs `message` again with this replica's real key, after the strategy altered it. A
   * NEW-VIEW's nested PRE-PREPAREs whose signature was cleared with {@link unsigned} are signed
   * too; every other nested signature is kept as it is.
   */
  protected sign<M extends Message>(message: M | Draft<M>): M {
    return this.signWith(message, this.#identity.privateKey);
  }

  /** Signs `message` again as {@link sign} does, with `privateKey` (one of its other keys). */
  protected signWith<M extends Message>(message: M | Draft<M>, privateKey: PrivateKey): M {
    const { signature: _signature, ...draft } = message as { readonly signature?: Uint8Array };
    return signDraft({ ...this.#identity, privateKey }, draft as unknown as Draft) as M;
  }

  /** A copy of a NEW-VIEW's nested PRE-PREPARE, left for {@link sign} to sign again. */
  protected unsigned(prePrepare: PrePrepare | Draft<PrePrepare>): PrePrepare {
    return { ...prePrepare, signature: UNSIGNED };
  }

  /** Decodes a frame as the engines do; null if it does not decode. */
  protected decode(frame: Uint8Array): Message | null {
    const decoded = decodeMessage(frame, this.context.limits);
    return decoded.ok ? decoded.message : null;
  }

  /** Sends one message to one peer, as it is. */
  protected sendTo(peer: number, message: Message): void {
    this.context.network.send(this.id, peer, encodeMessage(message));
  }

  /** Sends raw bytes to one peer: they need not decode. */
  protected sendFrame(peer: number, frame: Uint8Array): void {
    this.context.network.send(this.id, peer, frame);
  }

  /** The peers in a random order. */
  protected shuffled(peers: readonly number[]): number[] {
    const out = [...peers];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.prng.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `peers` split at random into two groups, both non-empty when there are two peers or more. */
  protected split(peers: readonly number[]): [number[], number[]] {
    const order = this.shuffled(peers);
    const cut = order.length < 2 ? order.length : 1 + this.prng.int(order.length - 1);
    return [order.slice(0, cut), order.slice(cut)];
  }

  /** A digest no batch is expected to have: random bytes from the strategy's PRNG. */
  protected randomDigest(): Digest {
    const digest = new Uint8Array(32);
    for (let i = 0; i < digest.length; i += 4) {
      new DataView(digest.buffer).setUint32(i, this.prng.uint32());
    }
    return digest;
  }

  #outgoing(peers: readonly number[], frame: Uint8Array): void {
    const message = this.decode(frame);
    if (message === null) for (const peer of peers) this.sendFrame(peer, frame);
    else this.transmit(message, peers, frame);
  }
}
