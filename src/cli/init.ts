/**
 * `cretoai-node keygen` and `cretoai-node init`: key files, and everything a local cluster needs
 * in one directory:
 *
 * ```
 * <dir>/cluster.json          the cluster file (public keys, addresses, API URLs)
 * <dir>/keys/node-<i>.key.pem each node's private key (mode 0600)
 * <dir>/node-<i>.json         each node's configuration
 * <dir>/data/node-<i>/        each node's store (created at its first start)
 * <dir>/logs/node-<i>.log     each node's log, when `up` runs it
 * ```
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type ClusterFile, formatClusterFile } from '../client/cluster-file.ts';
import { exportPrivateKeyPem, type KeyPair, mlDsa87 } from '../crypto/index.ts';
import { CliError } from './errors.ts';

/** What `init` wrote. */
export interface InitializedCluster {
  readonly dir: string;
  readonly clusterFile: string;
  readonly configFiles: readonly string[];
  readonly nodeIds: readonly string[];
  readonly apiUrls: readonly string[];
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

/** Writes a private key file readable by its owner only; refuses to overwrite one. */
export function writePrivateKey(
  file: string,
  keys: KeyPair,
  options: { readonly force?: boolean } = {},
): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  try {
    fs.writeFileSync(file, exportPrivateKeyPem(keys.privateKey), {
      mode: 0o600,
      flag: options.force ? 'w' : 'wx',
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError(`${file} exists; a private key is never overwritten (pass --force if you mean it)`);
    }
    throw error;
  }
}

/**
 * `count` ports on `host` that are free now (the OS picks them; another process may take one
 * later), TCP or UDP.
 */
export async function freePorts(
  count: number,
  host = '127.0.0.1',
  protocol: 'tcp' | 'udp' = 'tcp',
): Promise<number[]> {
  if (protocol === 'udp') {
    const sockets: dgram.Socket[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
        sockets.push(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(0, host, () => resolve());
        });
      }
      return sockets.map((socket) => socket.address().port);
    } finally {
      await Promise.all(
        sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))),
      );
    }
  }
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
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
    ports = [...(await freePorts(nodes, host, transport)), ...(await freePorts(nodes, host))];
  }
  const nodeIds = Array.from({ length: nodes }, (_, i) => `node-${i}`);
  const keys = nodeIds.map(() => mlDsa87.generateKeyPair());
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
  };
  fs.mkdirSync(path.join(dir, 'keys'), { recursive: true });
  const configFiles: string[] = [];
  for (const [i, nodeId] of nodeIds.entries()) {
    writePrivateKey(path.join(dir, 'keys', `${nodeId}.key.pem`), keys[i]!);
    const configFile = path.join(dir, `${nodeId}.json`);
    const config = {
      nodeId,
      cluster: 'cluster.json',
      privateKey: `keys/${nodeId}.key.pem`,
      dataDir: `data/${nodeId}`,
      listen: `${hostInUrl}:${ports[i]}`,
      http: { listen: `${hostInUrl}:${ports[nodes + i]}` },
      // A node that lost its store catches up by state transfer from its peers' finalized
      // history, so a local cluster keeps a long one.
      engine: { logRetention: 100_000, ...options.engine },
      ...(options.transport === 'quic' ? { transport: { protocol: 'quic' } } : {}),
      ...options.nodeConfig?.(i),
    };
    fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
    configFiles.push(configFile);
  }
  fs.writeFileSync(clusterFile, formatClusterFile(cluster));
  return { dir, clusterFile, configFiles, nodeIds, apiUrls };
}
