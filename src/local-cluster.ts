/**
 * `createLocalCluster`: n engines in this process, wired to each other, for tests, demos and
 * examples. It does what an application that embeds the engine does for each replica:
 *
 * - one ML-DSA-87 key pair per validator, each public key registered with every other engine;
 * - a transport: an endpoint of one `MemoryNetwork`, or a `TcpTransport` that listens on a port
 *   the OS chooses (`listen()` on port 0) and dials the others at the addresses a
 *   `ClusterDiscovery` is then given, with the engine's own `maxFrameBytes`;
 * - a store: a `MemoryStore`, or an `LmdbStore` per replica under one directory (opened with the
 *   cluster id and the replica's index, which the store records and checks at every open).
 *
 * Everything listens on loopback only. A node process (`cretoai-node start`) does the same
 * wiring from its configuration files; see `src/node/node.ts`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type KeyPair, mlDsa87, type PublicKey, type SignatureScheme } from './crypto/index.ts';
import { type BftConfig, BftEngine, resolveBftConfig, type StopOptions } from './engine/index.ts';
import { ArgumentError } from './errors.ts';
import { LmdbStore, MemoryStore, type Store } from './storage/index.ts';
import {
  ClusterDiscovery,
  MemoryNetwork,
  type NodeId,
  TcpTransport,
  type Transport,
} from './transport/index.ts';

/** Options of {@link createLocalCluster}. */
export interface LocalClusterOptions {
  /** Validators, named `node-0` ... Default 4 (one fault tolerated). */
  readonly nodes?: number;
  /** `'memory'` (default): a MemoryNetwork in this process; `'tcp'`: authenticated TCP on 127.0.0.1. */
  readonly transport?: 'memory' | 'tcp';
  /** `'memory'` (default): MemoryStore; `'lmdb'`: an LMDB store per replica under `dir`. */
  readonly store?: 'memory' | 'lmdb';
  /**
   * Where the LMDB stores go (`<dir>/node-<i>`, which must not hold stores yet), created if
   * missing and kept at `stop()` for inspection. Default: a new temporary directory, removed at
   * `stop()`. (Every cluster gets new keys, so it cannot restart from an earlier one's stores.)
   */
  readonly dir?: string;
  /** Default `'local'`. */
  readonly clusterId?: string;
  /** Engine settings every replica shares (`nodeId`, `validators` and `clusterId` are set here). */
  readonly config?: Omit<BftConfig, 'nodeId' | 'validators' | 'totalNodes' | 'clusterId'>;
  /** Default ML-DSA-87. The insecure simulation scheme is for tests only. */
  readonly scheme?: SignatureScheme;
  /** Start the engines before returning. Default true; with false, call `start()`. */
  readonly start?: boolean;
}

/** What {@link createLocalCluster} built. */
export interface LocalCluster {
  /** The validators' node ids, in order. */
  readonly ids: readonly NodeId[];
  /** One engine per validator, in the order of `ids`. */
  readonly engines: readonly BftEngine[];
  /** Each engine's store. */
  readonly stores: readonly Store[];
  /** The validators' public keys. */
  readonly publicKeys: ReadonlyMap<NodeId, PublicKey>;
  /** The in-process network (to cut links in tests), or null over TCP. */
  readonly network: MemoryNetwork | null;
  /** Each validator's TCP address (`127.0.0.1:port`), or an empty map in memory. */
  readonly addresses: ReadonlyMap<NodeId, string>;
  /** The directory of the LMDB stores, or null in memory. */
  readonly dir: string | null;
  /** The engine of `nodeId`. @throws ArgumentError for an id that is not a validator. */
  engine(nodeId: NodeId): BftEngine;
  /** Starts every engine (done already unless `start: false`). */
  start(): Promise<void>;
  /**
   * Stops every engine (gracefully: accepted proposals are finalized first, within
   * `drainTimeoutMs`), closes the stores, and removes the temporary directory if one was made.
   * Idempotent.
   */
  stop(options?: StopOptions): Promise<void>;
}

/** The most validators {@link createLocalCluster} builds: it is for one machine. */
export const LOCAL_CLUSTER_NODES_MAX = 64;

/**
 * Builds `nodes` engines wired to each other over an in-memory network or TCP on loopback, with
 * in-memory or LMDB stores, and (unless `start: false`) starts them.
 *
 * @example
 * const cluster = await createLocalCluster({ nodes: 4, transport: 'tcp', store: 'lmdb' });
 * const final = await cluster.engines[0].propose(cluster.engines[0].createVertex(payload));
 * await cluster.stop();
 *
 * @throws ArgumentError for a number of nodes outside 1 to 64 or an unknown transport or store;
 *   ConfigError (naming the field) for a bad `config`.
 */
export async function createLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const nodes = options.nodes ?? 4;
  if (!Number.isSafeInteger(nodes) || nodes < 1 || nodes > LOCAL_CLUSTER_NODES_MAX) {
    throw new ArgumentError(
      `nodes must be a whole number from 1 to ${LOCAL_CLUSTER_NODES_MAX}, got ${nodes}`,
    );
  }
  const transportKind = options.transport ?? 'memory';
  const storeKind = options.store ?? 'memory';
  if (transportKind !== 'memory' && transportKind !== 'tcp') {
    throw new ArgumentError(`transport must be 'memory' or 'tcp', got ${JSON.stringify(transportKind)}`);
  }
  if (storeKind !== 'memory' && storeKind !== 'lmdb') {
    throw new ArgumentError(`store must be 'memory' or 'lmdb', got ${JSON.stringify(storeKind)}`);
  }
  const scheme = options.scheme ?? mlDsa87;
  const clusterId = options.clusterId ?? 'local';
  const ids = Array.from({ length: nodes }, (_, i) => `node-${i}`);
  const configOf = (nodeId: NodeId): BftConfig => ({ ...options.config, nodeId, validators: ids, clusterId });
  // Checked once up front: a bad field throws here, before anything is opened.
  const { maxFrameBytes } = resolveBftConfig(configOf(ids[0]!), scheme.signatureBytes);
  const keys: KeyPair[] = ids.map(() => scheme.generateKeyPair());
  const publicKeys = new Map(ids.map((id, i) => [id, keys[i]!.publicKey] as const));

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanUp = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    let dir: string | null = null;
    if (storeKind === 'lmdb') {
      if (options.dir === undefined) {
        const made = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-local-'));
        cleanups.push(() => fs.rmSync(made, { recursive: true, force: true }));
        dir = made;
      } else {
        dir = path.resolve(options.dir);
        fs.mkdirSync(dir, { recursive: true });
      }
    }
    const stores: Store[] = [];
    for (const [replica, id] of ids.entries()) {
      const store =
        dir === null
          ? new MemoryStore()
          : await LmdbStore.open({ path: path.join(dir, id), clusterId, replica });
      cleanups.push(() => store.close());
      stores.push(store);
    }

    let network: MemoryNetwork | null = null;
    const transports: Transport[] = [];
    const addresses = new Map<NodeId, string>();
    if (transportKind === 'memory') {
      const memory = new MemoryNetwork();
      network = memory;
      for (const id of ids) transports.push(memory.endpoint(id));
    } else {
      const discoveries = ids.map(() => new ClusterDiscovery());
      for (const [i, id] of ids.entries()) {
        const transport = new TcpTransport({
          nodeId: id,
          clusterId,
          privateKey: keys[i]!.privateKey,
          validators: publicKeys,
          discovery: discoveries[i]!,
          listen: { host: '127.0.0.1', port: 0 },
          // Frames up to the engine's limit must pass, or the largest messages never arrive.
          maxFrameBytes,
          scheme,
        });
        cleanups.push(() => transport.stop());
        transports.push(transport);
        // Port 0: the OS picks a free port; listen() says which, before any peer needs it.
        const { port } = await transport.listen();
        addresses.set(id, `127.0.0.1:${port}`);
      }
      for (const [i, id] of ids.entries())
        for (const other of ids) if (other !== id) discoveries[i]!.setAddress(other, addresses.get(other)!);
    }

    const engines = ids.map((id, i) => {
      const engine = new BftEngine(configOf(id), keys[i]!, {
        transport: transports[i]!,
        store: stores[i]!,
        scheme,
      });
      for (const [other, key] of publicKeys) if (other !== id) engine.registerNodePublicKey(other, key);
      return engine;
    });
    let stopping: Promise<void> | null = null;
    const cluster: LocalCluster = {
      ids,
      engines,
      stores,
      publicKeys,
      network,
      addresses,
      dir,
      engine(nodeId) {
        const index = ids.indexOf(nodeId);
        if (index < 0) throw new ArgumentError(`${nodeId} is not one of ${ids.join(', ')}`);
        return engines[index]!;
      },
      async start() {
        await Promise.all(engines.map((engine) => engine.start()));
      },
      stop(stopOptions) {
        stopping ??= (async () => {
          // Each engine stops its transport; stores close after every engine is quiet.
          await Promise.all(engines.map((engine) => engine.stop(stopOptions)));
          await cleanUp();
        })();
        return stopping;
      },
    };
    if (options.start !== false) {
      try {
        await cluster.start();
      } catch (error) {
        await cluster.stop({ drainTimeoutMs: 0 });
        throw error;
      }
    }
    return cluster;
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
