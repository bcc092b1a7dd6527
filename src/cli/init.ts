/**
 * `cretoai-node keygen` and `cretoai-node init`: key files, and everything a local cluster needs
 * in one directory:
 *
 * ```
 * <dir>/cluster.json          the cluster file (public keys, addresses, API URLs)
 * <dir>/keys/node-<i>.key.pem each node's private key (mode 0600)
 * <dir>/keys/operator-0.key.pem the operator key that signs validator changes (mode 0600)
 * <dir>/node-<i>.json         each node's configuration
 * <dir>/schema/*.schema.json  the JSON Schemas of those files, which they name as `$schema`
 * <dir>/data/node-<i>/        each node's store (created at its first start)
 * <dir>/logs/node-<i>.log     each node's log, when `up` runs it
 * ```
 */
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type ClusterFile, clusterFileJsonSchema, formatClusterFile } from '../client/cluster-file.ts';
import { exportPrivateKeyPem, type KeyPair, mlDsa87 } from '../crypto/index.ts';
import { nodeConfigJsonSchema } from '../node/config.ts';
import { faultTolerance } from '../protocol/index.ts';
import { CliError } from './errors.ts';

/** Where `init` writes the JSON Schemas, relative to the cluster directory. */
const NODE_CONFIG_SCHEMA = 'schema/node-config.schema.json';
const CLUSTER_SCHEMA = 'schema/cluster.schema.json';

/** What `init` wrote. */
export interface InitializedCluster {
  readonly dir: string;
  readonly clusterFile: string;
  readonly clusterId: string;
  readonly configFiles: readonly string[];
  /**
   * The private key of the cluster's one operator (threshold 1), which signs reconfiguration
   * requests (docs/reconfiguration.md). No node reads it.
   */
  readonly operatorKeyFile: string;
  readonly nodeIds: readonly string[];
  readonly apiUrls: readonly string[];
  /** Each node's consensus address, `host:port`. */
  readonly addresses: readonly string[];
  /** f: how many faulty nodes the cluster tolerates. */
  readonly faultTolerance: number;
  /** What the operator should know about this cluster (see {@link clusterWarnings}). */
  readonly warnings: readonly string[];
}

/**
 * Warnings about a cluster of `nodes` validators: with fewer than 4, f = floor((n-1)/3) is 0,
 * so a single node down (or faulty) stops the cluster, which a user asking for 3 may not expect.
 */
export function clusterWarnings(nodes: number): string[] {
  if (faultTolerance(nodes) > 0) return [];
  return [
    `a cluster of ${nodes} node${nodes === 1 ? '' : 's'} tolerates no faulty node (f = floor((n-1)/3) = 0): ` +
      'one node down stops it; 4 nodes tolerate one fault, 7 tolerate two',
  ];
}

/** Options of {@link initCluster}. */
export interface InitOptions {
  readonly dir: string;
  readonly nodes: number;
  readonly clusterId?: string;
  /** The address every node listens on and is reached at. Default 127.0.0.1. */
  readonly host?: string;
  /**
   * Node i takes consensus port `portBase + i` and HTTP port `portBase + 100 + i`. Default:
   * ports the operating system reports free now.
   */
  readonly portBase?: number;
  /** The consensus transport. Default 'tcp'. */
  readonly transport?: 'tcp' | 'quic';
  /** `consensus` figures for the cluster file. */
  readonly consensus?: Readonly<Record<string, unknown>>;
  /** `engine` figures for every node's configuration. */
  readonly engine?: Readonly<Record<string, unknown>>;
  /** Extra top-level fields for node i's configuration (tests: a vote log). */
  readonly nodeConfig?: (index: number) => Readonly<Record<string, unknown>>;
}

/**
 * Writes a private key file readable by its owner only (mode 0600, which the node requires);
 * refuses to overwrite one unless `force`.
 */
export function writePrivateKey(
  file: string,
  keys: KeyPair,
  options: { readonly force?: boolean } = {},
): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let fd: number;
  try {
    fd = fs.openSync(file, options.force ? 'w' : 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError(`${file} exists; a private key is never overwritten (pass --force if you mean it)`);
    }
    throw error;
  }
  try {
    // The mode given to open applies to a new file only: a file overwritten with --force keeps
    // its old mode, perhaps 0644. Set it before the key is written, so it never sits in a file
    // others can read.
    fs.fchmodSync(fd, 0o600);
    fs.writeFileSync(fd, exportPrivateKeyPem(keys.privateKey));
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether `port` can be bound on `host` now (TCP listen, or UDP bind). */
async function canBind(port: number, host: string, protocol: 'tcp' | 'udp'): Promise<boolean> {
  if (protocol === 'udp') {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, host, () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    return bound;
  }
  const server = net.createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (bound) await new Promise((resolve) => server.close(resolve));
  return bound;
}

/** The operating system's range of ephemeral ports (Linux tells; elsewhere a common default). */
function ephemeralRange(): readonly [number, number] {
  try {
    const [low, high] = fs
      .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isSafeInteger(low) && Number.isSafeInteger(high)) return [low!, high!];
  } catch {
    // Not Linux: macOS and Windows use 49152-65535.
  }
  return [49_152, 65_535];
}

/**
 * `count` distinct ports on `host` that are free now, TCP or UDP (another process may still
 * take one later). They are drawn below the ephemeral range: a port the OS hands out to
 * outgoing connections (nodes dialing each other, clients) could otherwise be in use as the
 * local end of a connection when a node restarts and binds it again.
 */
export async function freePorts(
  count: number,
  host = '127.0.0.1',
  protocol: 'tcp' | 'udp' = 'tcp',
  avoid: ReadonlySet<number> = new Set(),
): Promise<number[]> {
  const [ephemeralLow, ephemeralHigh] = ephemeralRange();
  // Below the ephemeral range if there is room there, else above it.
  const [low, high] =
    ephemeralLow - 10_000 >= 2_000 ? [10_000, ephemeralLow - 1] : [ephemeralHigh + 1, 65_535];
  const ports: number[] = [];
  const tried = new Set<number>(avoid);
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt >= 1000) throw new CliError(`found only ${ports.length} of ${count} free ports on ${host}`);
    const port = low + randomInt(high - low + 1);
    if (tried.has(port)) continue;
    tried.add(port);
    if (await canBind(port, host, protocol)) ports.push(port);
  }
  return ports;
}

/** Creates the keys, the cluster file and one configuration per node in `options.dir`. */
export async function initCluster(options: InitOptions): Promise<InitializedCluster> {
  const { nodes } = options;
  if (!Number.isSafeInteger(nodes) || nodes < 1 || nodes > 100) {
    throw new CliError(`--nodes must be a whole number from 1 to 100, got ${nodes}`);
  }
  const dir = path.resolve(options.dir);
  const clusterFile = path.join(dir, 'cluster.json');
  if (fs.existsSync(clusterFile)) {
    throw new CliError(`${dir} already holds a cluster (cluster.json); choose an empty directory`);
  }
  const host = options.host ?? '127.0.0.1';
  let ports: number[];
  if (options.portBase !== undefined) {
    if (
      !Number.isSafeInteger(options.portBase) ||
      options.portBase < 1 ||
      options.portBase + 100 + nodes > 65_535
    ) {
      throw new CliError(`--port-base must leave room for ${nodes} consensus and HTTP ports below 65536`);
    }
    const base = options.portBase;
    ports = [
      ...Array.from({ length: nodes }, (_, i) => base + i),
      ...Array.from({ length: nodes }, (_, i) => base + 100 + i),
    ];
  } else {
    const transport = options.transport === 'quic' ? 'udp' : 'tcp';
    const consensus = await freePorts(nodes, host, transport);
    ports = [...consensus, ...(await freePorts(nodes, host, 'tcp', new Set(consensus)))];
  }
  const nodeIds = Array.from({ length: nodes }, (_, i) => `node-${i}`);
  const keys = nodeIds.map(() => mlDsa87.generateKeyPair());
  const operator = mlDsa87.generateKeyPair();
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const apiUrls = nodeIds.map((_, i) => `http://${hostInUrl}:${ports[nodes + i]}`);
  const cluster: ClusterFile = {
    clusterId: options.clusterId ?? `local-${randomBytes(4).toString('hex')}`,
    validators: nodeIds.map((nodeId, i) => ({
      nodeId,
      publicKey: keys[i]!.publicKey,
      address: `${hostInUrl}:${ports[i]}`,
      api: apiUrls[i]!,
    })),
    consensus: options.consensus ?? {},
    operators: { keys: [operator.publicKey], threshold: 1 },
  };
  fs.mkdirSync(path.join(dir, 'keys'), { recursive: true });
  const operatorKeyFile = path.join(dir, 'keys', 'operator-0.key.pem');
  writePrivateKey(operatorKeyFile, operator);
  // The schemas sit beside the files, which name them by a relative path: an editor finds them
  // offline, and they describe the release that wrote the files.
  fs.mkdirSync(path.join(dir, 'schema'), { recursive: true });
  fs.writeFileSync(path.join(dir, NODE_CONFIG_SCHEMA), nodeConfigJsonSchema());
  fs.writeFileSync(path.join(dir, CLUSTER_SCHEMA), clusterFileJsonSchema());
  const configFiles: string[] = [];
  for (const [i, nodeId] of nodeIds.entries()) {
    writePrivateKey(path.join(dir, 'keys', `${nodeId}.key.pem`), keys[i]!);
    const configFile = path.join(dir, `${nodeId}.json`);
    const config = {
      $schema: NODE_CONFIG_SCHEMA,
      nodeId,
      cluster: 'cluster.json',
      privateKey: `keys/${nodeId}.key.pem`,
      dataDir: `data/${nodeId}`,
      listen: `${hostInUrl}:${ports[i]}`,
      http: { listen: `${hostInUrl}:${ports[nodes + i]}` },
      // A node that lost its store catches up by state transfer from its peers' finalized
      // history, so a local cluster keeps a long one. Admission: a node holds at most 5,000
      // vertices that are not final and answers 429 beyond. With the engine's 100,000, an
      // overloaded cluster's backups hold vertices for longer than the view-change timeout, time
      // out on a leader that is busy rather than faulty, and change views again and again
      // (docs/benchmarks.md).
      engine: { logRetention: 100_000, pendingProposalsMax: 5000, ...options.engine },
      ...(options.transport === 'quic' ? { transport: { protocol: 'quic' } } : {}),
      ...options.nodeConfig?.(i),
    };
    fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
    configFiles.push(configFile);
  }
  fs.writeFileSync(clusterFile, formatClusterFile(cluster, { schema: CLUSTER_SCHEMA }));
  return {
    dir,
    clusterFile,
    clusterId: cluster.clusterId,
    configFiles,
    operatorKeyFile,
    nodeIds,
    apiUrls,
    addresses: cluster.validators.map((validator) => validator.address!),
    faultTolerance: faultTolerance(nodes),
    warnings: clusterWarnings(nodes),
  };
}
