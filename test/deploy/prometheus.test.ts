/**
 * deploy/prometheus: the scrape configuration and the alert rules pass promtool, every alert has
 * a unit test file (deploy/prometheus/tests/*.test.yml) that shows it firing and not firing, run
 * with `promtool test rules`, and the static targets are the HTTP addresses `cretoai-node init`
 * gives the cluster the file's comment names.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { initCluster } from '../../src/cli/init.ts';
import { promtool, skipWithoutPromtool } from '../support/promtool.ts';

const dir = path.join(import.meta.dirname, '../../deploy/prometheus');
const skip = skipWithoutPromtool();

function alertNames(): string[] {
  const text = fs.readFileSync(path.join(dir, 'alerts.yml'), 'utf8');
  return [...text.matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1] as string);
}

const testFiles = fs
  .readdirSync(path.join(dir, 'tests'))
  .filter((f) => f.endsWith('.test.yml'))
  .sort();

/**
 * The `cretoai-local` job of prometheus.yml: its targets and the `init` command its comment
 * names. A targeted read of this one file's shape (the project has no YAML parser): a flow
 * sequence of double-quoted strings is JSON.
 */
function localJob(): { command: string; nodes: number; portBase: number; targets: string[] } {
  const text = fs.readFileSync(path.join(dir, 'prometheus.yml'), 'utf8');
  const job = text.indexOf('- job_name: cretoai-local');
  assert.ok(job >= 0, 'prometheus.yml has the cretoai-local job');
  // The comment: the lines starting with '#' right above the job.
  const above = text.slice(0, job).split('\n').slice(0, -1);
  const commentLines: string[] = [];
  while (above.length > 0 && above.at(-1)!.trimStart().startsWith('#')) commentLines.unshift(above.pop()!);
  const comment = commentLines.join(' ');
  const command = /`(cretoai-node init --nodes (\d+) --port-base (\d+))`/.exec(comment);
  assert.ok(command !== null, `the job's comment names the init command: ${comment}`);
  const next = text.indexOf('- job_name:', job + 1);
  const body = text.slice(job, next < 0 ? undefined : next);
  const lists = [...body.matchAll(/^\s*- targets: (\[.*\])$/gm)].map(
    (match) => JSON.parse(match[1]!) as string[],
  );
  assert.equal(lists.length, 1, 'one static target list');
  return {
    command: command[1]!,
    nodes: Number(command[2]),
    portBase: Number(command[3]),
    targets: lists[0]!,
  };
}

describe('deploy/prometheus', () => {
  test('the local job scrapes the HTTP addresses init writes for the port base it names', async (t) => {
    const { nodes, portBase, targets } = localJob();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-prometheus-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    const created = await initCluster({ dir: path.join(out, 'cluster'), nodes, portBase });
    // What each node serves its API (and /metrics) on, from the configuration init wrote.
    const listens = created.configFiles.map(
      (file) => (JSON.parse(fs.readFileSync(file, 'utf8')) as { http: { listen: string } }).http.listen,
    );
    assert.deepEqual(targets, listens);
    assert.deepEqual(
      targets.map((target) => `http://${target}`),
      created.apiUrls,
    );
  });

  test('promtool check config prometheus.yml (static targets, rule file)', { skip }, () => {
    const r = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: 9 rules found/);
  });

  test('promtool check config prometheus-kubernetes.yml (kubernetes_sd)', { skip }, (t) => {
    const r = promtool(['check', 'config', path.join(dir, 'prometheus-kubernetes.yml')]);
    if (r.status !== 0 && /field kubernetes_sd_configs not found/.test(r.output)) {
      // Debian builds Prometheus without Kubernetes discovery; say so rather than pass.
      t.skip('this promtool has no kubernetes_sd support (Debian build)');
      return;
    }
    assert.equal(r.status, 0, r.output);
  });

  test('promtool check rules alerts.yml', { skip }, () => {
    const r = promtool(['check', 'rules', path.join(dir, 'alerts.yml')]);
    assert.equal(r.status, 0, r.output);
  });

  test('the alerts are the ones the operations issue asks for', () => {
    assert.deepEqual(alertNames().sort(), [
      'ConsensusCheckpointStalled',
      'ConsensusDuplicateIdentity',
      'ConsensusFinalityP99High',
      'ConsensusNodeBanned',
      'ConsensusNodeSuspected',
      'ConsensusNotFinalizing',
      'ConsensusPeersDisconnected',
      'ConsensusQuorumLost',
      'ConsensusViewChangesFrequent',
    ]);
  });

  test('every alert has a unit test that shows it firing and one that shows it quiet', () => {
    for (const alert of alertNames()) {
      const covering = testFiles.filter((f) =>
        fs.readFileSync(path.join(dir, 'tests', f), 'utf8').includes(`alertname: ${alert}`),
      );
      assert.equal(covering.length, 1, `${alert}: exactly one test file, got ${covering.join(', ')}`);
      const text = fs.readFileSync(path.join(dir, 'tests', covering[0] as string), 'utf8');
      assert.match(text, /exp_alerts:\s*\n\s*- exp_labels:/, `${alert}: a firing case`);
      assert.match(text, /exp_alerts: \[\]/, `${alert}: a not-firing case`);
    }
  });

  for (const file of testFiles) {
    test(`promtool test rules tests/${file}`, { skip }, () => {
      const r = promtool(['test', 'rules', path.join(dir, 'tests', file)]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /SUCCESS/);
    });
  }
});
