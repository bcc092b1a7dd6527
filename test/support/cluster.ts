/**
 * A synchronous harness for protocol tests: n cores exchanging message objects through one
 * FIFO inbox, with writes made durable at once. Signatures are markers (the core trusts the
 * shell to have verified them); a filter can drop or hold messages to build exact scenarios.
 */
import {
  buildStateReply,
  createReplica,
  createVertex,
  type Delivery,
  type Draft,
  DurableImage,
  durableReceipt,
  type Input,
  type Message,
  type NewView,
  type Ready,
  type ReplicaOptions,
  type ReplicaState,
  restoreReplica,
  step,
  type Vertex,
} from '../../src/protocol/index.ts';
import { TEST_VALID_THROUGH } from './vertex.ts';

export interface Envelope {
  readonly from: number;
  readonly to: number;
  readonly message: Message;
}

/** A signature marker naming its signer: enough for the core, which never checks signatures. */
function mark(replica: number): Uint8Array {
  return Uint8Array.of(0xa0, replica & 0xff, replica >> 8);
}

export function signAs<M extends Message>(draft: Draft<M>, replica: number): M {
  let body = draft as Draft;
  if (body.kind === 'new-view') {
    const newView = body as Draft<NewView>;
    body = {
      ...newView,
      prePrepares: newView.prePrepares.map((prePrepare) =>
        prePrepare.signature.length > 0 ? prePrepare : { ...prePrepare, signature: mark(replica) },
      ),
    };
  }
  return { ...body, signature: mark(replica) } as M;
}

export class TestCluster {
  readonly n: number;
  readonly options: Omit<ReplicaOptions, 'self' | 'replicaCount'>;
  replicas: ReplicaState[];
  readonly images: DurableImage[];
  readonly up: boolean[];
  inbox: Envelope[] = [];
  #head = 0;
  /** Returns false to drop a message in flight. */
  filter: (envelope: Envelope) => boolean = () => true;
  readonly delivered: Delivery[][];
  /** Every message each replica signed (its own votes), in order. */
  readonly signed: Message[][];
  readonly readies: Ready[][];
  /** The client vertices each replica acknowledged (released with their writes), in order. */
  readonly acknowledged: string[][];

  constructor(n: number, options: Partial<Omit<ReplicaOptions, 'self' | 'replicaCount'>> = {}) {
    this.n = n;
    this.options = { clusterId: 'test', ...options };
    this.replicas = Array.from({ length: n }, (_, self) =>
      createReplica({ ...this.options, replicaCount: n, self }),
    );
    this.images = Array.from({ length: n }, () => new DurableImage());
    this.up = Array.from({ length: n }, () => true);
    this.delivered = Array.from({ length: n }, () => []);
    this.signed = Array.from({ length: n }, () => []);
    this.readies = Array.from({ length: n }, () => []);
    this.acknowledged = Array.from({ length: n }, () => []);
  }

  input(replica: number, input: Input): Ready | null {
    if (!this.up[replica]) return null;
    const ready = step(this.replicas[replica]!, input);
    this.#handle(replica, ready);
    return ready;
  }

  propose(replica: number, vertices: readonly Vertex[]): Ready | null {
    return this.input(replica, { kind: 'propose', vertices });
  }

  tick(replica: number, count = 1): void {
    for (let i = 0; i < count; i++) this.input(replica, { kind: 'tick' });
  }

  tickAll(count = 1): void {
    for (let i = 0; i < count; i++) {
      for (let replica = 0; replica < this.n; replica++) this.tick(replica);
      this.run();
    }
  }

  /** Delivers queued messages (in FIFO order) until none is left or `maxMessages` were handled. */
  run(maxMessages = 1_000_000): number {
    let handled = 0;
    while (this.#head < this.inbox.length && handled < maxMessages) {
      const envelope = this.inbox[this.#head++]!;
      handled++;
      if (this.#head > 4096 && this.#head * 2 > this.inbox.length) {
        this.inbox = this.inbox.slice(this.#head);
        this.#head = 0;
      }
      if (!this.up[envelope.to] || !this.filter(envelope)) continue;
      this.input(envelope.to, { kind: 'message', from: envelope.from, message: envelope.message });
    }
    return handled;
  }

  crash(replica: number): void {
    this.up[replica] = false;
    this.inbox = this.inbox.slice(this.#head).filter((envelope) => envelope.to !== replica);
    this.#head = 0;
  }

  restart(replica: number): void {
    const options = { ...this.options, replicaCount: this.n, self: replica };
    const snapshot = this.images[replica]!.snapshot(this.replicas[replica]!.config.dedupHorizonSequences);
    const { state, ready } = restoreReplica(options, snapshot);
    this.replicas[replica] = state;
    this.up[replica] = true;
    this.#handle(replica, ready);
  }

  /** Sequences each replica has delivered, as digest hex strings. */
  history(replica: number): string[] {
    return this.delivered[replica]!.map((delivery) => Buffer.from(delivery.digest).toString('hex'));
  }

  #handle(replica: number, ready: Ready): void {
    this.readies[replica]!.push(ready);
    const image = this.images[replica]!;
    for (const write of ready.writes) image.apply(write);
    const { messages, deliveries, acknowledged } = ready.released.open(
      durableReceipt(this.replicas[replica]!.writeOrdinal),
    );
    // As the engine does: what depends on no write first, then what was sealed with the writes.
    for (const outbound of [...ready.immediate, ...messages]) {
      const message = 'draft' in outbound ? signAs(outbound.draft, replica) : outbound.relay;
      if ('draft' in outbound) this.signed[replica]!.push(message);
      this.#route(replica, outbound.to, message);
    }
    for (const delivery of deliveries) this.delivered[replica]!.push(delivery);
    this.acknowledged[replica]!.push(...acknowledged);
    for (const request of ready.serveState) {
      const reply = buildStateReply(image, request, 1 << 20);
      if (reply !== null) {
        const message = signAs(reply, replica);
        this.signed[replica]!.push(message);
        this.#route(replica, request.to, message);
      }
    }
  }

  #route(from: number, to: number | 'all' | 'others', message: Message): void {
    if (to === 'all' || to === 'others') {
      for (let peer = 0; peer < this.n; peer++) {
        if (peer === from && to === 'others') continue;
        this.inbox.push({ from, to: peer, message });
      }
    } else {
      this.inbox.push({ from, to, message });
    }
  }
}

let counter = 0;
/** Distinct test vertices. */
export function vertices(count: number, label = 'v', validThrough = TEST_VALID_THROUGH): Vertex[] {
  return Array.from({ length: count }, () =>
    createVertex(new TextEncoder().encode(`${label}-${counter++}`), { validThrough }),
  );
}
