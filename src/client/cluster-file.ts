/**
 * The cluster file: who the validators are. Every node, client and operator tool of one cluster
 * reads the same file (`cretoai-node init` writes it):
 *
 * ```json
 * {
 *   "format": "cretoai-cluster/v1",
 *   "clusterId": "local-3f2a",
 *   "validators": [
 *     { "nodeId": "node-0", "publicKey": "-----BEGIN PUBLIC KEY-----\n...", "address": "127.0.0.1:7100",
 *       "api": "http://127.0.0.1:8100" }
 *   ],
 *   "consensus": { "checkpointInterval": 16 }
 * }
 * ```
 *
 * - `validators` in order: the leader of view v is `validators[v mod n]`, so every node must list
 *   them in the same order.
 * - `publicKey`: the ML-DSA-87 public key as SPKI PEM, or its raw 2,592 bytes as hex.
 * - `address`: where the node accepts consensus connections, `host:port` with an IP literal or a
 *   DNS name (resolved again before every dial). Without one, the node is accept-only.
 * - `api`: the node's HTTP base URL, for clients and `cretoai-node status`; optional.
 * - `consensus`: `BftConfig` figures every node must share (checkpointInterval, watermarkWindow,
 *   quorumThreshold, batch and frame limits, timeouts); optional.
 * - Every validator needs its own node id, public key and address: a key listed twice would let
 *   its holder cast two votes (2 of 4 with n = 4, breaking the f < n/3 assumption), and two
 *   validators at one address would be dialed at the same place. Such a file is refused.
 *
 * It lives in `src/client` because clients read it for the validators' keys; the node and the
 * CLI read it through this module too.
 */
import fs from 'node:fs';
import { isIP, SocketAddress } from 'node:net';
import { exportPublicKeyPem, importPublicKeyPem, mlDsa87, type PublicKey, toHex } from '../crypto/index.ts';
import { type PeerAddress, parsePeerAddress } from '../transport/discovery.ts';

/** The value of the `format` field this release writes and reads. */
export const CLUSTER_FILE_FORMAT = 'cretoai-cluster/v1';

/** One validator of the cluster file. */
export interface ValidatorEntry {
  readonly nodeId: string;
  readonly publicKey: PublicKey;
  /** `host:port` for consensus connections; undefined for an accept-only node. */
  readonly address?: string;
  /** The HTTP API's base URL, without a trailing slash. */
  readonly api?: string;
}

/** A parsed, checked cluster file. */
export interface ClusterFile {
  readonly clusterId: string;
  readonly validators: readonly ValidatorEntry[];
  /** Shared `BftConfig` figures, checked by the engine when a node starts. */
  readonly consensus: Readonly<Record<string, unknown>>;
}

/** A cluster file that cannot be used; the message names the file and the field. */
export class ClusterFileError extends Error {
  override readonly name = 'ClusterFileError';
  readonly file: string;
  /** The field at fault, as a path (`validators[2].publicKey`); '' for the file as a whole. */
  readonly field: string;

  constructor(file: string, field: string, detail: string, options?: ErrorOptions) {
    super(`cluster file ${file}: ${field === '' ? '' : `${field}: `}${detail}`, options);
    this.file = file;
    this.field = field;
  }
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RAW_KEY_HEX = new RegExp(`^[0-9a-fA-F]{${2 * mlDsa87.publicKeyBytes}}$`);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a public key written as SPKI PEM or as raw hex. */
export function parsePublicKey(text: string): PublicKey {
  const trimmed = text.trim();
  if (RAW_KEY_HEX.test(trimmed)) return mlDsa87.importPublicKey(new Uint8Array(Buffer.from(trimmed, 'hex')));
  return importPublicKeyPem(trimmed.includes('\n') ? `${trimmed}\n` : trimmed);
}

/**
 * `host:port` in one spelling per address, to find two validators at the same place: IP
 * literals as the OS writes them (`[0:0::1]:7100` is `[::1]:7100`; an IPv4-mapped IPv6 address
 * is its IPv4 address; an IPv6 zone is kept as written), the port as a number. DNS names are
 * compared as written, only lower-cased and without a final dot: two names that resolve to one
 * address are not found, since resolving them here would make the check depend on the resolver
 * at the moment the file is read.
 */
export function normalizePeerAddress(address: PeerAddress): string {
  const { host, port } = address;
  const family = isIP(host);
  if (family === 4) return `${new SocketAddress({ address: host }).address}:${port}`;
  if (family === 6) {
    const zoneAt = host.indexOf('%');
    const zone = zoneAt < 0 ? '' : host.slice(zoneAt);
    const ip = new SocketAddress({ address: zoneAt < 0 ? host : host.slice(0, zoneAt), family: 'ipv6' })
      .address;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
    if (mapped !== null && zone === '') return `${mapped[1]}:${port}`;
    return `[${ip}${zone}]:${port}`;
  }
  return `${host.toLowerCase().replace(/\.$/, '')}:${port}`;
}

/** Parses the text of a cluster file; `file` names it in errors. */
export function parseClusterFile(text: string, file: string): ClusterFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ClusterFileError(file, '', `not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(json)) throw new ClusterFileError(file, '', 'must hold a JSON object');
  const known = new Set(['format', 'clusterId', 'validators', 'consensus']);
  for (const key of Object.keys(json))
    if (!known.has(key)) throw new ClusterFileError(file, key, 'is not a field of a cluster file');
  if (json.format !== undefined && json.format !== CLUSTER_FILE_FORMAT) {
    throw new ClusterFileError(
      file,
      'format',
      `is ${JSON.stringify(json.format)}; this release reads ${CLUSTER_FILE_FORMAT}`,
    );
  }
  const clusterId = json.clusterId;
  if (typeof clusterId !== 'string' || clusterId.length === 0 || Buffer.byteLength(clusterId) > 64) {
    throw new ClusterFileError(file, 'clusterId', 'must be a string of 1 to 64 bytes');
  }
  if (!Array.isArray(json.validators) || json.validators.length === 0) {
    throw new ClusterFileError(file, 'validators', 'must be a non-empty list');
  }
  // Each validator's id, key (raw, as hex) and normalized address, to the first entry that has
  // it, named as `validators[1] (node-1)`.
  const ids = new Map<string, string>();
  const keys = new Map<string, string>();
  const addresses = new Map<string, { readonly named: string; readonly written: string }>();
  const validators = json.validators.map((entry: unknown, i: number): ValidatorEntry => {
    const at = `validators[${i}]`;
    if (!isObject(entry)) throw new ClusterFileError(file, at, 'must be an object');
    for (const key of Object.keys(entry))
      if (!['nodeId', 'publicKey', 'address', 'api'].includes(key))
        throw new ClusterFileError(file, `${at}.${key}`, 'is not a field of a validator');
    const { nodeId, publicKey, address, api } = entry;
    if (typeof nodeId !== 'string' || !NODE_ID.test(nodeId)) {
      throw new ClusterFileError(
        file,
        `${at}.nodeId`,
        'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    const sameId = ids.get(nodeId);
    if (sameId !== undefined) {
      throw new ClusterFileError(
        file,
        `${at}.nodeId`,
        `the same node id as ${sameId}: every validator needs its own id`,
      );
    }
    const named = `${at} (${nodeId})`;
    ids.set(nodeId, named);
    if (typeof publicKey !== 'string') {
      throw new ClusterFileError(file, `${at}.publicKey`, 'must be a PEM public key or 5,184 hex digits');
    }
    let key: PublicKey;
    try {
      key = parsePublicKey(publicKey);
    } catch (error) {
      throw new ClusterFileError(
        file,
        `${at}.publicKey`,
        `is not an ML-DSA-87 public key (${(error as Error).message})`,
        { cause: error },
      );
    }
    const keyHex = toHex(key.raw);
    const sameKey = keys.get(keyHex);
    if (sameKey !== undefined) {
      throw new ClusterFileError(
        file,
        `${at}.publicKey`,
        `the same key as ${sameKey}: every validator needs its own key`,
      );
    }
    keys.set(keyHex, named);
    if (address !== undefined) {
      if (typeof address !== 'string') throw new ClusterFileError(file, `${at}.address`, 'must be host:port');
      let parsed: PeerAddress;
      try {
        parsed = parsePeerAddress(address);
      } catch (error) {
        throw new ClusterFileError(file, `${at}.address`, (error as Error).message, { cause: error });
      }
      const normalized = normalizePeerAddress(parsed);
      const sameAddress = addresses.get(normalized);
      if (sameAddress !== undefined) {
        const place =
          sameAddress.written === address ? address : `${address} and ${sameAddress.written} are one place`;
        throw new ClusterFileError(
          file,
          `${at}.address`,
          `the same address as ${sameAddress.named} (${place}): every validator needs its own address`,
        );
      }
      addresses.set(normalized, { named, written: address });
    }
    if (api !== undefined) {
      let url: URL | null = null;
      try {
        url = typeof api === 'string' ? new URL(api) : null;
      } catch {
        url = null;
      }
      if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw new ClusterFileError(file, `${at}.api`, 'must be an http:// or https:// URL');
      }
    }
    return Object.freeze({
      nodeId,
      publicKey: key,
      ...(address === undefined ? {} : { address: address as string }),
      ...(api === undefined ? {} : { api: (api as string).replace(/\/+$/, '') }),
    });
  });
  const consensus = json.consensus ?? {};
  if (!isObject(consensus)) throw new ClusterFileError(file, 'consensus', 'must be an object');
  return Object.freeze({
    clusterId,
    validators: Object.freeze(validators),
    consensus: Object.freeze(consensus),
  });
}

/**
 * Reads and parses a cluster file.
 *
 * @throws ClusterFileError naming the file and the field, also when the file cannot be read.
 */
export function loadClusterFile(file: string): ClusterFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ClusterFileError(
      file,
      '',
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`,
      {
        cause: error,
      },
    );
  }
  return parseClusterFile(text, file);
}

/** The JSON text of a cluster file (public keys as PEM). */
export function formatClusterFile(cluster: ClusterFile): string {
  return `${JSON.stringify(
    {
      format: CLUSTER_FILE_FORMAT,
      clusterId: cluster.clusterId,
      validators: cluster.validators.map((validator) => ({
        nodeId: validator.nodeId,
        publicKey: exportPublicKeyPem(validator.publicKey),
        ...(validator.address === undefined ? {} : { address: validator.address }),
        ...(validator.api === undefined ? {} : { api: validator.api }),
      })),
      ...(Object.keys(cluster.consensus).length === 0 ? {} : { consensus: cluster.consensus }),
    },
    null,
    2,
  )}\n`;
}
