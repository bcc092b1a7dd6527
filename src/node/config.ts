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
 * The file's shape is a zod schema (see `schema-file.ts` for why zod), from which
 * `npm run schema` writes `schema/node-config.schema.json` for editors; the rules that need the
 * cluster file, the key or the resolved engine figures follow it in {@link loadNodeSettings}.
 *
 * The private key file (and a TLS key) must not be readable by other users, as ssh requires
 * of an identity file: `chmod 600` (see `key-file.ts` for the rule and the Kubernetes case).
 */

import path from 'node:path';
import * as z from 'zod';
import { type ClusterFile, ClusterFileError, loadClusterFile } from '../client/cluster-file.ts';
import { checkAgainst, jsonSchemaText, readJsonObject } from '../client/schema-file.ts';
import { bytesEqual, importPrivateKeyPem, type KeyPair, mlDsa87 } from '../crypto/index.ts';
import { engineFiguresSchema } from '../engine/config-schema.ts';
import { type BftConfig, ConfigError, type ResolvedBftConfig, resolveBftConfig } from '../engine/index.ts';
import { CretoaiError } from '../errors.ts';
import type { Epoch } from '../reconfig/epoch.ts';
import { ReconfigurationError } from '../reconfig/errors.ts';
import { requestPayload } from '../reconfig/reader.ts';
import { followChain, type ReconfigurationRequest } from '../reconfig/request.ts';
import { loadRequestFile } from '../reconfig/request-file.ts';
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

/** How log lines are written: JSON lines, or pino-pretty's text for a person at a terminal. */
export const LOG_FORMATS = Object.freeze(['json', 'pretty'] as const);
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Everything a node needs to start, loaded and checked. */
/** The epoch a joiner joins (node config `chain`). */
export interface JoiningSettings {
  readonly epoch: number;
  readonly members: ClusterFile;
  /** The vertex payload of the request that opens it: the engine checks the history against it. */
  readonly opening: Uint8Array;
}

export interface NodeSettings {
  /** The configuration file (absolute). */
  readonly configFile: string;
  readonly nodeId: string;
  readonly clusterFile: string;
  readonly cluster: ClusterFile;
  /** This node's index in the validators (of the epoch it joins, for a joiner): its replica id. */
  readonly replica: number;
  /** For a node given a `chain`: the epoch it joins, its members, and the request that opens it. */
  readonly joining: JoiningSettings | null;
  readonly keys: KeyPair;
  /** `nextPrivateKeys`: keys for epochs after a rotation of this node's key. */
  readonly nextKeys: readonly KeyPair[];
  readonly dataDir: string;
  /** The engine's configuration: the cluster file's `consensus` with the node's `engine` over it. */
  readonly engine: BftConfig;
  /** The same, resolved (defaults applied). */
  readonly resolved: ResolvedBftConfig;
  readonly transport: TransportSettings;
  readonly http: HttpSettings;
  readonly logLevel: LogLevel;
  /** How log lines are written; null: pretty when stderr is a terminal, JSON otherwise. */
  readonly logFormat: LogFormat | null;
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
export class NodeConfigError extends CretoaiError {
  readonly code = 'node-config';
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
 * syncs its store several times for every sequence, and every sequence costs each node its
 * signatures, checks and syncs whatever its size, so under load fewer, larger sequences finish
 * sooner: a longer batch delay (it applies only at the leader while a sequence is in flight),
 * two sequences in flight rather than four, and batches of up to 4,096 vertices (still within
 * `batchMaxBytes`, so frame limits are unchanged). A second sequence joins one in flight only
 * once a full batch waits, by count (`pipelineFillVertices` is `batchMaxVertices` unless a
 * file sets it) or by bytes (`batchMaxBytes`): below that, what arrives during a round shares
 * the next sequence, and the second slot is for a backlog. The paired runs behind each figure
 * are in docs/benchmarks.md.
 */
const NODE_ENGINE_DEFAULTS: Partial<BftConfig> = {
  batchMaxDelayMs: 25,
  pipelineDepth: 2,
  batchMaxVertices: 4096,
};

/** A whole number in [min, max]; every mistake says the range and what was found. */
function integer(min: number, max: number, description: string) {
  const error = (issue: { readonly input?: unknown }): string =>
    `must be an integer in [${min}, ${max}], got ${JSON.stringify(issue.input)}`;
  return z.int({ error }).min(min, { error }).max(max, { error }).meta({ description });
}

const nonEmptyString = (description: string) =>
  z
    .string({
      error: (issue) =>
        issue.input === undefined ? 'is required: a non-empty string' : 'must be a non-empty string',
    })
    .min(1, { error: 'must be a non-empty string' })
    .meta({ description });

/** A listen address, `host:port`; unlike a peer's address, port 0 (the OS chooses) is allowed. */
const listenAddress = (description: string) =>
  z
    .string({ error: 'must be host:port' })
    .transform((text, context): ListenAddress => {
      const anyPort = text.endsWith(':0');
      try {
        // The peer-address parser refuses port 0; parse the host with a stand-in port.
        const parsed = parsePeerAddress(anyPort ? `${text.slice(0, -2)}:1` : text);
        return { host: parsed.host, port: anyPort ? 0 : parsed.port };
      } catch (error) {
        if (!(error instanceof PeerAddressError)) throw error;
        context.addIssue({ code: 'custom', message: `must be host:port (${error.message})` });
        return z.NEVER;
      }
    })
    .meta({ description });

const transportSchema = z
  .strictObject({
    protocol: z.enum(['tcp', 'quic']).default('tcp').meta({
      description: "TCP or QUIC (UDP); either way every frame is sealed by the transport's handshake keys.",
    }),
    sendQueueFramesMax: integer(1, 1 << 24, 'Frames queued for one peer.').optional(),
    sendQueueBytesMax: integer(1, 2 ** 40, 'Bytes queued for one peer.').optional(),
    reconnectMaxDelayMs: integer(1, 3_600_000, 'The longest pause between dials of a peer.').optional(),
  })
  .meta({ description: 'The consensus transport.' });

const httpSchema = z
  .strictObject({
    listen: listenAddress('Where the HTTP API listens, host:port.').prefault('127.0.0.1:8080'),
    maxBodyBytes: integer(
      1024,
      1 << 30,
      'The largest request body accepted, in bytes. Default: the largest vertex in base64 JSON, plus room.',
    ).optional(),
    submitVerticesMax: integer(1, 1 << 20, 'Vertices in one POST /v1/vertices request.').default(4096),
    eventClientsMax: integer(0, 65_536, 'Event-stream clients at once; more get 503.').default(64),
    eventBufferBytesMax: integer(
      1024,
      1 << 30,
      'Bytes waiting to be sent to one event-stream client before it is disconnected.',
    ).default(8 << 20),
    admin: z
      .boolean()
      .default(true)
      .meta({ description: 'Whether POST /v1/admin/backup is served (to loopback callers only).' }),
    retryAfterSeconds: integer(1, 3600, 'Seconds a client is asked to wait on 429 (Retry-After).').default(1),
    connectionsMax: integer(1, 1 << 20, 'Connections open at once; more are closed on arrival.').default(
      1024,
    ),
    connectionsPerAddressMax: integer(
      1,
      1 << 20,
      'Connections open at once from one address (IPv6: one /64). Behind a reverse proxy, raise it to connectionsMax.',
    ).default(64),
    headersTimeoutMs: integer(1, 3_600_000, 'Time to a complete request head.').default(10_000),
    requestTimeoutMs: integer(1, 3_600_000, 'Time to receive a whole request, head and body.').default(
      60_000,
    ),
    keepAliveTimeoutMs: integer(1, 3_600_000, 'Time an idle keep-alive connection is kept.').default(5_000),
    socketIdleTimeoutMs: integer(
      1,
      3_600_000,
      'Time a connection may pass with no traffic while a request is received or answered.',
    ).default(30_000),
    backupCheckTimeoutMs: integer(
      1,
      600_000,
      'Time POST /v1/admin/backup gives the file system to check the target directory.',
    ).default(10_000),
  })
  .superRefine((http, context) => {
    if (http.connectionsPerAddressMax > http.connectionsMax) {
      context.addIssue({
        code: 'custom',
        path: ['connectionsPerAddressMax'],
        message: `must not exceed http.connectionsMax (${http.connectionsMax}), got ${http.connectionsPerAddressMax}`,
      });
    }
    if (http.eventClientsMax >= http.connectionsMax) {
      // Each stream holds a connection for good: streams alone must not take every place.
      context.addIssue({
        code: 'custom',
        path: ['eventClientsMax'],
        message: `must be below http.connectionsMax (${http.connectionsMax}), got ${http.eventClientsMax}`,
      });
    }
    if (http.headersTimeoutMs > http.requestTimeoutMs) {
      // The head is part of the request (node:http refuses the opposite).
      context.addIssue({
        code: 'custom',
        path: ['headersTimeoutMs'],
        message: `must not exceed http.requestTimeoutMs (${http.requestTimeoutMs}), got ${http.headersTimeoutMs}`,
      });
    }
  })
  .meta({ description: 'The HTTP API.' });

const scrubSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Whether the store is scrubbed in the background.' }),
    readsPerSecond: integer(
      1,
      100_000_000,
      'Reads a second, at most: records read plus the lookups their checks make.',
    ).default(10_000),
    bytesPerSecond: integer(1, 2 ** 40, 'Bytes of records read a second, at most.').default(32 << 20),
    passIntervalMs: integer(
      1,
      7 * 86_400_000,
      'From the start of one full pass over the store to the start of the next, at the least.',
    ).default(3_600_000),
  })
  .meta({
    description:
      'The background scrub of the store, which reads every record and checks it, a little at a time.',
  });

/** The shape of a node configuration file. */
export const nodeConfigSchema = z.strictObject({
  $schema: z.string().optional().meta({ description: "This file's JSON Schema, for editors." }),
  nodeId: nonEmptyString(
    "This node's id: one of the cluster file's validators, or of the epoch its chain leads to.",
  ),
  cluster: nonEmptyString('The cluster file.'),
  privateKey: nonEmptyString(
    "This node's ML-DSA-87 private key (PEM) as the cluster file lists it, readable by its owner only.",
  ),
  nextPrivateKeys: z.array(nonEmptyString('A private key file (PEM).')).max(16).default([]).meta({
    description:
      'Keys this node may be given by a key rotation (`validators rotate-key`), besides privateKey: in each epoch it signs with the one that epoch lists for it. Same permissions as privateKey.',
  }),
  chain: z.array(nonEmptyString('A reconfiguration request file.')).max(4096).default([]).meta({
    description:
      "For a node that joins the validators after the cluster file's epoch (a new machine, or a replacement on an empty disk): the requests, in order, that lead from the cluster file to the epoch it joins, the last one adding it. Each is checked against the epoch before (operator signatures included); the node fetches the history up to that epoch from its peers, then votes. Leave it empty for a validator of the cluster file.",
  }),
  dataDir: nonEmptyString("The node's store."),
  listen: listenAddress(
    "Where consensus connections are accepted, host:port. Default: every interface, at the port of this node's address in the cluster file.",
  ).optional(),
  transport: transportSchema.prefault({}),
  http: httpSchema.prefault({}),
  engine: engineFiguresSchema
    .optional()
    .meta({ description: "This node's engine figures, over the cluster file's consensus ones." }),
  logLevel: z.enum(LOG_LEVELS).default('info').meta({ description: 'The least severe level logged.' }),
  logFormat: z
    .enum(LOG_FORMATS)
    .optional()
    .meta({ description: 'JSON lines, or text for a person. Default: pretty when stderr is a terminal.' }),
  shutdownDrainMs: integer(
    0,
    3_600_000,
    'How long a SIGTERM lets pending vertices finish. Default twice the view-change timeout.',
  ).optional(),
  quorumDebounceMs: integer(
    0,
    600_000,
    'How long a loss (or return) of the quorum must last before it is logged; a link that flaps faster writes nothing.',
  ).default(2000),
  scrub: scrubSchema.prefault({}),
  debug: z
    .strictObject({
      voteLog: nonEmptyString(
        'A file that gets one JSON line per consensus vote this node sends.',
      ).optional(),
      traceFile: nonEmptyString('A file that gets every step of every sequence here.').optional(),
    })
    .optional()
    .meta({ description: 'Debugging.' }),
});

/** The JSON Schema of node configuration files, as written to `schema/node-config.schema.json`. */
export function nodeConfigJsonSchema(): string {
  return jsonSchemaText(nodeConfigSchema, {
    title: 'cretoai-consensus node configuration',
    description:
      'What one `cretoai-node start --config <file>` process runs as. Paths are relative to this file.',
  });
}

/**
 * The epoch a chain of request files leads to from the cluster file, each link checked; null for
 * an empty chain.
 */
function joiningOf(
  cluster: ClusterFile,
  files: readonly string[],
  fail: (field: string, detail: string, cause?: unknown) => never,
): JoiningSettings | null {
  if (files.length === 0) return null;
  if (cluster.operators === undefined)
    fail('chain', 'the cluster file names no operators, so no request can change its validators');
  let requests: ReconfigurationRequest[];
  let epoch: Epoch;
  try {
    requests = files.map((file) => loadRequestFile(file));
    epoch = followChain(cluster, requests);
  } catch (error) {
    if (error instanceof ReconfigurationError) return fail('chain', error.message, error);
    throw error;
  }
  return { epoch: epoch.number, members: epoch.members, opening: requestPayload(requests.at(-1)!) };
}

/**
 * Loads and checks a node configuration file, the cluster file it names, its private key and
 * the engine figures.
 *
 * @throws NodeConfigError naming the file and the field; a ClusterFileError for the cluster file.
 */
export function loadNodeSettings(configFile: string): NodeSettings {
  const file = path.resolve(configFile);
  const fail = (field: string, detail: string, cause?: unknown): never => {
    throw new NodeConfigError(file, field, detail, cause === undefined ? undefined : { cause });
  };
  const json = readJsonObject(file, (detail, cause) => fail('', detail, cause));
  if (json.tls !== undefined) {
    // Refused rather than ignored, so that an operator who set it up learns what replaced it.
    fail(
      'tls',
      'is no longer used: every consensus connection is now encrypted and authenticated by the ' +
        "transport's own handshake (X25519 + ML-KEM-768 keys, ML-DSA-87 signatures, AES-256-GCM frames); " +
        'remove the field',
    );
  }
  const checked = checkAgainst(nodeConfigSchema, json);
  if (!checked.ok) return fail(checked.mistake.field, checked.mistake.detail);
  const config = checked.value;
  const relative = (to: string): string => path.resolve(path.dirname(file), to);

  const { nodeId } = config;
  const clusterFile = relative(config.cluster);
  const cluster: ClusterFile = loadClusterFile(clusterFile);
  const joining = joiningOf(cluster, config.chain.map(relative), fail);
  // A joiner is named by the epoch it joins, a validator of the cluster file by the file.
  const members = joining?.members ?? cluster;
  const replica = members.validators.findIndex((validator) => validator.nodeId === nodeId);
  if (replica < 0) {
    fail(
      'nodeId',
      joining === null
        ? `${nodeId} is not one of the validators of ${clusterFile} (${cluster.validators.map((v) => v.nodeId).join(', ')})`
        : `${nodeId} is not one of the validators of epoch ${joining.epoch}, which the chain leads to`,
    );
  }
  const own = members.validators[replica]!;

  const readKey = (field: string, to: string): KeyPair => {
    const keyFile = relative(to);
    try {
      return importPrivateKeyPem(readPrivateKeyFile(keyFile));
    } catch (error) {
      if (error instanceof KeyFilePermissionError) fail(field, error.message, error);
      return fail(
        field,
        `${keyFile} is not a readable ML-DSA-87 private key (${(error as Error).message})`,
        error,
      );
    }
  };
  const keyFile = relative(config.privateKey);
  const keys = readKey('privateKey', config.privateKey);
  const nextKeys = config.nextPrivateKeys.map((file, i) => readKey(`nextPrivateKeys[${i}]`, file));
  if (!bytesEqual(keys.publicKey.raw, own.publicKey.raw)) {
    fail(
      'privateKey',
      `${keyFile} is not ${nodeId}'s key: its public key differs from the one the ${joining === null ? 'cluster file' : `request that opens epoch ${joining.epoch}`} lists`,
    );
  }

  // Consensus connections: where to listen. By default on every interface, at the port of this
  // node's address in the cluster file.
  const ownPort = own.address === undefined ? undefined : parsePeerAddress(own.address).port;
  if (config.listen === undefined && ownPort === undefined) {
    fail('listen', 'is required when the cluster file gives this node no address');
  }
  const listen = config.listen ?? { host: '0.0.0.0', port: ownPort! };
  const transport: TransportSettings = { ...config.transport, listen };

  // The engine: the cluster's shared figures, with this node's own over them.
  const chosen: Partial<BftConfig> = {
    ...NODE_ENGINE_DEFAULTS,
    ...(cluster.consensus as Partial<BftConfig>),
    ...config.engine,
  };
  const engine: BftConfig = {
    pipelineFillVertices: chosen.batchMaxVertices,
    ...chosen,
    nodeId,
    validators: cluster.validators.map((validator) => validator.nodeId),
    clusterId: cluster.clusterId,
  };
  let resolved: ResolvedBftConfig;
  try {
    resolved = resolveBftConfig(engine, mlDsa87.signatureBytes, { joining: joining !== null });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const name = error.field.split('.')[0]!;
    const detail = error.message.slice(error.field.length + 2);
    if (config.engine !== undefined && name in config.engine) fail(`engine.${error.field}`, detail, error);
    throw new ClusterFileError(clusterFile, `consensus.${error.field}`, detail, { cause: error });
  }

  // One vertex as JSON: its payload in base64 and its parents in hex, with room for the rest.
  const vertexJsonBytes =
    Math.ceil(resolved.vertexPayloadBytesMax / 3) * 4 + resolved.vertexParentsMax * 67 + 4096;
  const http: HttpSettings = {
    ...config.http,
    maxBodyBytes: config.http.maxBodyBytes ?? Math.max(vertexJsonBytes, 4 << 20),
  };

  return Object.freeze({
    configFile: file,
    nodeId,
    clusterFile,
    cluster,
    replica,
    joining,
    keys,
    nextKeys,
    dataDir: relative(config.dataDir),
    engine,
    resolved,
    transport,
    http,
    logLevel: config.logLevel,
    logFormat: config.logFormat ?? null,
    shutdownDrainMs: config.shutdownDrainMs ?? 2 * resolved.viewChangeTimeoutMs,
    quorumDebounceMs: config.quorumDebounceMs,
    scrub: config.scrub,
    voteLog: config.debug?.voteLog === undefined ? null : relative(config.debug.voteLog),
    traceFile: config.debug?.traceFile === undefined ? null : relative(config.debug.traceFile),
  });
}
