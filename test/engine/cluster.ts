/**
 * A cluster of engines in one process for the engine tests: n validators on a MemoryNetwork,
 * each with its own MemoryStore and registry, every public key registered everywhere.
 */
import { insecureSimulationScheme, type KeyPair, type SignatureScheme } from '../../src/crypto/index.ts';
import { type BftConfig, BftEngine, type EngineDependencies } from '../../src/engine/index.ts';
import { type Clock, ManualClock } from '../../src/shell/clock.ts';
import { MemoryStore } from '../../src/storage/index.ts';
import { MemoryNetwork } from '../../src/transport/index.ts';

export interface ClusterOptions {
  readonly n?: number;
  readonly scheme?: SignatureScheme;
  /** Default: a ManualClock, so nothing times out unless the test advances it. */
  readonly clock?: Clock;
  readonly config?: Partial<BftConfig>;
  readonly storeFlushLatencyMs?: number;
  /** More dependencies for validator i's engine (a tracer, say). */
  readonly dependencies?: (i: number) => Partial<EngineDependencies>;
}

export class Cluster {
  readonly ids: readonly string[];
  readonly keys: readonly KeyPair[];
  readonly network: MemoryNetwork;
  readonly stores: MemoryStore[];
  readonly engines: BftEngine[];
  readonly clock: Clock;
  readonly scheme: SignatureScheme;
  readonly #options: ClusterOptions;

  constructor(options: ClusterOptions = {}) {
    this.#options = options;
    const n = options.n ?? 4;
    this.scheme = options.scheme ?? insecureSimulationScheme;
    this.clock = options.clock ?? new ManualClock();
    this.ids = Array.from({ length: n }, (_, i) => `node-${i}`);
    this.keys = this.ids.map((_, i) => {
      const seed = new Uint8Array(this.scheme.seedBytes);
      seed[0] = i + 1;
      return this.scheme.keyPairFromSeed(seed);
    });
    this.network = new MemoryNetwork();
    this.stores = this.ids.map(() => this.#store());
    this.engines = this.ids.map((_, i) => this.createEngine(i, this.stores[i]!, options.dependencies?.(i)));
  }

  #store(): MemoryStore {
    const latency = this.#options.storeFlushLatencyMs ?? 0;
    return latency > 0 ? new MemoryStore({ flushLatencyMs: latency, clock: this.clock }) : new MemoryStore();
  }

  /** A new engine for validator `i` on `store` (a restart reuses the old store). */
  createEngine(i: number, store: MemoryStore, extra: Partial<EngineDependencies> = {}): BftEngine {
    const engine = new BftEngine(
      {
        nodeId: this.ids[i]!,
        validators: this.ids,
        clusterId: 'engine-test',
        batchMaxDelayMs: 0,
        ...this.#options.config,
      },
      this.keys[i]!,
      {
        transport: this.network.endpoint(this.ids[i]!),
        store,
        scheme: this.scheme,
        clock: this.clock,
        ...extra,
      },
    );
    for (const [j, id] of this.ids.entries())
      if (j !== i) engine.registerNodePublicKey(id, this.keys[j]!.publicKey);
    return engine;
  }

  async start(): Promise<void> {
    await Promise.all(this.engines.map((engine) => engine.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.engines.map((engine) => engine.stop({ drainTimeoutMs: 0 })));
  }

  /** Advances a manual clock in tick-sized steps, letting the event loop run between them. */
  async advance(ms: number, stepMs = 10): Promise<void> {
    const clock = this.clock;
    if (!(clock instanceof ManualClock)) throw new Error('advance needs a ManualClock');
    for (let elapsed = 0; elapsed < ms; elapsed += stepMs) {
      clock.advance(Math.min(stepMs, ms - elapsed));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** Collects every vertex an engine finalizes, as hex hashes in order. */
export function recordFinalized(engine: BftEngine): string[] {
  const order: string[] = [];
  engine.on('finalized', (finalized) => order.push(Buffer.from(finalized.hash).toString('hex')));
  return order;
}

/** A payload of `bytes` bytes that encodes `label` and `index`. */
export function payload(label: string, index: number, bytes = 64): Uint8Array {
  const out = new Uint8Array(bytes);
  const text = new TextEncoder().encode(`${label}-${index}`);
  out.set(text.subarray(0, bytes));
  return out;
}

/** The value of a metric series in a registry (0 when the series does not exist). */
export async function metricValue(
  engine: BftEngine,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const metric = engine.metrics().getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  let total = 0;
  for (const value of values) {
    const matches = Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted);
    if (matches) total += value.value;
  }
  return total;
}

/**
 * Resolves once every engine in `engines` has finalized at least `count` vertices (as recorded
 * by `recordFinalized` in `orders`): a proposal resolves when it is final at the replica it was
 * made at, and the others may finalize it a moment later. Event-driven, never a timer.
 */
export function finalizedEverywhere(
  engines: readonly BftEngine[],
  orders: readonly string[][],
  count: number,
): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!orders.every((order) => order.length >= count)) return;
      for (const engine of engines) engine.off('finalized', check);
      resolve();
    };
    for (const engine of engines) engine.on('finalized', check);
    check();
  });
}
