/**
 * deploy/k8s: the generator's manifests for 4 and 7 nodes validate offline and strictly against
 * schemas generated from the upstream APIs, and hang together: replicas = N, the PDB lets f go,
 * liveness on /healthz and readiness on /readyz, selectors match the pod labels, the peer Service is headless, every node's
 * config, key and address line up, and the node loads its config as generated.
 *
 * The schemas. Each Kubernetes kind is checked by the validator that the `kubernetes-models`
 * package (v5, Kubernetes v1.36) generates from the upstream Kubernetes OpenAPI spec and compiles
 * ahead of time with ajv; the ServiceMonitor by the one `@kubernetes-models/prometheus-operator`
 * generates from the Prometheus Operator's API types, the source its CRD schema is generated
 * from. They arrive with `npm ci`; nothing is fetched at test time. kubeconform reads the JSON
 * schema files of yannh/kubernetes-json-schema instead, made from the same OpenAPI spec by
 * openapi2jsonschema; we found no npm package that ships those files or the raw swagger.json,
 * and copying them in from GitHub would add a second source to keep up to date by hand, so the
 * generated validators are the closest to kubeconform that npm offers. They check types,
 * required fields, formats (int32, quantity, int-or-string), patterns and enums where the schema
 * declares them.
 *
 * Strictness. The generated validators, like the upstream schemas, ignore fields they do not
 * declare, so a typo such as `replica: 4` would pass. `kubeconform -strict` rejects it (its strict
 * schemas set additionalProperties: false on the objects that declare properties), and so
 * does `kubectl apply --validate=strict`. The same rule is applied here without a second copy of
 * the schemas, by watching the validator: the manifest is validated through Proxies that record
 * which keys the generated code looks up. ajv's code looks up every property an object's schema
 * declares, and enumerates the keys of a map (labels, annotations, ConfigMap data, resource
 * requests) to check each value. So in an object whose keys were looked up but not enumerated,
 * a key that was never looked up is one its schema does not declare: an unknown field. Objects
 * the validator never looks into (free-form fields such as RawExtension) stay open, as they do in
 * kubeconform. One leniency: a key looked up by a oneOf or anyOf branch that failed counts as
 * declared; in these packages only int-or-string and quantity have such branches, and both are
 * scalars.
 *
 * The Kustomization has no Kubernetes API schema (no API server serves it), and no npm package
 * ships kustomize's own (SchemaStore's is published only as TypeScript types), so it alone is
 * checked by hand, as kustomize reads it: apiVersion and kind, the types of the fields the
 * generator writes, and no field kustomize's Kustomization type lacks (kustomize decodes the file
 * with unknown fields disallowed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { faultsTolerated, generateManifests, HTTP_PORT } from '../../deploy/k8s/generate.ts';

const root = path.join(import.meta.dirname, '../..');

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as loosely typed JSON
type Obj = Record<string, any>;

/** One reason a manifest does not validate; `path` is a JSON pointer into the manifest. */
interface SchemaError {
  readonly path: string;
  /** The ajv keyword that failed (`type`, `required`, `enum`, ...), or `unknown-field`. */
  readonly keyword: string;
  readonly message: string;
}

/**
 * The generated models, by `apiVersion/kind`. A model's `validate()` runs the generated
 * validator on `this`; it is called with a watched manifest as `this` (see validateManifest), as
 * constructing the model would copy the manifest and so look up every key.
 */
const MODELS: Record<string, { readonly prototype: { validate(): void } }> = {
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/** The fields of kustomize's `types.Kustomization` (api/types/kustomization.go). */
const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'openapi',
  'namePrefix',
  'nameSuffix',
  'namespace',
  'commonLabels',
  'labels',
  'commonAnnotations',
  'patchesStrategicMerge',
  'patchesJson6902',
  'patches',
  'images',
  'imageTags',
  'replacements',
  'replicas',
  'vars',
  'sortOptions',
  'resources',
  'components',
  'crds',
  'bases',
  'configMapGenerator',
  'secretGenerator',
  'helmGlobals',
  'helmCharts',
  'helmChartInflationGenerator',
  'generatorOptions',
  'configurations',
  'generators',
  'transformers',
  'validators',
  'buildMetadata',
]);

/** What the validator did with one object of the manifest. */
interface Lookups {
  readonly path: string;
  readonly keys: readonly string[];
  readonly looked: Set<string>;
  enumerated: boolean;
}

/** A key as a JSON pointer segment, as ajv writes it in `instancePath`. */
const pointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/** A copy of `value` whose objects record, in `log`, the keys the validator looks up. */
function watched(value: unknown, at: string, log: Lookups[]): unknown {
  if (Array.isArray(value)) return value.map((item, i) => watched(item, `${at}/${i}`, log));
  if (value === null || typeof value !== 'object') return value;
  const entry: Lookups = { path: at, keys: Object.keys(value), looked: new Set(), enumerated: false };
  log.push(entry);
  const copy = Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, watched(child, `${at}/${pointer(key)}`, log)]),
  );
  const look = (key: string | symbol) => {
    if (typeof key === 'string') entry.looked.add(key);
  };
  return new Proxy(copy, {
    get: (target, key, receiver) => {
      look(key);
      return Reflect.get(target, key, receiver);
    },
    has: (target, key) => {
      look(key);
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor: (target, key) => {
      look(key);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys: (target) => {
      entry.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

interface AjvError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

function fromAjv(e: AjvError): SchemaError {
  // A missing field is reported where it belongs, not at the object that lacks it.
  if (e.keyword === 'required')
    return {
      path: `${e.instancePath}/${e.params.missingProperty}`,
      keyword: e.keyword,
      message: 'is required',
    };
  const allowed = e.keyword === 'enum' ? `: ${(e.params.allowedValues as unknown[]).join(', ')}` : '';
  return { path: e.instancePath || '/', keyword: e.keyword, message: `${e.message ?? e.keyword}${allowed}` };
}

function validateKustomization(k: Obj): SchemaError[] {
  const errors: SchemaError[] = [];
  for (const key of Object.keys(k))
    if (!KUSTOMIZATION_FIELDS.has(key))
      errors.push({
        path: `/${pointer(key)}`,
        keyword: 'unknown-field',
        message: 'is not a Kustomization field',
      });
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization')
    errors.push({
      path: '/',
      keyword: 'kind',
      message: 'is not a kustomize.config.k8s.io/v1beta1 Kustomization',
    });
  if (k.namespace !== undefined && typeof k.namespace !== 'string')
    errors.push({ path: '/namespace', keyword: 'type', message: 'must be string' });
  if (!Array.isArray(k.resources))
    errors.push({ path: '/resources', keyword: 'type', message: 'must be array' });
  else
    k.resources.forEach((r: unknown, i: number) => {
      if (typeof r !== 'string')
        errors.push({ path: `/resources/${i}`, keyword: 'type', message: 'must be string' });
    });
  return errors;
}

/**
 * Validates a manifest as `kubeconform -strict` would: against the generated schema of its
 * apiVersion and kind (none is an error, not a skip), with unknown fields rejected.
 */
function validateManifest(manifest: Obj): SchemaError[] {
  const kind = `${manifest.apiVersion}/${manifest.kind}`;
  if (kind === 'kustomize.config.k8s.io/v1beta1/Kustomization') return validateKustomization(manifest);
  const model = MODELS[kind];
  if (!model) return [{ path: '/', keyword: 'schema', message: `no schema for ${kind}` }];
  const log: Lookups[] = [];
  const errors: SchemaError[] = [];
  try {
    model.prototype.validate.call(watched(manifest, '', log));
  } catch (error) {
    const found = (error as { errors?: AjvError[] }).errors;
    if (!Array.isArray(found)) throw error;
    errors.push(...found.map(fromAjv));
  }
  for (const entry of log) {
    // A map (its keys enumerated) or an object the schema leaves free-form (never looked into).
    if (entry.enumerated || entry.looked.size === 0) continue;
    for (const key of entry.keys)
      if (!entry.looked.has(key))
        errors.push({
          path: `${entry.path}/${pointer(key)}`,
          keyword: 'unknown-field',
          message: 'is an unknown field: the schema of its object does not declare it',
        });
  }
  return errors;
}

const describeErrors = (errors: readonly SchemaError[]) =>
  errors.map((e) => `${e.path} ${e.message} (${e.keyword})`).join('; ');

function generateInto(nodes: number): { dir: string; files: Map<string, Obj> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cretoai-k8s-${nodes}-`));
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'deploy/k8s/generate.ts'), '--nodes', String(nodes), '--out', dir],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`f = ${faultsTolerated(nodes)}`));
  const files = new Map<string, Obj>();
  for (const f of fs.readdirSync(dir)) files.set(f, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
  return { dir, files };
}

function byKind(files: Map<string, Obj>, kind: string): Obj[] {
  return [...files.values()].filter((m) => m.kind === kind);
}

function subset(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe('deploy/k8s', () => {
  describe('the strict schema check rejects', () => {
    // Keys are not checked by the schemas, so placeholders keep these cases fast.
    const base = generateManifests({
      nodes: 4,
      keys: Array.from({ length: 4 }, () => ({ privatePem: 'private', publicPem: 'public' })),
    });
    const container = '/spec/template/spec/containers/0';
    const cases: readonly {
      readonly claim: string;
      readonly file: string;
      readonly mutate: (m: Obj) => void;
      readonly path: string;
      readonly keyword: string;
    }[] = [
      {
        claim: 'an unknown field (a typo of replicas)',
        file: 'statefulset.json',
        mutate: (m) => {
          m.spec.replica = 4;
        },
        path: '/spec/replica',
        keyword: 'unknown-field',
      },
      {
        claim: 'an unknown field deep in the pod template',
        file: 'statefulset.json',
        mutate: (m) => {
          m.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
        },
        path: `${container}/imagePullPolicyy`,
        keyword: 'unknown-field',
      },
      {
        claim: 'a wrong type (replicas as a string)',
        file: 'statefulset.json',
        mutate: (m) => {
          m.spec.replicas = '4';
        },
        path: '/spec/replicas',
        keyword: 'type',
      },
      {
        claim: 'a missing required field (the container name)',
        file: 'statefulset.json',
        mutate: (m) => {
          delete m.spec.template.spec.containers[0].name;
        },
        path: `${container}/name`,
        keyword: 'required',
      },
      {
        claim: 'a value outside an enum (imagePullPolicy)',
        file: 'statefulset.json',
        mutate: (m) => {
          m.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
        },
        path: `${container}/imagePullPolicy`,
        keyword: 'enum',
      },
      {
        claim: 'a value outside an enum (podManagementPolicy)',
        file: 'statefulset.json',
        mutate: (m) => {
          m.spec.podManagementPolicy = 'Ordered';
        },
        path: '/spec/podManagementPolicy',
        keyword: 'enum',
      },
      {
        claim: 'a malformed quantity (memory request)',
        file: 'statefulset.json',
        mutate: (m) => {
          m.spec.template.spec.containers[0].resources.requests.memory = '512 MB';
        },
        path: `${container}/resources/requests/memory`,
        keyword: 'format',
      },
      {
        claim: 'a non-string value in a string map (ConfigMap data)',
        file: 'configmap.json',
        mutate: (m) => {
          m.data['cluster.json'] = 42;
        },
        path: '/data/cluster.json',
        keyword: 'type',
      },
      {
        claim: 'a Service type outside its enum',
        file: 'service-client.json',
        mutate: (m) => {
          m.spec.type = 'Headless';
        },
        path: '/spec/type',
        keyword: 'enum',
      },
      {
        claim: 'an int-or-string that is neither (maxUnavailable 1.5)',
        file: 'poddisruptionbudget.json',
        mutate: (m) => {
          m.spec.maxUnavailable = 1.5;
        },
        path: '/spec/maxUnavailable',
        keyword: 'oneOf',
      },
      {
        claim: 'an unknown field in a Secret (stringdata for stringData)',
        file: 'secret-cretoai-0.json',
        mutate: (m) => {
          m.stringdata = m.stringData;
          delete m.stringData;
        },
        path: '/stringdata',
        keyword: 'unknown-field',
      },
      {
        claim: 'an unknown field in a ServiceMonitor endpoint',
        file: 'servicemonitor.json',
        mutate: (m) => {
          m.spec.endpoints[0].intervall = '15s';
        },
        path: '/spec/endpoints/0/intervall',
        keyword: 'unknown-field',
      },
      {
        claim: 'a ServiceMonitor interval that is not a Prometheus duration',
        file: 'servicemonitor.json',
        mutate: (m) => {
          m.spec.endpoints[0].interval = '15 seconds';
        },
        path: '/spec/endpoints/0/interval',
        keyword: 'pattern',
      },
      {
        claim: 'an apiVersion with no schema (a kind is never skipped)',
        file: 'poddisruptionbudget.json',
        mutate: (m) => {
          m.apiVersion = 'policy/v1beta1';
        },
        path: '/',
        keyword: 'schema',
      },
      {
        claim: 'an unknown Kustomization field',
        file: 'kustomization.yaml',
        mutate: (m) => {
          m.resource = m.resources;
        },
        path: '/resource',
        keyword: 'unknown-field',
      },
      {
        claim: 'a Kustomization resource that is not a path',
        file: 'kustomization.yaml',
        mutate: (m) => {
          m.resources.push({ path: 'x.json' });
        },
        path: `/resources/${base.size - 1}`,
        keyword: 'type',
      },
    ];
    for (const c of cases) {
      test(`${c.claim}: ${c.file} ${c.path}`, () => {
        const manifest = structuredClone(base.get(c.file)) as Obj;
        assert.deepEqual(validateManifest(manifest), [], 'valid before the mutation');
        c.mutate(manifest);
        const errors = validateManifest(manifest);
        assert.ok(
          errors.some((e) => e.path === c.path && e.keyword === c.keyword),
          `expected ${c.keyword} at ${c.path}, got: ${describeErrors(errors)}`,
        );
      });
    }
  });

  for (const nodes of [4, 7]) {
    describe(`generate.ts --nodes ${nodes}`, () => {
      const { dir, files } = generateInto(nodes);
      const f = faultsTolerated(nodes);
      after(() => fs.rmSync(dir, { recursive: true, force: true }));

      test('every manifest validates strictly against its generated schema', () => {
        for (const [file, manifest] of files) {
          const errors = validateManifest(manifest);
          assert.deepEqual(errors, [], `${file}: ${describeErrors(errors)}`);
        }
      });

      test('the kustomization lists every other file, and every kind is there', () => {
        const k = files.get('kustomization.yaml') as Obj;
        assert.deepEqual(
          [...k.resources].sort(),
          [...files.keys()].filter((x) => x !== 'kustomization.yaml').sort(),
        );
        for (const kind of [
          'StatefulSet',
          'Service',
          'ConfigMap',
          'Secret',
          'PodDisruptionBudget',
          'ServiceMonitor',
        ])
          assert.ok(byKind(files, kind).length > 0, kind);
        assert.equal(byKind(files, 'Secret').length, nodes, 'one Secret per node');
      });

      test(`replicas = ${nodes}; PodDisruptionBudget maxUnavailable = f = ${f}`, () => {
        const [sts] = byKind(files, 'StatefulSet') as [Obj];
        assert.equal(sts.spec.replicas, nodes);
        const [pdb] = byKind(files, 'PodDisruptionBudget') as [Obj];
        assert.equal(pdb.spec.maxUnavailable, f);
        assert.equal(f, nodes === 4 ? 1 : 2);
      });

      test('selectors match the pod labels; the peer Service is headless and is the serviceName', () => {
        const [sts] = byKind(files, 'StatefulSet') as [Obj];
        const podLabels = sts.spec.template.metadata.labels;
        assert.ok(subset(sts.spec.selector.matchLabels, podLabels));
        const [pdb] = byKind(files, 'PodDisruptionBudget') as [Obj];
        assert.ok(subset(pdb.spec.selector.matchLabels, podLabels));
        const services = byKind(files, 'Service');
        for (const s of services) assert.ok(subset(s.spec.selector, podLabels), s.metadata.name);
        const peers = services.find((s) => s.metadata.name === sts.spec.serviceName) as Obj;
        assert.ok(peers, 'serviceName names a Service');
        assert.equal(peers.spec.clusterIP, 'None');
        const [monitor] = byKind(files, 'ServiceMonitor') as [Obj];
        const monitored = services.filter((s) =>
          subset(monitor.spec.selector.matchLabels, s.metadata.labels),
        );
        assert.equal(monitored.length, 1, 'the ServiceMonitor selects exactly one Service');
        assert.equal(
          (monitored[0] as Obj).spec.publishNotReadyAddresses,
          true,
          'unready pods are scraped too',
        );
        assert.ok(
          (monitored[0] as Obj).spec.ports.some((p: Obj) => p.name === monitor.spec.endpoints[0].port),
        );
      });

      test('liveness on /healthz, readiness (quorum) on /readyz, at the http port; resources; scrape annotations; a volume per pod', () => {
        const [sts] = byKind(files, 'StatefulSet') as [Obj];
        const [c] = sts.spec.template.spec.containers as [Obj];
        assert.equal(c.livenessProbe.httpGet.path, '/healthz');
        assert.equal(c.readinessProbe.httpGet.path, '/readyz');
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          assert.ok(c.ports.some((p: Obj) => p.name === probe.httpGet.port && p.containerPort === HTTP_PORT));
        }
        assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
        const a = sts.spec.template.metadata.annotations;
        assert.equal(a['prometheus.io/scrape'], 'true');
        assert.equal(a['prometheus.io/port'], String(HTTP_PORT));
        assert.equal(a['prometheus.io/path'], '/metrics');
        assert.equal(sts.spec.volumeClaimTemplates[0].metadata.name, 'data');
        const mounts = c.volumeMounts.map((m: Obj) => m.name);
        const volumes = [...sts.spec.template.spec.volumes.map((v: Obj) => v.name), 'data'];
        for (const m of mounts) assert.ok(volumes.includes(m), `mount ${m} has a volume`);
        assert.equal(sts.spec.template.spec.securityContext.runAsNonRoot, true);
      });

      test('the cluster file, node configs, key Secrets and DNS names line up', () => {
        const [sts] = byKind(files, 'StatefulSet') as [Obj];
        const [cm] = byKind(files, 'ConfigMap') as [Obj];
        const cluster = JSON.parse(cm.data['cluster.json']);
        assert.equal(cluster.validators.length, nodes);
        const ns = sts.metadata.namespace;
        const keyVolume = sts.spec.template.spec.volumes.find((v: Obj) => v.name === 'keys');
        const projected = keyVolume.projected.sources.map((s: Obj) => s.secret.name);
        cluster.validators.forEach((v: Obj, i: number) => {
          const pod = `${sts.metadata.name}-${i}`;
          assert.equal(v.nodeId, pod, 'node id = pod name (the config is picked by $(POD_NAME))');
          assert.ok(v.address.startsWith(`${pod}.${sts.spec.serviceName}.${ns}.svc`), v.address);
          const config = JSON.parse(cm.data[`${pod}.json`]);
          assert.equal(config.nodeId, pod);
          const secret = byKind(files, 'Secret').find((s) => s.metadata.name === `${pod}-key`) as Obj;
          assert.match(secret.stringData['key.pem'], /BEGIN PRIVATE KEY/);
          assert.ok(projected.includes(`${pod}-key`));
          assert.equal(path.basename(config.privateKey), `${pod}.key.pem`);
        });
      });

      test('a generated node config loads, with its key, as the node would load it', async () => {
        const { loadNodeSettings } = await import('../../src/node/config.ts');
        const [cm] = byKind(files, 'ConfigMap') as [Obj];
        const pod = 'cretoai-1';
        const work = fs.mkdtempSync(path.join(dir, 'pod-'));
        fs.writeFileSync(path.join(work, 'cluster.json'), cm.data['cluster.json']);
        const config = JSON.parse(cm.data[`${pod}.json`]);
        const secret = files.get(`secret-${pod}.json`) as Obj;
        fs.writeFileSync(path.join(work, 'key.pem'), secret.stringData['key.pem'], { mode: 0o600 });
        config.privateKey = 'key.pem'; // mounted at /etc/cretoai/keys in the pod
        config.dataDir = 'data';
        fs.writeFileSync(path.join(work, `${pod}.json`), JSON.stringify(config));
        const settings = loadNodeSettings(path.join(work, `${pod}.json`));
        assert.equal(settings.nodeId, pod);
        assert.equal(settings.replica, 1);
        assert.equal(settings.http.listen.port, HTTP_PORT);
      });

      test('secrets are written owner-only; the generator refuses to overwrite keys', () => {
        assert.equal(fs.statSync(path.join(dir, 'secret-cretoai-0.json')).mode & 0o077, 0);
        const r = spawnSync(
          process.execPath,
          [path.join(root, 'deploy/k8s/generate.ts'), '--nodes', '4', '--out', dir],
          {
            encoding: 'utf8',
          },
        );
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /--force/);
      });
    });
  }

  test('generateManifests refuses fewer than 4 nodes', () => {
    assert.throws(() => generateManifests({ nodes: 3 }), /\[4, 100\]/);
  });
});
