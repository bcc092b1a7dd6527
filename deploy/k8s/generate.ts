/**
 * Generates a kustomize base for a cretoai-node cluster of N validators in Kubernetes:
 * ML-DSA-87 keys (one Secret per node), the cluster file and each node's configuration
 * (a ConfigMap), a StatefulSet with a volume per node, a headless Service for peer DNS, a
 * client Service, a PodDisruptionBudget that lets at most f = floor((N-1)/3) nodes go at
 * once, and a ServiceMonitor.
 *
 *   node deploy/k8s/generate.ts --nodes 4 --out deploy/k8s/base [--namespace cretoai]
 *        [--image cretoai-node:0.1.0] [--cluster-id cretoai-prod] [--force]
 *   kubectl apply -k deploy/k8s/base
 *
 * Manifests are written as JSON (YAML is a superset of JSON; kubectl and kustomize read
 * them). The Secret files hold private keys: keep them out of version control.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportPrivateKeyPem, exportPublicKeyPem, mlDsa87 } from '../../src/crypto/index.ts';

export const APP = 'cretoai-node';
export const CONSENSUS_PORT = 7000;
export const HTTP_PORT = 8080;
export const DATA_DIR = '/var/lib/cretoai';
export const CONFIG_DIR = '/etc/cretoai/config';
export const KEY_DIR = '/etc/cretoai/keys';

export interface GenerateOptions {
  readonly nodes: number;
  readonly name?: string;
  readonly namespace?: string;
  readonly image?: string;
  readonly clusterId?: string;
  /** PEM keys per node; generated when absent. */
  readonly keys?: readonly { readonly privatePem: string; readonly publicPem: string }[];
}

type Manifest = Record<string, unknown>;

/** f for n validators: the most faulty nodes PBFT tolerates. */
export function faultsTolerated(n: number): number {
  return Math.floor((n - 1) / 3);
}

/** file name -> manifest, kustomization.yaml included. */
export function generateManifests(options: GenerateOptions): Map<string, Manifest> {
  const n = options.nodes;
  if (!Number.isSafeInteger(n) || n < 4 || n > 100)
    throw new Error(`--nodes must be an integer in [4, 100], got ${n}`);
  const name = options.name ?? 'cretoai';
  const namespace = options.namespace ?? 'cretoai';
  const image = options.image ?? 'cretoai-node:0.1.0';
  const clusterId = options.clusterId ?? `${namespace}-${name}`;
  const peers = `${name}-peers`;
  const f = faultsTolerated(n);
  const ids = Array.from({ length: n }, (_, i) => `${name}-${i}`);
  const keys =
    options.keys ??
    ids.map(() => {
      const pair = mlDsa87.generateKeyPair();
      return {
        privatePem: exportPrivateKeyPem(pair.privateKey),
        publicPem: exportPublicKeyPem(pair.publicKey),
      };
    });
  if (keys.length !== n) throw new Error(`${keys.length} keys for ${n} nodes`);

  const labels = { 'app.kubernetes.io/name': APP, 'app.kubernetes.io/instance': name };
  const meta = (metaName: string, extra: Record<string, unknown> = {}) => ({
    name: metaName,
    namespace,
    labels: { ...labels, 'app.kubernetes.io/part-of': 'cretoai-consensus' },
    ...extra,
  });

  const cluster = {
    format: 'cretoai-cluster/v1',
    clusterId,
    validators: ids.map((id, i) => ({
      nodeId: id,
      publicKey: keys[i]?.publicPem,
      // The pod's DNS name under the headless Service, resolved again before every dial.
      address: `${id}.${peers}.${namespace}.svc.cluster.local:${CONSENSUS_PORT}`,
      api: `http://${id}.${peers}.${namespace}.svc.cluster.local:${HTTP_PORT}`,
    })),
  };
  const configData: Record<string, string> = { 'cluster.json': `${JSON.stringify(cluster, null, 2)}\n` };
  for (const id of ids) {
    configData[`${id}.json`] = `${JSON.stringify(
      {
        nodeId: id,
        cluster: 'cluster.json',
        privateKey: `${KEY_DIR}/${id}.key.pem`,
        dataDir: `${DATA_DIR}/data`,
        listen: `0.0.0.0:${CONSENSUS_PORT}`,
        http: { listen: `0.0.0.0:${HTTP_PORT}` },
      },
      null,
      2,
    )}\n`;
  }

  const files = new Map<string, Manifest>();
  files.set('configmap.json', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(`${name}-config`),
    data: configData,
  });
  ids.forEach((id, i) => {
    files.set(`secret-${id}.json`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(`${id}-key`),
      type: 'Opaque',
      stringData: { 'key.pem': keys[i]?.privatePem },
    });
  });
  files.set('service-peers.json', {
    apiVersion: 'v1',
    kind: 'Service',
    // The ServiceMonitor selects this Service only, so each pod is scraped once, and also
    // while it is not ready (the client Service lists ready pods only).
    metadata: { ...meta(peers), labels: { ...meta(peers).labels, 'cretoai.dev/service': 'peers' } },
    spec: {
      clusterIP: 'None',
      // Peers must find each other before they are ready (a quorum needs them).
      publishNotReadyAddresses: true,
      selector: labels,
      ports: [
        { name: 'consensus', port: CONSENSUS_PORT, targetPort: 'consensus', protocol: 'TCP' },
        { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
      ],
    },
  });
  files.set('service-client.json', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { ...meta(name), labels: { ...meta(name).labels, 'cretoai.dev/service': 'client' } },
    spec: {
      type: 'ClusterIP',
      selector: labels,
      ports: [{ name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  });
  // Liveness on /healthz (the engine runs); readiness on /readyz, which also needs a quorum of
  // validators reachable: a pod that sees none takes vertices it cannot finalize, so the client
  // Service should route around it, while restarting it would not bring its peers back. The
  // peers Service publishes unready pods, so pods still find each other to form the quorum.
  const probe = (path: '/healthz' | '/readyz', failureThreshold: number, periodSeconds: number) => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  });
  files.set('statefulset.json', {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(name),
    spec: {
      serviceName: peers,
      replicas: n,
      // All at once: no node is ready before a quorum runs, so ordered start would deadlock.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: labels },
      template: {
        metadata: {
          labels,
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(HTTP_PORT),
            'prometheus.io/path': '/metrics',
          },
        },
        spec: {
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001 },
          containers: [
            {
              name: 'node',
              image,
              imagePullPolicy: 'IfNotPresent',
              args: ['start', '--config', `${CONFIG_DIR}/$(POD_NAME).json`],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [
                { name: 'consensus', containerPort: CONSENSUS_PORT, protocol: 'TCP' },
                { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
              ],
              readinessProbe: probe('/readyz', 3, 5),
              livenessProbe: { ...probe('/healthz', 6, 10), initialDelaySeconds: 20 },
              resources: {
                requests: { cpu: '500m', memory: '512Mi' },
                limits: { cpu: '2', memory: '2Gi' },
              },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
              volumeMounts: [
                { name: 'data', mountPath: DATA_DIR },
                { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                { name: 'keys', mountPath: KEY_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config` } },
            {
              // Each node's key is its own Secret; Kubernetes cannot give a StatefulSet pod
              // only its own, so every pod mounts all and the config names the one it uses.
              name: 'keys',
              projected: {
                defaultMode: 0o440,
                sources: ids.map((id) => ({
                  secret: { name: `${id}-key`, items: [{ key: 'key.pem', path: `${id}.key.pem` }] },
                })),
              },
            },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', labels },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
        },
      ],
    },
  });
  files.set('poddisruptionbudget.json', {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(name),
    spec: { maxUnavailable: f, selector: { matchLabels: labels } },
  });
  files.set('servicemonitor.json', {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: meta(name),
    spec: {
      selector: { matchLabels: { ...labels, 'cretoai.dev/service': 'peers' } },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port: 'http', path: '/metrics', interval: '15s' }],
    },
  });
  files.set('kustomization.yaml', {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    namespace,
    resources: [...files.keys()].sort(),
  });
  return files;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      out: { type: 'string' },
      namespace: { type: 'string' },
      name: { type: 'string' },
      image: { type: 'string' },
      'cluster-id': { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  if (values.out === undefined) throw new Error('--out <dir> is required');
  const out = values.out;
  if (fs.existsSync(path.join(out, 'kustomization.yaml')) && !values.force) {
    throw new Error(`${out} already holds a kustomization (keys!); pass --force to overwrite`);
  }
  const files = generateManifests({
    nodes: Number(values.nodes),
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values.image === undefined ? {} : { image: values.image }),
    ...(values['cluster-id'] === undefined ? {} : { clusterId: values['cluster-id'] }),
  });
  fs.mkdirSync(out, { recursive: true });
  for (const [file, manifest] of files) {
    fs.writeFileSync(path.join(out, file), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: file.startsWith('secret-') ? 0o600 : 0o644,
    });
  }
  const n = Number(values.nodes);
  process.stdout.write(
    `wrote ${files.size} files for ${n} nodes (f = ${faultsTolerated(n)}, PDB maxUnavailable ${faultsTolerated(n)}) to ${out}\n` +
      `apply with: kubectl apply -k ${out}\n`,
  );
}

if (import.meta.main) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`generate: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
