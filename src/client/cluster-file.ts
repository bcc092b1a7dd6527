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
 *   "consensus": { "checkpointInterval": 16 },
 *   "operators": { "keys": ["-----BEGIN PUBLIC KEY-----\n..."], "threshold": 1 }
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
 * - `operators`: the ML-DSA-87 keys that may change the validators, and how many of them must
 *   sign a change (docs/reconfiguration.md); optional. Without it nobody can. An operator key
 *   must not be a validator's key, so that no validator holds a share of that power by itself.
 * - Every validator needs its own node id, public key and address: a key listed twice would let
 *   its holder cast two votes (2 of 4 with n = 4, breaking the f < n/3 assumption), and two
 *   validators at one address would be dialed at the same place. Such a file is refused.
 *
 * It lives in `src/client` because clients read it for the validators' keys; the node and the
 * CLI read it through this module too.
 */

import { isIP, SocketAddress } from 'node:net';
import * as z from 'zod';
import { exportPublicKeyPem, importPublicKeyPem, mlDsa87, type PublicKey, toHex } from '../crypto/index.ts';
import { engineFiguresSchema } from '../engine/config-schema.ts';
import { CretoaiError } from '../errors.ts';
import { type PeerAddress, parsePeerAddress } from '../transport/discovery.ts';
import { checkAgainst, jsonSchemaText, parseJsonObject, readJsonObject } from './schema-file.ts';

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

/** The keys that may change the validator set, and how many must sign a change. */
export interface OperatorSet {
  readonly keys: readonly PublicKey[];
  /** Distinct operator signatures a reconfiguration request needs: 1 to `keys.length`. */
  readonly threshold: number;
}

/** A parsed, checked cluster file. */
export interface ClusterFile {
  readonly clusterId: string;
  readonly validators: readonly ValidatorEntry[];
  /** Shared `BftConfig` figures, checked by the engine when a node starts. */
  readonly consensus: Readonly<Record<string, unknown>>;
  /** Who may reconfigure; absent when nobody may. */
  readonly operators?: OperatorSet;
}

/** A cluster file that cannot be used; the message names the file and the field. */
export class ClusterFileError extends CretoaiError {
  readonly code = 'cluster-file';
  override readonly name = 'ClusterFileError';
  readonly file: string;
  /** The field at fault, as a path (`validators[2].publicKey`); '' for the file as a whole. */
  readonly field: string;
  /** What is wrong with the field. */
  readonly detail: string;

  constructor(file: string, field: string, detail: string, options?: ErrorOptions) {
    super(`cluster file ${file}: ${field === '' ? '' : `${field}: `}${detail}`, options);
    this.file = file;
    this.field = field;
    this.detail = detail;
  }
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RAW_KEY_HEX = new RegExp(`^[0-9a-fA-F]{${2 * mlDsa87.publicKeyBytes}}$`);

/** Whether `text` is an http:// or https:// URL. */
function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** One validator, as the cluster file and reconfiguration requests write it. */
export const validatorEntrySchema = z.strictObject({
  nodeId: z
    .string()
    .regex(NODE_ID, {
      error: 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    })
    .meta({ description: "The node's id; each validator has its own." }),
  publicKey: z
    .string({ error: 'must be a PEM public key or 5,184 hex digits' })
    .meta({ description: 'The ML-DSA-87 public key: SPKI PEM, or its raw 2,592 bytes as hex.' }),
  address: z
    .string({ error: 'must be host:port' })
    .optional()
    .meta({ description: 'host:port for consensus connections; without it the node is accept-only.' }),
  api: z
    .string()
    .refine(isHttpUrl, { error: 'must be an http:// or https:// URL' })
    .optional()
    .meta({ description: "The node's HTTP API base URL." }),
});

/** The operators, as the cluster file and reconfiguration requests write them. */
export const operatorSetSchema = z.strictObject({
  keys: z
    .array(z.string({ error: 'must be a PEM public key or 5,184 hex digits' }), {
      error: 'must be a non-empty list',
    })
    .min(1, { error: 'must be a non-empty list' })
    .meta({ description: "The operators' ML-DSA-87 public keys: SPKI PEM, or raw bytes as hex." }),
  threshold: z
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .meta({ description: 'How many distinct operators must sign a reconfiguration.' }),
});

/**
 * The shape of a cluster file. What needs more than one field (unique ids, keys and addresses)
 * or a parser of its own (keys, addresses) is checked by {@link parseClusterFile} after it.
 */
export const clusterFileSchema = z.strictObject({
  $schema: z.string().optional().meta({ description: "This file's JSON Schema, for editors." }),
  format: z
    .literal(CLUSTER_FILE_FORMAT, {
      error: (issue) => `is ${JSON.stringify(issue.input)}; this release reads ${CLUSTER_FILE_FORMAT}`,
    })
    .optional()
    .meta({ description: 'The format of this file.' }),
  clusterId: z
    .string({ error: 'must be a string of 1 to 64 bytes' })
    .refine((id) => id.length > 0 && Buffer.byteLength(id) <= 64, {
      error: 'must be a string of 1 to 64 bytes',
    })
    .meta({ description: 'Binds every signature to this cluster: 1 to 64 bytes of UTF-8.' }),
  validators: z
    .array(validatorEntrySchema, { error: 'must be a non-empty list' })
    .min(1, { error: 'must be a non-empty list' })
    .meta({ description: 'The validators in order: the leader of view v is validators[v mod n].' }),
  consensus: engineFiguresSchema.optional(),
  operators: operatorSetSchema
    .optional()
    .meta({ description: 'Who may change the validators (docs/reconfiguration.md); without it, nobody.' }),
});

/**
 * One validator entry as every reader builds it: the API URL without a trailing slash, absent
 * fields left out.
 */
export function validatorEntry(fields: {
  readonly nodeId: string;
  readonly publicKey: PublicKey;
  readonly address?: string | undefined;
  readonly api?: string | undefined;
}): ValidatorEntry {
  const { nodeId, publicKey, address, api } = fields;
  return Object.freeze({
    nodeId,
    publicKey,
    ...(address === undefined ? {} : { address }),
    ...(api === undefined ? {} : { api: api.replace(/\/+$/, '') }),
  });
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
  return checkClusterFile(
    parseJsonObject(text, (detail) => {
      throw new ClusterFileError(file, '', detail);
    }),
    file,
  );
}

/**
 * Checks a cluster file's JSON object; `file` names it in errors. Reconfiguration requests check
 * the epoch they propose with it, in the same shape.
 */
export function checkClusterFile(json: Record<string, unknown>, file: string): ClusterFile {
  const checked = checkAgainst(clusterFileSchema, json);
  if (!checked.ok) throw new ClusterFileError(file, checked.mistake.field, checked.mistake.detail);
  const { clusterId, consensus = {} } = checked.value;
  // Each validator's id, key (raw, as hex) and normalized address, to the first entry that has
  // it, named as `validators[1] (node-1)`.
  const ids = new Map<string, string>();
  const keys = new Map<string, string>();
  const addresses = new Map<string, { readonly named: string; readonly written: string }>();
  const validators = checked.value.validators.map((entry, i): ValidatorEntry => {
    const at = `validators[${i}]`;
    const { nodeId, publicKey, address, api } = entry;
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
    return validatorEntry({ nodeId, publicKey: key, address, api });
  });
  const operators =
    checked.value.operators === undefined ? undefined : checkOperators(checked.value.operators, keys, file);
  return Object.freeze({
    clusterId,
    validators: Object.freeze(validators),
    consensus: Object.freeze(consensus),
    ...(operators === undefined ? {} : { operators }),
  });
}

/** Parses the operator keys: each its own, none a validator's (`validatorKeys`: raw hex to name). */
function checkOperators(
  written: { readonly keys: readonly string[]; readonly threshold: number },
  validatorKeys: ReadonlyMap<string, string>,
  file: string,
): OperatorSet {
  const seen = new Map<string, number>();
  const keys = written.keys.map((text, i) => {
    const at = `operators.keys[${i}]`;
    let key: PublicKey;
    try {
      key = parsePublicKey(text);
    } catch (error) {
      throw new ClusterFileError(file, at, `is not an ML-DSA-87 public key (${(error as Error).message})`, {
        cause: error,
      });
    }
    const keyHex = toHex(key.raw);
    const validator = validatorKeys.get(keyHex);
    if (validator !== undefined) {
      throw new ClusterFileError(
        file,
        at,
        `the same key as ${validator}: an operator key must not be a validator's, or that validator could sign changes`,
      );
    }
    const same = seen.get(keyHex);
    if (same !== undefined) {
      throw new ClusterFileError(
        file,
        at,
        `the same key as operators.keys[${same}]: each operator needs its own key`,
      );
    }
    seen.set(keyHex, i);
    return key;
  });
  if (written.threshold > keys.length) {
    throw new ClusterFileError(
      file,
      'operators.threshold',
      `is ${written.threshold}, but there are only ${keys.length} operator keys`,
    );
  }
  return Object.freeze({ keys: Object.freeze(keys), threshold: written.threshold });
}

/**
 * Reads and parses a cluster file.
 *
 * @throws ClusterFileError naming the file and the field, also when the file cannot be read.
 */
export function loadClusterFile(file: string): ClusterFile {
  const json = readJsonObject(file, (detail, cause) => {
    throw new ClusterFileError(file, '', detail, cause === undefined ? undefined : { cause });
  });
  return checkClusterFile(json, file);
}

/** The JSON Schema of cluster files, as written to `schema/cluster.schema.json`. */
export function clusterFileJsonSchema(): string {
  return jsonSchemaText(clusterFileSchema, {
    title: 'cretoai-consensus cluster file',
    description: 'Who the validators of a cretoai-consensus cluster are (cretoai-node init writes it).',
  });
}

/** One validator as the cluster file writes it (the key as SPKI PEM). */
export function writtenValidator(validator: ValidatorEntry): Record<string, unknown> {
  return {
    nodeId: validator.nodeId,
    publicKey: exportPublicKeyPem(validator.publicKey),
    ...(validator.address === undefined ? {} : { address: validator.address }),
    ...(validator.api === undefined ? {} : { api: validator.api }),
  };
}

/** The operators as the cluster file writes them (keys as SPKI PEM). */
export function writtenOperators(operators: OperatorSet): Record<string, unknown> {
  return { keys: operators.keys.map((key) => exportPublicKeyPem(key)), threshold: operators.threshold };
}

/**
 * The members of a cluster as the cluster file writes them: validators, consensus figures (when
 * any) and operators (when any). Reconfiguration requests write the next epoch so too.
 */
export function writtenMembers(cluster: ClusterFile): Record<string, unknown> {
  return {
    validators: cluster.validators.map(writtenValidator),
    ...(Object.keys(cluster.consensus).length === 0 ? {} : { consensus: cluster.consensus }),
    ...(cluster.operators === undefined ? {} : { operators: writtenOperators(cluster.operators) }),
  };
}

/**
 * The JSON text of a cluster file (public keys as PEM).
 *
 * @param options.schema - where the file's JSON Schema is, relative to the file, for editors.
 */
export function formatClusterFile(cluster: ClusterFile, options: { readonly schema?: string } = {}): string {
  return `${JSON.stringify(
    {
      ...(options.schema === undefined ? {} : { $schema: options.schema }),
      format: CLUSTER_FILE_FORMAT,
      clusterId: cluster.clusterId,
      ...writtenMembers(cluster),
    },
    null,
    2,
  )}\n`;
}
