/**
 * What most Byzantine strategies share: the honest core and shell of {@link HonestNode}, run
 * unchanged, with a strategy-specific alteration of what leaves the replica. A replica built
 * this way stays protocol-plausible (it follows views, votes on real batches, signs with its
 * real key), so its lies reach the honest replicas' handlers instead of bouncing off their
 * first guard, which is what stresses them.
 */
import type { Digest, Draft, Message, PrePrepare, ReplicaConfig } from '../../protocol/index.ts';
import { primaryOf, UNSIGNED } from '../../protocol/index.ts';
import { signDraft } from '../../shell/signing.ts';
import { encodeMessage } from '../../wire/index.ts';
import { HonestNode } from '../honest-node.ts';
import type { SimContext } from '../node.ts';
import type { Prng } from '../prng.ts';
import type { StrategyName } from './strategy-names.ts';

export abstract class ByzantineNode extends HonestNode {
  override readonly honest: boolean = false;
  abstract readonly strategy: StrategyName;
  /** The strategy's own random choices, forked from the run's PRNG so that a seed replays them. */
  protected readonly prng: Prng;

  constructor(id: number, context: SimContext) {
    super(id, context, { detector: false });
    this.prng = context.prng.fork();
  }

  protected get config(): ReplicaConfig {
    return this.context.configs[this.id]!;
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
    const { signature: _signature, ...draft } = message as { readonly signature?: Uint8Array };
    return signDraft(this.identity, draft as unknown as Draft) as M;
  }

  /** A copy of a NEW-VIEW's nested PRE-PREPARE, left for {@link sign} to sign again. */
  protected unsigned(prePrepare: PrePrepare | Draft<PrePrepare>): PrePrepare {
    return { ...prePrepare, signature: UNSIGNED };
  }

  /** Sends one message to one peer over the network, as it is. */
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
}
