/**
 * deploy/k8s: the generator's manifests for 4 and 7 nodes validate offline against the JSON
 * schemas in deploy/k8s/schemas (hand-written subsets of the Kubernetes and Prometheus
 * Operator schemas, not the upstream files), and hang together: replicas = N, the PDB lets
 * f go, probes on /healthz, selectors match the pod labels, the peer Service is headless,
 * every node's config, key and address line up, and the node loads its config as generated.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { faultsTolerated, generateManifests, HTTP_PORT } from '../../deploy/k8s/generate.ts';
import { type Schema, validate } from './json-schema.ts';

const root = path.join(import.meta.dirname, '../..');
const schemaDir = path.join(root, 'deploy/k8s/schemas');
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Schema;
const definitions = (readJson(path.join(schemaDir, '_definitions.json')).definitions ?? {}) as Record<
  string,
  Schema
>;
const SCHEMAS: Record<string, string> = {
  'apps/v1/StatefulSet': 'statefulset-apps-v1.json',
  'v1/Service': 'service-v1.json',
  'v1/ConfigMap': 'configmap-v1.json',
  'v1/Secret': 'secret-v1.json',
  'policy/v1/PodDisruptionBudget': 'poddisruptionbudget-policy-v1.json',
  'monitoring.coreos.com/v1/ServiceMonitor': 'servicemonitor-monitoring.coreos.com-v1.json',
  'kustomize.config.k8s.io/v1beta1/Kustomization': 'kustomization-kustomize.config.k8s.io-v1beta1.json',
};

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as loosely typed JSON
type Obj = Record<string, any>;

function schemaFor(manifest: Obj): Schema {
  const file = SCHEMAS[`${manifest.apiVersion}/${manifest.kind}`];
  assert.ok(file, `no schema for ${manifest.apiVersion} ${manifest.kind}`);
  return readJson(path.join(schemaDir, file));
}

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
  test('the validator rejects what the schemas forbid', () => {
    const schema = readJson(path.join(schemaDir, 'poddisruptionbudget-policy-v1.json'));
    const good = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'x' },
      spec: { maxUnavailable: 1, selector: { matchLabels: { a: 'b' } } },
    };
    assert.deepEqual(validate(good, schema, definitions), []);
    assert.notDeepEqual(
      validate({ ...good, spec: { ...good.spec, maxUnavailabel: 1 } }, schema, definitions),
      [],
    );
    assert.notDeepEqual(validate({ ...good, metadata: { name: 'Bad_Name' } }, schema, definitions), []);
    assert.notDeepEqual(
      validate({ ...good, spec: { maxUnavailable: 1.5, selector: good.spec.selector } }, schema, definitions),
      [],
    );
    const { metadata: _m, ...noMeta } = good;
    assert.notDeepEqual(validate(noMeta, schema, definitions), []);
  });

  for (const nodes of [4, 7]) {
    describe(`generate.ts --nodes ${nodes}`, () => {
      const { dir, files } = generateInto(nodes);
      const f = faultsTolerated(nodes);
      after(() => fs.rmSync(dir, { recursive: true, force: true }));

      test('every manifest validates against its schema', () => {
        for (const [file, manifest] of files) {
          const errors = validate(manifest, schemaFor(manifest), definitions);
          assert.deepEqual(errors, [], `${file}: ${errors.join('; ')}`);
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

      test('probes on /healthz at the http port; resources; scrape annotations; a volume per pod', () => {
        const [sts] = byKind(files, 'StatefulSet') as [Obj];
        const [c] = sts.spec.template.spec.containers as [Obj];
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          assert.equal(probe.httpGet.path, '/healthz');
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
