/**
 * The fuzz target: three honest replicas of the production core (with the shell's decode and
 * verify in front, as in the engine) in a cluster of four, exchanging messages instantly and
 * persisting instantly, while replica 0 is Byzantine and speaks only through the fuzzer.
 *
 * Every input must leave the honest replicas running (no exception escapes decode, verify or
 * step), agreeing on what they finalized, and within their memory bounds.
 */

import { toHex } from '../src/crypto/digest.ts';
import { insecureSimulationScheme } from '../src/crypto/index.ts';
import {
  buildStateReply,
  createReplica,
  createVertex,
  DurableImage,
  durableReceipt,
  type Input,
  type Message,
  type ReplicaState,
  resolveReplicaConfig,
  step,
} from '../src/protocol/index.ts';
import { type SigningIdentity, signDraft, verifyMessage } from '../src/shell/signing.ts';
import { type DecodeLimits, decodeLimitsFor, decodeMessage } from '../src/wire/index.ts';

export const REPLICAS = 4;
export const BYZANTINE = 0;
export const CLUSTER_ID = 'fuzz';
/** Messages handled per fuzz input at most: an input can trigger a cascade, never an endless one. */
const CASCADE_MAX = 20_000;

export const scheme = insecureSimulationScheme;
export const keys = Array.from({ length: REPLICAS }, (_, replica) =>
  scheme.keyPairFromSeed(new Uint8Array(32).fill(replica + 1)),
);
export const publicKeys = keys.map((pair) => pair.publicKey);
export const byzantineIdentity: SigningIdentity = {
  scheme,
  privateKey: keys[BYZANTINE]!.privateKey,
  clusterId: CLUSTER_ID,
};

export const PROTOCOL = Object.freeze({
  checkpointInterval: 4,
  watermarkWindow: 8,
  pipelineDepth: 4,
  batchCountMax: 8,
  batchBytesMax: 4096,
  viewChangeTimeoutTicks: 10,
  viewChangeTimeoutMaxTicks: 80,
  statusIntervalTicks: 5,
  requestRetryTicks: 8,
  stateTransferTimeoutTicks: 6,
  stateEntriesMax: 4,
  pendingVerticesMax: 256,
  queuedVerticesPerReplicaMax: 128,
  watchedVerticesPerReplicaMax: 64,
  dedupHorizonSequences: 32,
});

export const limits: DecodeLimits = decodeLimitsFor({
  replicaCount: REPLICAS,
  maxSignatureBytes: 64,
  batchCountMax: PROTOCOL.batchCountMax,
  batchBytesMax: PROTOCOL.batchBytesMax,
  vertexPayloadBytesMax: 256,
  vertexParentsMax: 4,
  watermarkWindow: PROTOCOL.watermarkWindow,
  stateEntriesMax: PROTOCOL.stateEntriesMax,
  maxFrameBytes: 1 << 20,
});

interface Honest {
  readonly id: number;
  readonly state: ReplicaState;
  readonly image: DurableImage;
  readonly identity: SigningIdentity;
}

/** What became of the fuzzer's frames: they should reach every stage, not die at the first. */
export interface FuzzOutcomes {
  malformed: number;
  invalidSignature: number;
  accepted: number;
  ignored: number;
  rejected: number;
}

export class FuzzCluster {
  readonly honest: Honest[];
  readonly outcomes: FuzzOutcomes = {
    malformed: 0,
    invalidSignature: 0,
    accepted: 0,
    ignored: 0,
    rejected: 0,
  };
  /** The finalized digest at each sequence, by the first honest replica to finalize it. */
  readonly #finalized = new Map<number, string>();
  readonly #queue: { to: number; from: number; message: Message }[] = [];
  /** Recent honest messages: the fuzzer copies their slots so its lies land where it hurts. */
  readonly recent: Message[] = [];
  #vertexCounter = 0;

  constructor() {
    this.honest = [];
    for (let id = 0; id < REPLICAS; id++) {
      if (id === BYZANTINE) continue;
      const config = resolveReplicaConfig({
        ...PROTOCOL,
        clusterId: CLUSTER_ID,
        replicaCount: REPLICAS,
        self: id,
      });
      this.honest.push({
        id,
        state: createReplica(config),
        image: new DurableImage(4 * PROTOCOL.dedupHorizonSequences),
        identity: { scheme, privateKey: keys[id]!.privateKey, clusterId: CLUSTER_ID },
      });
    }
  }

  /** A frame from the Byzantine replica to honest replica `to`, through the shell's checks. */
  frame(to: number, bytes: Uint8Array): void {
    const replica = this.#replica(to);
    const decoded = decodeMessage(bytes, limits);
    if (!decoded.ok) {
      this.outcomes.malformed++;
      return;
    }
    if (!verifyMessage(scheme, publicKeys, CLUSTER_ID, decoded.message)) {
      this.outcomes.invalidSignature++;
      return;
    }
    const ready = this.#step(replica, { kind: 'message', from: BYZANTINE, message: decoded.message });
    const verdict = ready?.outcome;
    if (verdict !== undefined) this.outcomes[verdict]++;
    this.#drain();
  }

  tick(count: number): void {
    for (let i = 0; i < count; i++) {
      for (const replica of this.honest) this.#step(replica, { kind: 'tick' });
      this.#drain();
    }
  }

  propose(to: number, vertices: number): void {
    const batch = Array.from({ length: vertices }, () =>
      createVertex(new TextEncoder().encode(`v${this.#vertexCounter++}`), {
        validThrough: this.highestFinalized + PROTOCOL.dedupHorizonSequences,
      }),
    );
    this.#step(this.#replica(to), { kind: 'propose', vertices: batch });
    this.#drain();
  }

  /** The highest sequence any honest replica finalized. */
  get highestFinalized(): number {
    return Math.max(...this.honest.map((replica) => replica.state.lastExecuted));
  }

  /** Map sizes that must stay within the configuration's bounds, however long the run. */
  footprint(): Record<string, { readonly size: number; readonly bound: number }> {
    const out: Record<string, { size: number; bound: number }> = {};
    const n = REPLICAS;
    for (const { state } of this.honest) {
      const c = state.config;
      const put = (name: string, size: number, bound: number): void => {
        const previous = out[name];
        if (previous === undefined || size > previous.size) out[name] = { size, bound };
      };
      put('log entries', state.log.size, 2 * c.watermarkWindow + 1);
      // Each sender may hold the window's checkpoints plus two (see onCheckpoint).
      put(
        'checkpoint vote sequences',
        state.checkpointVotes.size,
        n * (c.watermarkWindow / c.checkpointInterval + 2),
      );
      put('view changes', state.viewChanges.size, n);
      put('queue', state.queue.size, n * c.queuedVerticesPerReplicaMax);
      put('pending', state.pending.size, c.pendingVerticesMax);
      put('watched', state.watched.size, n * c.watchedVerticesPerReplicaMax);
      put('delivered', state.delivered.size, c.dedupHorizonSequences * c.batchCountMax);
      put('status answered', state.statusAnswered.size, n);
      put('state served', state.stateServed.size, n);
      put('own checkpoints', state.ownCheckpoints.size, c.watermarkWindow / c.checkpointInterval + 1);
    }
    return out;
  }

  #replica(id: number): Honest {
    const replica = this.honest.find((candidate) => candidate.id === id);
    if (replica === undefined) throw new RangeError(`replica ${id} is not an honest replica`);
    return replica;
  }

  #step(replica: Honest, input: Input) {
    const ready = step(replica.state, input);
    for (const write of ready.writes) replica.image.apply(write);
    const released = ready.released.open(durableReceipt(replica.state.writeOrdinal));
    // As the engine does: what depends on no write first, then what was sealed with the writes.
    for (const outbound of [...ready.immediate, ...released.messages]) {
      const message = 'draft' in outbound ? signDraft(replica.identity, outbound.draft) : outbound.relay;
      if (this.recent.length >= 64) this.recent.shift();
      this.recent.push(message);
      const targets =
        outbound.to === 'all'
          ? this.honest.map((peer) => peer.id)
          : outbound.to === 'others'
            ? this.honest.map((peer) => peer.id).filter((peer) => peer !== replica.id)
            : [outbound.to];
      for (const to of targets) if (to !== BYZANTINE) this.#queue.push({ to, from: replica.id, message });
    }
    for (const delivery of released.deliveries) {
      const digest = toHex(delivery.digest);
      const first = this.#finalized.get(delivery.sequence);
      if (first === undefined) this.#finalized.set(delivery.sequence, digest);
      else if (first !== digest) {
        throw new Error(`agreement broken: sequence ${delivery.sequence} is ${first} and ${digest}`);
      }
    }
    for (const request of ready.serveState) {
      const reply = buildStateReply(replica.image, request, replica.state.config.batchBytesMax);
      if (reply !== null && request.to !== BYZANTINE) {
        this.#queue.push({ to: request.to, from: replica.id, message: signDraft(replica.identity, reply) });
      }
    }
    return ready.verdict;
  }

  #drain(): void {
    let handled = 0;
    while (this.#queue.length > 0 && handled++ < CASCADE_MAX) {
      const { to, from, message } = this.#queue.shift()!;
      this.#step(this.#replica(to), { kind: 'message', from, message });
    }
    this.#queue.length = 0;
  }
}
