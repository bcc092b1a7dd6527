/**
 * deploy/prometheus: the scrape configuration and the alert rules pass promtool, and every
 * alert has a unit test file (deploy/prometheus/tests/*.test.yml) that shows it firing and
 * not firing, run with `promtool test rules`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
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

describe('deploy/prometheus', () => {
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
