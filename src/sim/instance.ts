/**
 * One process of a simulated replica: the `BftEngine` that ships, on the replica's simulated
 * transport, store (over its disk), clock and signature scheme, all driven by the run's event
 * queue. What the engine decides and does is reported to the run's observer through the
 * engine's probe and events.
 */
import type { KeyPair, PublicKey, SignatureScheme } from '../crypto/index.ts';
import {
  type BftConfig,
  BftEngine,
  type EngineReconfiguration,
  type EngineTestSeams,
  type FinalizedVertex,
} from '../engine/index.ts';
import type { MessageOutcome } from '../metrics/index.ts';
import type { Delivery, Input, Message, Ready, Released } from '../protocol/index.ts';
import type { SimDisk } from './disk.ts';
import type { EventQueue } from './event-queue.ts';
import type { SimNetwork } from './network.ts';
import type { Prng } from './prng.ts';
import { SimProcess } from './process.ts';
import { SimClock } from './sim-clock.ts';
import { SimScheme } from './sim-scheme.ts';
import type { SimStore } from './sim-store.ts';
import { SimTransport } from './sim-transport.ts';

/** What an instance reports, tagged with its replica. */
export interface InstanceObserver {
  /** `epoch`: the one the replica was in when it stepped `input` (ids in it are that epoch's). */
  stepped(replica: number, input: Input, ready: Ready, epoch: number): void;
  delivered(replica: number, delivery: Delivery): void;
  released(replica: number, released: Released): void;
  sent(replica: number, message: Message): void;
  finalized(replica: number, vertex: FinalizedVertex): void;
  /** `epoch`: the one the replica was in when it dropped the frame (senders are known by it). */
  dropped(replica: number, from: number, outcome: MessageOutcome, epoch: number): void;
  banned(replica: number, offender: number): void;
  /** An event of this process ran (the run checks its engine's bounds afterwards). */
  touched(instance: EngineInstance): void;
}

/** Everything a process is built from. */
export interface InstanceOptions {
  readonly replica: number;
  readonly incarnation: number;
  readonly config: BftConfig;
  readonly keys: KeyPair;
  readonly publicKeys: readonly PublicKey[];
  readonly nodeIds: readonly string[];
  readonly queue: EventQueue;
  readonly network: SimNetwork;
  readonly disk: SimDisk;
  /** This process's own random choices (crypto and disk latencies). */
  readonly prng: Prng;
  readonly clockRate: number;
  readonly syncLatencyMs: readonly [number, number];
  readonly cryptoLatencyMicros: readonly [number, number];
  /** Where the engine's frames go: to the network, or through a Byzantine strategy. */
  readonly outgoing: (peers: readonly number[], frame: Uint8Array) => void;
  readonly observer: InstanceObserver;
  /** Told once if the engine halts (or fails to start): the host decides what happens next. */
  readonly halted: (error: Error) => void;
  readonly testSeams?: EngineTestSeams;
  /** How the engine follows reconfigurations (`--reconfigure`); absent, it stays in epoch 0. */
  readonly reconfiguration?: EngineReconfiguration;
  /** What the engine signs with, around the process's scheme (a Byzantine strategy's signer). */
  readonly signer?: (scheme: SignatureScheme) => SignatureScheme;
}

export class EngineInstance {
  readonly replica: number;
  readonly process: SimProcess;
  readonly engine: BftEngine;
  readonly store: SimStore;
  readonly #transport: SimTransport;
  #running = false;

  /**
   * Opens the disk and builds the engine (not started yet).
   *
   * @throws StoreCorruptError when the disk holds a damaged record, as a node refuses to start.
   */
  constructor(options: InstanceOptions) {
    const { replica, observer } = options;
    this.replica = replica;
    this.process = new SimProcess(replica, options.incarnation, options.queue, () => observer.touched(this));
    this.store = options.disk.open(this.process, options.prng, { syncLatencyMs: options.syncLatencyMs });
    this.#transport = new SimTransport(
      replica,
      options.nodeIds,
      options.network,
      this.process,
      options.outgoing,
    );
    this.engine = new BftEngine(options.config, options.keys, {
      transport: this.#transport,
      store: this.store,
      scheme: (options.signer ?? ((scheme) => scheme))(
        new SimScheme(this.process, options.prng, options.cryptoLatencyMicros),
      ),
      clock: new SimClock(this.process, options.clockRate),
      probe: {
        stepped: (input, ready, epoch) => observer.stepped(replica, input, ready, epoch),
        delivered: (delivery) => observer.delivered(replica, delivery),
        released: (released) => observer.released(replica, released),
        sent: (_to, message) => observer.sent(replica, message),
      },
      ...(options.testSeams === undefined ? {} : { testSeams: options.testSeams }),
      ...(options.reconfiguration === undefined ? {} : { reconfiguration: options.reconfiguration }),
    });
    // A joiner checks certificates its former machine signed in epoch 0: its own key there too.
    const joining = options.reconfiguration?.joining !== undefined;
    for (const [peer, key] of options.publicKeys.entries())
      if (peer !== replica || joining) this.engine.registerNodePublicKey(options.nodeIds[peer]!, key);
    const replicaOf = new Map(options.nodeIds.map((id, index) => [id, index]));
    this.engine.on('finalized', (vertex) => observer.finalized(replica, vertex));
    this.engine.on('dropped', ({ from, outcome }) =>
      observer.dropped(replica, replicaOf.get(from) ?? -1, outcome, this.engine.epoch),
    );
    this.engine.on('banned', ({ nodeId }) => observer.banned(replica, replicaOf.get(nodeId)!));
    let halted = false;
    const halt = (error: Error): void => {
      if (halted || !this.process.alive) return;
      halted = true;
      this.#running = false;
      options.halted(error);
    };
    this.engine.on('error', halt);
    this.process.enter(() => {
      this.engine.start().then(
        () => {
          if (!halted) this.#running = true;
        },
        (error: unknown) => halt(error instanceof Error ? error : new Error(String(error))),
      );
    });
  }

  /** Whether the engine has started and neither halted nor died. */
  get running(): boolean {
    return this.#running && this.process.alive;
  }

  /** A frame from `from` reaches this process. */
  deliver(from: number, frame: Uint8Array): void {
    this.#transport.deliver(from, frame);
  }

  /** The process dies: nothing it had in flight (timers, syncs, signatures, frames) happens. */
  kill(): void {
    this.#running = false;
    this.process.kill();
  }
}
