/**
 * Cores addressed by node id, as the engine addresses them: a message to replica i goes to node i
 * of the sender's epoch, and the receiver numbers the sender in its own epoch (a node it has no
 * id for is not heard). Used by the reconfiguration tests of the core.
 */
import {
  buildStateReply,
  createReplica,
  DurableImage,
  durableReceipt,
  EPOCH_ZERO,
  type Input,
  type JoinTarget,
  type Message,
  NOT_A_VALIDATOR,
  type Ready,
  type ReplicaOptions,
  type ReplicaState,
  restoreReplica,
  step,
} from '../../src/protocol/index.ts';
import { signAs } from './cluster.ts';
import { testReader } from './reconfiguration.ts';

const reader = testReader();

/** Figures small enough that epochs end within a few dozen sequences. */
const FIGURES = {
  clusterId: 'renumbering',
  checkpointInterval: 4,
  watermarkWindow: 8,
  pipelineDepth: 2,
  statusIntervalTicks: 5,
} as const;

/** Cores by node id. */
export class NodeCluster {
  readonly states = new Map<string, ReplicaState>();
  readonly #options = new Map<string, ReplicaOptions>();
  readonly images = new Map<string, DurableImage>();
  readonly signed = new Map<string, Message[]>();
  /** Batch digests delivered, by node. */
  readonly delivered = new Map<string, string[]>();
  /** Vertex keys delivered, by node. */
  readonly deliveredVertices = new Map<string, string[]>();
  inbox: { from: string; to: string; message: Message }[] = [];
  /** Nodes cut off from the others: what they send and what is sent to them is lost. */
  readonly cut = new Set<string>();

  readonly nodes: readonly string[];
  /** Every node started, joiners included. */
  readonly all: string[];

  constructor(nodes: readonly string[]) {
    this.nodes = nodes;
    this.all = [...nodes];
    for (const [self, node] of nodes.entries()) {
      this.#track(node, { ...FIGURES, replicaCount: nodes.length, self, reconfiguration: { reader, nodes } });
    }
  }

  /**
   * Starts `node`, new to the cluster, as a joiner of `joining` (its epoch and the request that
   * opens it), with an empty store; it is a learner until that epoch.
   */
  join(node: string, joining: Omit<JoinTarget, 'nodes'>): void {
    const nodes = reader(joining.opening, { ...EPOCH_ZERO, number: joining.epoch - 1 })!.nodes;
    this.#track(node, {
      ...FIGURES,
      replicaCount: this.nodes.length,
      self: NOT_A_VALIDATOR,
      reconfiguration: { reader, nodes: this.nodes, node, joining: { ...joining, nodes } },
    });
    if (!this.all.includes(node)) this.all.push(node);
  }

  /** Restarts `node` from its durable image, as the engine restarts from its store. */
  restart(node: string): void {
    const image = this.images.get(node)!;
    const { state, ready } = restoreReplica(this.#options.get(node)!, image.snapshot(1 << 20));
    this.states.set(node, state);
    this.#handle(node, ready);
  }

  #track(node: string, options: ReplicaOptions): void {
    this.#options.set(node, options);
    this.states.set(node, createReplica(options));
    this.images.set(node, new DurableImage());
    this.signed.set(node, []);
    this.delivered.set(node, []);
    this.deliveredVertices.set(node, []);
  }

  /** The node ids of `node`'s current epoch, in replica-id order. */
  epochNodes(node: string): readonly string[] {
    return this.states.get(node)!.config.reconfiguration!.nodes;
  }

  input(node: string, input: Input): Ready {
    const state = this.states.get(node)!;
    const ready = step(state, input);
    this.#handle(node, ready);
    return ready;
  }

  /** Delivers messages until none is left, or `until` holds. */
  run(until: () => boolean = () => false): void {
    while (this.inbox.length > 0 && !until()) {
      const { from, to, message } = this.inbox.shift()!;
      if (from !== to && (this.cut.has(from) || this.cut.has(to))) continue;
      // The link names the sender; the receiver numbers it in its own epoch.
      if (!this.states.has(to)) continue;
      const id = this.epochNodes(to).indexOf(from);
      if (id < 0) continue;
      this.input(to, { kind: 'message', from: id, message });
    }
  }

  tickAll(count: number): void {
    for (let i = 0; i < count; i++) {
      for (const node of this.all) this.input(node, { kind: 'tick' });
      this.run();
    }
  }

  #handle(node: string, ready: Ready): void {
    const state = this.states.get(node)!;
    const image = this.images.get(node)!;
    for (const write of ready.writes) image.apply(write);
    const { messages, deliveries } = ready.released.open(durableReceipt(state.writeOrdinal));
    // As the engine does: what depends on no write first, then what was sealed with the writes.
    for (const outbound of [...ready.immediate, ...messages]) {
      const message =
        'draft' in outbound
          ? signAs(outbound.draft, 'replica' in outbound.draft ? outbound.draft.replica : state.config.self)
          : outbound.relay;
      if ('draft' in outbound) this.signed.get(node)!.push(message);
      this.#route(node, outbound.to, message);
    }
    for (const delivery of deliveries) {
      this.delivered.get(node)!.push(Buffer.from(delivery.digest).toString('hex'));
      this.deliveredVertices.get(node)!.push(...delivery.keys);
    }
    for (const serve of ready.serveState) {
      const reply = buildStateReply(image, serve, 1 << 20);
      if (reply !== null) this.#route(node, serve.to, signAs(reply, serve.signer));
    }
  }

  #route(from: string, to: number | 'all' | 'others', message: Message): void {
    const epochNodes = this.epochNodes(from);
    const targets =
      to === 'all'
        ? epochNodes
        : to === 'others'
          ? epochNodes.filter((node) => node !== from)
          : [epochNodes[to]!];
    for (const target of targets) this.inbox.push({ from, to: target, message });
  }
}
