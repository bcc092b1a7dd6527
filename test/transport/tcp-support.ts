/**
 * Helpers for the TCP transport tests: validator keys, transports on loopback, and waiting for
 * events (never for wall-clock time).
 */
import type { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { type KeyPair, mlDsa87, type PublicKey } from '../../src/crypto/index.ts';
import { ManualClock } from '../../src/shell/clock.ts';
import { Prng } from '../../src/sim/prng.ts';
import { ClusterDiscovery } from '../../src/transport/discovery.ts';
import {
  dialHandshake,
  type HandshakeOutcome,
  NonceLedger,
  StreamHandshakeChannel,
} from '../../src/transport/handshake.ts';
import type { StreamTransport } from '../../src/transport/stream-transport.ts';
import { TcpTransport, type TcpTransportOptions } from '../../src/transport/tcp.ts';
import type { NodeId } from '../../src/transport/transport.ts';

export const CLUSTER_ID = 'tcp-test-cluster';

/** Makes a transport from options (TCP's, of which QUIC uses the common part). */
export type TransportFactory = (options: TcpTransportOptions) => StreamTransport;

export const tcpFactory: TransportFactory = (options) => new TcpTransport(options);

/** Keys for `ids`, and the registry of their public keys. */
export function validatorKeys(ids: readonly NodeId[]): {
  readonly keys: ReadonlyMap<NodeId, KeyPair>;
  readonly registry: ReadonlyMap<NodeId, PublicKey>;
} {
  const keys = new Map(ids.map((id) => [id, mlDsa87.generateKeyPair()] as const));
  const registry = new Map([...keys].map(([id, pair]) => [id, pair.publicKey] as const));
  return { keys, registry };
}

/** A seed for a randomized test, printed so that a failure can be replayed. */
export function testSeed(name: string): number {
  const fromEnv = process.env.TCP_TEST_SEED;
  const seed = fromEnv === undefined ? Math.floor(Math.random() * 0xffff_ffff) : Number(fromEnv);
  console.log(`# ${name}: seed ${seed} (replay with TCP_TEST_SEED=${seed})`);
  return seed;
}

/** A cluster of transports on loopback sharing one manual clock. */
export interface LoopbackCluster {
  readonly ids: readonly NodeId[];
  readonly transports: ReadonlyMap<NodeId, StreamTransport>;
  readonly discovery: ReadonlyMap<NodeId, ClusterDiscovery>;
  readonly keys: ReadonlyMap<NodeId, KeyPair>;
  readonly registry: ReadonlyMap<NodeId, PublicKey>;
  readonly ports: ReadonlyMap<NodeId, number>;
  readonly clock: ManualClock;
  get(id: NodeId): StreamTransport;
  stop(): Promise<void>;
}

/**
 * Transports for `ids` on 127.0.0.1, each listening on a port the OS chose, each knowing every
 * other's address, started, and (unless `waitForMesh` is false) fully connected.
 */
export async function loopbackCluster(
  ids: readonly NodeId[],
  overrides: Partial<TcpTransportOptions> | ((id: NodeId) => Partial<TcpTransportOptions>) = {},
  options: {
    readonly waitForMesh?: boolean;
    readonly seed?: number;
    /** Whether `from` has `to`'s address (dials it); default every pair. */
    readonly dials?: (from: NodeId, to: NodeId) => boolean;
    /** Makes each transport; default TcpTransport. */
    readonly factory?: TransportFactory;
  } = {},
): Promise<LoopbackCluster> {
  const { keys, registry } = validatorKeys(ids);
  const clock = new ManualClock();
  const prng = new Prng(options.seed ?? 1);
  const discovery = new Map(ids.map((id) => [id, new ClusterDiscovery()] as const));
  const transports = new Map<NodeId, StreamTransport>();
  const factory = options.factory ?? tcpFactory;
  for (const id of ids) {
    const extra = typeof overrides === 'function' ? overrides(id) : overrides;
    transports.set(
      id,
      factory({
        nodeId: id,
        clusterId: CLUSTER_ID,
        privateKey: keys.get(id)!.privateKey,
        validators: registry,
        discovery: discovery.get(id)!,
        listen: { host: '127.0.0.1', port: 0 },
        maxFrameBytes: 1 << 20,
        clock,
        random: () => prng.float(),
        ...extra,
      }),
    );
  }
  const ports = new Map<NodeId, number>();
  for (const [id, transport] of transports) ports.set(id, (await transport.listen()).port);
  for (const [id, own] of discovery)
    for (const other of ids)
      if (other !== id && (options.dials?.(id, other) ?? true))
        own.setAddress(other, `127.0.0.1:${ports.get(other)}`);
  const cluster: LoopbackCluster = {
    ids,
    transports,
    discovery,
    keys,
    registry,
    ports,
    clock,
    get: (id) => transports.get(id)!,
    stop: async () => {
      await Promise.all([...transports.values()].map((transport) => transport.stop()));
    },
  };
  await Promise.all([...transports.values()].map((transport) => transport.start()));
  if (options.waitForMesh !== false) await settledMesh(cluster);
  return cluster;
}

/**
 * Resolves once every transport is connected to every other over the connection the tie-break
 * keeps (dialed by the smaller id), so no more connections will be replaced.
 */
export async function settledMesh(cluster: Pick<LoopbackCluster, 'ids' | 'transports'>): Promise<void> {
  const settled = (): boolean =>
    cluster.ids.every((id) =>
      cluster.ids.every((other) => {
        if (other === id) return true;
        const info = cluster.transports.get(id)!.peerInfo(other);
        return info !== undefined && info.dialedBy === [id, other].sort()[0];
      }),
    );
  await until(
    [...cluster.transports.values()],
    ['peer-connected', 'peer-connection-replaced', 'peer-disconnected'],
    settled,
  );
}

/** Resolves once `condition()` holds, checking it now and after each of `events` on any of `emitters`. */
export function until(
  emitters: readonly EventEmitter[],
  events: readonly string[],
  condition: () => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const check = (): void => {
      if (done || !condition()) return;
      done = true;
      for (const emitter of emitters) for (const event of events) emitter.off(event, check);
      resolve();
    };
    for (const emitter of emitters) for (const event of events) emitter.on(event, check);
    check();
  });
}

/** The next `event` on `emitter` whose arguments satisfy `predicate`. */
export function next<T extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  predicate: (...args: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const listener = (...args: unknown[]): void => {
      if (!predicate(...(args as T))) return;
      emitter.off(event, listener);
      resolve(args as T);
    };
    emitter.on(event, listener);
  });
}

/**
 * A hand-driven peer: a raw TCP socket to `port` (from `localAddress`, default 127.0.0.1) that
 * dials `peer` as `nodeId` with `keyPair` (which need not be the registered key) and then
 * hands the socket, with the session's sealer and opener, to the test.
 */
export async function rawPeer(options: {
  readonly port: number;
  readonly nodeId: NodeId;
  readonly keyPair: KeyPair;
  readonly registry: ReadonlyMap<NodeId, PublicKey>;
  readonly peer: NodeId;
  readonly clusterId?: string;
  readonly localAddress?: string;
}): Promise<{ readonly socket: net.Socket; readonly outcome: HandshakeOutcome; readonly rest: Uint8Array }> {
  const socket = net.connect({
    host: '127.0.0.1',
    port: options.port,
    localAddress: options.localAddress ?? '127.0.0.1',
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const channel = new StreamHandshakeChannel(socket);
  const outcome = await dialHandshake(channel, {
    scheme: mlDsa87,
    clusterId: options.clusterId ?? CLUSTER_ID,
    nodeId: options.nodeId,
    privateKey: options.keyPair.privateKey,
    publicKeyOf: (id) => options.registry.get(id),
    instance: new Uint8Array(16).fill(7),
    ledger: new NonceLedger(),
    peer: options.peer,
  });
  const rest = channel.detach();
  return { socket, outcome, rest };
}

/** A frame body of `bytes` bytes whose first four bytes are `sequence` (big-endian). */
export function numberedFrame(sequence: number, bytes: number): Uint8Array {
  const frame = new Uint8Array(bytes);
  new DataView(frame.buffer).setUint32(0, sequence);
  frame[bytes - 1] = sequence & 0xff;
  return frame;
}

/** The sequence number of a frame made by {@link numberedFrame}. */
export function sequenceOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
}
