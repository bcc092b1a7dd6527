/**
 * The node configuration file: what one `cretoai-node start --config <file>` process runs as.
 *
 * ```json
 * {
 *   "nodeId": "node-0",
 *   "cluster": "cluster.json",
 *   "privateKey": "keys/node-0.key.pem",
 *   "dataDir": "data/node-0",
 *   "listen": "127.0.0.1:7100",
 *   "http": { "listen": "127.0.0.1:8100" },
 *   "engine": { "batchMaxDelayMs": 5 }
 * }
 * ```
 *
 * Paths are relative to the configuration file's directory. Every field is checked when the
 * file is loaded, together with the cluster file, the key and the engine's figures, so a
 * mistake is reported before anything starts, as a {@link NodeConfigError} naming the file and
 * the field (`node config /etc/cretoai/node-0.json: http.listen: must be host:port`).
 *
 * The private key file (and a TLS key) must not be readable by other users, as ssh requires
 * of an identity file: `chmod 600` (see `key-file.ts` for the rule and the Kubernetes case).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type ClusterFile, ClusterFileError, loadClusterFile } from '../client/cluster-file.ts';
import { bytesEqual, importPrivateKeyPem, type KeyPair, mlDsa87 } from '../crypto/index.ts';
import { type BftConfig, ConfigError, type ResolvedBftConfig, resolveBftConfig } from '../engine/index.ts';
import { PeerAddressError, parsePeerAddress } from '../transport/discovery.ts';
import { KeyFilePermissionError, readPrivateKeyFile } from './key-file.ts';

/** Where a server listens. Port 0 lets the operating system choose. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** The HTTP API's settings. */
export interface HttpSettings {
  readonly listen: ListenAddress;
  /** The largest request body accepted, in bytes. Default: the largest vertex in base64 JSON, plus room. */
  readonly maxBodyBytes: number;
  /** Vertices in one `POST /v1/vertices` request. Default 4,096. */
  readonly submitVerticesMax: number;
  /** Event-stream clients at once; more get 503. Default 64. */
  readonly eventClientsMax: number;
  /** Bytes waiting to be sent to one event-stream client before it is disconnected. Default 8 MiB. */
  readonly eventBufferBytesMax: number;
  /** Whether `POST /v1/admin/backup` is served (to loopback callers only). Default true. */
  readonly admin: boolean;
  /** Seconds a client is asked to wait on 429 (the Retry-After header). Default 1. */
  readonly retryAfterSeconds: number;
  /**
   * Connections open at once; more are closed on arrival. Default 1,024: the API shares the
   * process's file descriptors with the consensus transport, and a node whose API held them
   * all could no longer accept its peers. 1,024 is far above what clients need (the load
   * generator keeps 16 per node, event streams are capped at `eventClientsMax`) and far below
   * the descriptor limits Node runs with (it raises the soft limit to the hard one, 4,096 at
   * the least on common systems), and bounds the memory idle connections hold.
   */
  readonly connectionsMax: number;
  /**
   * Connections open at once from one address (IPv6: one /64). Default 64: one host can take
   * at most a sixteenth of `connectionsMax`, and 64 is four times what the load generator
   * keeps. Behind a reverse proxy every client has the proxy's address: raise it to
   * `connectionsMax` there.
   */
  readonly connectionsPerAddressMax: number;
  /**
   * Time from connecting, or from the first byte of a later request on the connection, to a
   * complete request head; it also ends connections that send nothing. Default 10,000 ms.
   */
  readonly headersTimeoutMs: number;
  /** Time to receive a whole request, head and body. Default 60,000 ms (4 MiB at 70 KB/s). */
  readonly requestTimeoutMs: number;
  /**
   * Time an idle keep-alive connection is kept for its next request. Default 5,000 ms, Node's
   * own: clients (fetch keeps 4 s) reconnect cheaply, and idle connections hold places.
   */
  readonly keepAliveTimeoutMs: number;
  /**
   * Time a connection may pass with no traffic either way while a request is received or
   * answered. Event streams and backups are exempt. Default 30,000 ms.
   */
  readonly socketIdleTimeoutMs: number;
  /**
   * Time `POST /v1/admin/backup` gives the file system to check and make the target directory
   * (in a child process, which is killed past it) before answering 503. Default 10,000 ms.
   */
  readonly backupCheckTimeoutMs: number;
}

/** The consensus transport's settings. */
export interface TransportSettings {
  /** TCP (default) or QUIC (UDP); either way every frame is sealed by the transport's handshake keys. */
  readonly protocol: 'tcp' | 'quic';
  readonly listen: ListenAddress;
  readonly sendQueueFramesMax?: number;
  readonly sendQueueBytesMax?: number;
  readonly reconnectMaxDelayMs?: number;
}

export const LOG_LEVELS = Object.freeze(['debug', 'info', 'warn', 'error'] as const);
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything a node needs to start, loaded and checked. */
export interface NodeSettings {
  /** The configuration file (absolute). */
  readonly configFile: string;
  readonly nodeId: string;
  readonly clusterFile: string;
  readonly cluster: ClusterFile;
  /** This node's index in the validators: its replica id. */
  readonly replica: number;
  readonly keys: KeyPair;
  readonly dataDir: string;
  /** The engine's configuration: the cluster file's `consensus` with the node's `engine` over it. */
  readonly engine: BftConfig;
  /** The same, resolved (defaults applied). */
  readonly resolved: ResolvedBftConfig;
  readonly transport: TransportSettings;
  readonly http: HttpSettings;
  readonly logLevel: LogLevel;
  /** How long a SIGTERM lets pending vertices finish before the node gives up on them. */
  readonly shutdownDrainMs: number;
  /**
   * How long a loss (or return) of the quorum must last before it is logged (`quorum-lost`,
   * `quorum-regained`): a link that flaps faster writes nothing. Status, `/readyz` and the
   * metrics are live. Default 2,000 ms.
   */
  readonly quorumDebounceMs: number;
  /**
   * The background scrub of the store (`src/storage/scrub.ts`): on unless `enabled` is false;
   * `readsPerSecond` (10,000), `bytesPerSecond` (32 MiB) and `passIntervalMs` (1 h) bound it.
   */
  readonly scrub: {
    readonly enabled: boolean;
    readonly readsPerSecond: number;
    readonly bytesPerSecond: number;
    readonly passIntervalMs: number;
  };
  /**
   * Debugging: a file that gets one JSON line per consensus vote this node sends (its kind,
   * view, sequence and digest), written before the vote leaves. Tests read it to check that a
   * restarted node never contradicts itself.
   */
  readonly voteLog: string | null;
  /** Debugging: a file that gets every step of every sequence here (see `trace-file.ts`). */
  readonly traceFile: string | null;
}

/** A configuration that cannot be used; the message names the file and the field. */
export class NodeConfigError extends Error {
  override readonly name = 'NodeConfigError';
  readonly file: string;
  readonly field: string;

  constructor(file: string, field: string, detail: string, options?: ErrorOptions) {
    super(`node config ${file}: ${field === '' ? '' : `${field}: `}${detail}`, options);
    this.file = file;
    this.field = field;
  }
}

/**
 * Engine figures a node uses where neither its configuration nor the cluster file sets them.
 * The engine's own defaults suit replicas on in-memory stores, whose rounds are short. A node
 * syncs its store three times for every sequence, so a round takes tens of milliseconds even
 * when idle (80 ms at 1,000/s, traced), and under load every sequence costs each node its
 * signatures, checks and syncs whatever its size: fewer, larger sequences finish sooner.
 *
 * - `batchMaxDelayMs` 25 (engine: 10). Batches cut every 10 ms filled the pipeline before the
 *   first was final, later vertices waited for a free sequence, and each small batch cost as
 *   many signatures as a large one (on a backup, a signed REQUEST too: these figures predate
 *   unsigned REQUESTs). Pairs of runs with 4 node processes on 2 cores, TCP, 10 against 25 ms:
 *   at 1,000/s to the leader p50 88 and 100 against 43 and 52 ms; at 10,000/s p99 426 and 539
 *   against 338 and 396 ms to the leader, and through every node 1,046, 1,005 and 836 against
 *   925, 868 and 703 ms, with a third fewer REQUESTs. 40 ms was no better than 25.
 * - `pipelineDepth` 2 (engine: 4). With 25 ms batches, pairs of 25 s runs, depth 4 against 2:
 *   at 10,000/s through every node p99 1,008, 566 and 746 against 346, 460 and 413 ms (p50
 *   251-353 against 177-210), to the leader 391 and 470 (with 2,742 refused) against 291 and
 *   250; at 1,000/s through every node p50 167 against 116 ms, to the leader 41 against 44.
 * - `batchMaxVertices` 4096 (engine: 1024). Two sequences of at most 1,024 vertices carry at
 *   most 2,048 per round: at 10,000/s a round that slowed past 200 ms could no longer keep up,
 *   and the backlog slowed it further. Three of eleven 30 s runs through every node ran away so
 *   (p50 1.2-1.9 s, up to 13,356 refused with 429); none of seven did with 4,096 (p50 at most
 *   413 ms). The batch stays within `batchMaxBytes`, so frame limits are unchanged.
 */
const NODE_ENGINE_DEFAULTS: Partial<BftConfig> = {
  batchMaxDelayMs: 25,
  pipelineDepth: 2,
  batchMaxVertices: 4096,
};

/**
 * `BftConfig` fields a file may set. The cluster's identity (node id, validators, cluster id)
 * comes from the cluster file, so it is not among them.
 */
const ENGINE_FIELDS: ReadonlySet<string> = new Set([
  'quorumThreshold',
  'finalityTimeoutMs',
  'viewChangeTimeoutMs',
  'byzantineDetectionEnabled',
  'byzantine',
  'checkpointInterval',
  'watermarkWindow',
  'pipelineDepth',
  'batchMaxVertices',
  'batchMaxBytes',
  'batchMaxDelayMs',
  'pendingProposalsMax',
  'logRetention',
  'tickMs',
  'maxFrameBytes',
  'vertexPayloadBytesMax',
  'vertexParentsMax',
  'inboundFramesPerPeerMax',
  'verifiedCacheMax',
  'finalizedBufferMax',
]);

const TOP_FIELDS = new Set([
  'nodeId',
  'cluster',
  'privateKey',
  'dataDir',
  'listen',
  'http',
  'engine',
  'tls',
  'transport',
  'logLevel',
  'shutdownDrainMs',
  'quorumDebounceMs',
  'scrub',
  'debug',
]);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads fields of one JSON object, each error naming the file and the field's path. */
class Fields {
  readonly file: string;
  readonly prefix: string;
  readonly object: Json;

  constructor(file: string, prefix: string, object: Json) {
    this.file = file;
    this.prefix = prefix;
    this.object = object;
  }

  fail(field: string, detail: string, cause?: unknown): never {
    throw new NodeConfigError(
      this.file,
      `${this.prefix}${field}`,
      detail,
      cause === undefined ? undefined : { cause },
    );
  }

  only(allowed: ReadonlySet<string>): void {
    for (const key of Object.keys(this.object)) if (!allowed.has(key)) this.fail(key, 'is not a known field');
  }

  string(field: string, fallback?: string): string {
    const value = this.object[field] ?? fallback;
    if (typeof value !== 'string' || value.length === 0) this.fail(field, 'must be a non-empty string');
    return value;
  }

  integer(field: string, fallback: number, min: number, max: number): number {
    const value = this.object[field] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(field, `must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
    return value;
  }

  optionalInteger(field: string, min: number, max: number): number | undefined {
    return this.object[field] === undefined ? undefined : this.integer(field, 0, min, max);
  }

  boolean(field: string, fallback: boolean): boolean {
    const value = this.object[field] ?? fallback;
    if (typeof value !== 'boolean') this.fail(field, 'must be true or false');
    return value;
  }

  /** A listen address, `host:port`; unlike a peer's address, port 0 (the OS chooses) is allowed. */
  address(field: string, fallback?: string): ListenAddress {
    const text = this.string(field, fallback);
    const anyPort = text.endsWith(':0');
    try {
      // The peer-address parser refuses port 0; parse the host with a stand-in port.
      const parsed = parsePeerAddress(anyPort ? `${text.slice(0, -2)}:1` : text);
      return { host: parsed.host, port: anyPort ? 0 : parsed.port };
    } catch (error) {
      if (error instanceof PeerAddressError) this.fail(field, `must be host:port (${error.message})`, error);
      throw error;
    }
  }

  object_(field: string): Fields {
    const value = this.object[field] ?? {};
    if (!isObject(value)) this.fail(field, 'must be an object');
    return new Fields(this.file, `${this.prefix}${field}.`, value);
  }

  /** A path relative to the configuration file. */
  path(field: string): string {
    return path.resolve(path.dirname(this.file), this.string(field));
  }
}

/**
 * Loads and checks a node configuration file, the cluster file it names, its private key and
 * the engine figures.
 *
 * @throws NodeConfigError naming the file and the field; a ClusterFileError for the cluster file.
 */
export function loadNodeSettings(configFile: string): NodeSettings {
  const file = path.resolve(configFile);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new NodeConfigError(
      file,
      '',
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`,
      {
        cause: error,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new NodeConfigError(file, '', `not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(json)) throw new NodeConfigError(file, '', 'must hold a JSON object');
  const top: Fields = new Fields(file, '', json);
  top.only(TOP_FIELDS);

  const nodeId = top.string('nodeId');
  const clusterFile = top.path('cluster');
  const cluster: ClusterFile = loadClusterFile(clusterFile);
  const replica = cluster.validators.findIndex((validator) => validator.nodeId === nodeId);
  if (replica < 0) {
    top.fail(
      'nodeId',
      `${nodeId} is not one of the validators of ${clusterFile} (${cluster.validators.map((v) => v.nodeId).join(', ')})`,
    );
  }
  const own = cluster.validators[replica]!;

  const keyFile = top.path('privateKey');
  let keys: KeyPair;
  try {
    keys = importPrivateKeyPem(readPrivateKeyFile(keyFile));
  } catch (error) {
    if (error instanceof KeyFilePermissionError) top.fail('privateKey', error.message, error);
    top.fail(
      'privateKey',
      `${keyFile} is not a readable ML-DSA-87 private key (${(error as Error).message})`,
      error,
    );
  }
  if (!bytesEqual(keys.publicKey.raw, own.publicKey.raw)) {
    top.fail(
      'privateKey',
      `${keyFile} is not ${nodeId}'s key: its public key differs from the one the cluster file lists`,
    );
  }
  const dataDir = top.path('dataDir');

  // Consensus connections: where to listen. By default on every interface, at the port of this
  // node's address in the cluster file.
  const ownPort = own.address === undefined ? undefined : parsePeerAddress(own.address).port;
  if (json.listen === undefined && ownPort === undefined) {
    top.fail('listen', 'is required when the cluster file gives this node no address');
  }
  const listen = top.address('listen', `0.0.0.0:${ownPort}`);

  const transportFields = top.object_('transport');
  transportFields.only(
    new Set(['protocol', 'sendQueueFramesMax', 'sendQueueBytesMax', 'reconnectMaxDelayMs']),
  );
  const protocol = transportFields.string('protocol', 'tcp');
  if (protocol !== 'tcp' && protocol !== 'quic') transportFields.fail('protocol', 'must be "tcp" or "quic"');
  if (json.tls !== undefined) {
    // Refused rather than ignored, so that an operator who set it up learns what replaced it.
    top.fail(
      'tls',
      'is no longer used: every consensus connection is now encrypted and authenticated by the ' +
        "transport's own handshake (X25519 + ML-KEM-768 keys, ML-DSA-87 signatures, AES-256-GCM frames); " +
        'remove the field',
    );
  }
  const transport: TransportSettings = {
    protocol: protocol as TransportSettings['protocol'],
    listen,
    sendQueueFramesMax: transportFields.optionalInteger('sendQueueFramesMax', 1, 1 << 24),
    sendQueueBytesMax: transportFields.optionalInteger('sendQueueBytesMax', 1, 2 ** 40),
    reconnectMaxDelayMs: transportFields.optionalInteger('reconnectMaxDelayMs', 1, 3_600_000),
  };

  // The engine: the cluster's shared figures, with this node's own over them.
  const engineFields = top.object_('engine');
  engineFields.only(ENGINE_FIELDS);
  for (const key of Object.keys(cluster.consensus)) {
    if (!ENGINE_FIELDS.has(key)) {
      throw new ClusterFileError(clusterFile, `consensus.${key}`, 'is not a known consensus field');
    }
  }
  const engine: BftConfig = {
    ...NODE_ENGINE_DEFAULTS,
    ...(cluster.consensus as Partial<BftConfig>),
    ...(engineFields.object as Partial<BftConfig>),
    nodeId,
    validators: cluster.validators.map((validator) => validator.nodeId),
    clusterId: cluster.clusterId,
  };
  let resolved: ResolvedBftConfig;
  try {
    resolved = resolveBftConfig(engine, mlDsa87.signatureBytes);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const name = error.field.split('.')[0]!;
    const detail = error.message.slice(error.field.length + 2);
    if (name in engineFields.object) engineFields.fail(error.field, detail, error);
    throw new ClusterFileError(clusterFile, `consensus.${error.field}`, detail, { cause: error });
  }

  const httpFields = top.object_('http');
  httpFields.only(
    new Set([
      'listen',
      'maxBodyBytes',
      'submitVerticesMax',
      'eventClientsMax',
      'eventBufferBytesMax',
      'admin',
      'retryAfterSeconds',
      'connectionsMax',
      'connectionsPerAddressMax',
      'headersTimeoutMs',
      'requestTimeoutMs',
      'keepAliveTimeoutMs',
      'socketIdleTimeoutMs',
      'backupCheckTimeoutMs',
    ]),
  );
  // One vertex as JSON: its payload in base64 and its parents in hex, with room for the rest.
  const vertexJsonBytes =
    Math.ceil(resolved.vertexPayloadBytesMax / 3) * 4 + resolved.vertexParentsMax * 67 + 4096;
  const http: HttpSettings = {
    listen: httpFields.address('listen', '127.0.0.1:8080'),
    maxBodyBytes: httpFields.integer('maxBodyBytes', Math.max(vertexJsonBytes, 4 << 20), 1024, 1 << 30),
    submitVerticesMax: httpFields.integer('submitVerticesMax', 4096, 1, 1 << 20),
    eventClientsMax: httpFields.integer('eventClientsMax', 64, 0, 65_536),
    eventBufferBytesMax: httpFields.integer('eventBufferBytesMax', 8 << 20, 1024, 1 << 30),
    admin: httpFields.boolean('admin', true),
    retryAfterSeconds: httpFields.integer('retryAfterSeconds', 1, 1, 3600),
    connectionsMax: httpFields.integer('connectionsMax', 1024, 1, 1 << 20),
    connectionsPerAddressMax: httpFields.integer('connectionsPerAddressMax', 64, 1, 1 << 20),
    headersTimeoutMs: httpFields.integer('headersTimeoutMs', 10_000, 1, 3_600_000),
    requestTimeoutMs: httpFields.integer('requestTimeoutMs', 60_000, 1, 3_600_000),
    keepAliveTimeoutMs: httpFields.integer('keepAliveTimeoutMs', 5_000, 1, 3_600_000),
    socketIdleTimeoutMs: httpFields.integer('socketIdleTimeoutMs', 30_000, 1, 3_600_000),
    backupCheckTimeoutMs: httpFields.integer('backupCheckTimeoutMs', 10_000, 1, 600_000),
  };
  if (http.connectionsPerAddressMax > http.connectionsMax) {
    httpFields.fail(
      'connectionsPerAddressMax',
      `must not exceed http.connectionsMax (${http.connectionsMax}), got ${http.connectionsPerAddressMax}`,
    );
  }
  if (http.eventClientsMax >= http.connectionsMax) {
    // Each stream holds a connection for good: streams alone must not take every place.
    httpFields.fail(
      'eventClientsMax',
      `must be below http.connectionsMax (${http.connectionsMax}), got ${http.eventClientsMax}`,
    );
  }
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    // The head is part of the request (node:http refuses the opposite).
    httpFields.fail(
      'headersTimeoutMs',
      `must not exceed http.requestTimeoutMs (${http.requestTimeoutMs}), got ${http.headersTimeoutMs}`,
    );
  }

  const logLevel = (json.logLevel ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) top.fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}`);
  const scrubFields = top.object_('scrub');
  scrubFields.only(new Set(['enabled', 'readsPerSecond', 'bytesPerSecond', 'passIntervalMs']));
  const scrub = {
    enabled: scrubFields.boolean('enabled', true),
    readsPerSecond: scrubFields.integer('readsPerSecond', 10_000, 1, 100_000_000),
    bytesPerSecond: scrubFields.integer('bytesPerSecond', 32 << 20, 1, 2 ** 40),
    passIntervalMs: scrubFields.integer('passIntervalMs', 3_600_000, 1, 7 * 86_400_000),
  };
  const debug = top.object_('debug');
  debug.only(new Set(['voteLog', 'traceFile']));

  return Object.freeze({
    configFile: file,
    nodeId,
    clusterFile,
    cluster,
    replica,
    keys,
    dataDir,
    engine,
    resolved,
    transport,
    http,
    logLevel,
    shutdownDrainMs: top.integer('shutdownDrainMs', 2 * resolved.viewChangeTimeoutMs, 0, 3_600_000),
    quorumDebounceMs: top.integer('quorumDebounceMs', 2000, 0, 600_000),
    scrub,
    voteLog: debug.object.voteLog === undefined ? null : debug.path('voteLog'),
    traceFile: debug.object.traceFile === undefined ? null : debug.path('traceFile'),
  });
}
