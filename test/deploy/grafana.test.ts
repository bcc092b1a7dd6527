/**
 * deploy/grafana: the provisioned dashboard has a panel expression for every metric the
 * engine exports (taken from the real registry, not a copied list), names no metric that
 * does not exist, and every expression is well-formed: balanced brackets and quotes, and,
 * where promtool is installed, parsed by Prometheus itself (each expression, with the
 * Grafana variables substituted, as a recording rule given to `promtool check rules`).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { createConsensusMetrics } from '../../src/metrics/index.ts';
import { clusterDir, startNode } from '../node/support.ts';
import { promtool, skipWithoutPromtool } from '../support/promtool.ts';

const dir = path.join(import.meta.dirname, '../../deploy/grafana');
const dashboard = JSON.parse(fs.readFileSync(path.join(dir, 'dashboards/cretoai-consensus.json'), 'utf8'));

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  gridPos: { x: number; y: number; w: number; h: number };
}
const panels = dashboard.panels as Panel[];
const expressions = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

async function exportedMetrics(): Promise<{ name: string; type: string }[]> {
  const registry = new Registry();
  createConsensusMetrics(registry);
  return (await registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
}

/** Identifiers in an expression that are metric names (consensus_*), label names excluded. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bconsensus_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

/** The expression with Grafana's variables replaced, as Prometheus would receive it. */
function substituted(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*');
}

function balanced(expr: string): string | null {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  let quote: string | null = null;
  for (const ch of expr) {
    if (quote) {
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if ('([{'.includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return `unbalanced ${ch}`;
  }
  if (quote) return 'unterminated string';
  return stack.length === 0 ? null : `unclosed ${stack.join('')}`;
}

describe('deploy/grafana', () => {
  test('provisioning: a Prometheus datasource and a file provider', () => {
    const ds = fs.readFileSync(path.join(dir, 'provisioning/datasources/prometheus.yml'), 'utf8');
    assert.match(ds, /type: prometheus/);
    assert.match(ds, /uid: prometheus/);
    const provider = fs.readFileSync(path.join(dir, 'provisioning/dashboards/cretoai.yml'), 'utf8');
    assert.match(provider, /type: file/);
    assert.match(provider, /path: \/var\/lib\/grafana\/dashboards\/cretoai/);
  });

  test('the dashboard: unique panel ids, a uid, an instance variable, panels on a 24-column grid', () => {
    assert.equal(dashboard.uid, 'cretoai-consensus');
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(dashboard.templating.list.some((v: { name: string }) => v.name === 'instance'));
    for (const p of panels) assert.ok(p.gridPos.x + p.gridPos.w <= 24, p.title);
  });

  test('every exported metric appears in some panel expression', async () => {
    const used = new Set(expressions.flatMap((e) => metricNames(e.expr)));
    const metrics = await exportedMetrics();
    assert.ok(metrics.length >= 18, `the registry exports ${metrics.length} metrics`);
    for (const { name, type } of metrics) {
      const forms = type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
      assert.ok(
        forms.some((f) => used.has(f)),
        `${name} (${type}) is on no panel`,
      );
    }
  });

  test('every metric a running node exports (engine, transport, HTTP, quorum, scrub) is on a panel', async (t) => {
    const cluster = await clusterDir(t, 1);
    const { url } = await startNode(t, cluster, 0);
    const text = await (await fetch(`${url}/metrics`)).text();
    const names = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)]
      .map((match) => ({ name: match[1]!, type: match[2]! }))
      .filter(({ name }) => /^(consensus|cretoai)_/.test(name));
    assert.ok(names.length >= 35, `the node exports ${names.length} metrics of its own`);
    const dashboardText = JSON.stringify(panels);
    const missing = names
      .filter(({ name, type }) =>
        (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]).every(
          (form) => !new RegExp(`\\b${form}\\b`).test(dashboardText),
        ),
      )
      .map(({ name }) => name);
    assert.deepEqual(missing, []);
  });

  test('finality quantiles p50, p99 and p99.9 come from the histogram buckets', () => {
    const finality = expressions.filter((e) => e.expr.includes('consensus_finality_time_seconds_bucket'));
    for (const p of ['0.5', '0.99', '0.999'])
      assert.ok(
        finality.some(
          (e) => e.expr.startsWith(`histogram_quantile(${p},`) && /sum by \([^)]*\ble\b/.test(e.expr),
        ),
        `p${p}`,
      );
  });

  test('every expression names only exported series, with brackets and quotes balanced', async () => {
    const metrics = await exportedMetrics();
    const known = new Set(
      metrics.flatMap(({ name, type }) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
      ),
    );
    assert.ok(expressions.length > 0);
    for (const { panel, expr } of expressions) {
      assert.equal(balanced(expr), null, `${panel}: ${expr}`);
      for (const m of metricNames(expr)) assert.ok(known.has(m), `${panel}: unknown series ${m}`);
      // A counter is only ever read through rate() or increase().
      for (const { name, type } of metrics)
        if (type === 'counter' && expr.includes(name))
          assert.match(expr, new RegExp(`(rate|increase)\\(${name}`), `${panel}: ${name} raw`);
    }
  });

  test('promtool parses every expression (as recording rules)', { skip: skipWithoutPromtool() }, () => {
    const rules = expressions
      .map(
        ({ expr }, i) =>
          `      - record: grafana:panel_expression_${i}\n        expr: ${JSON.stringify(substituted(expr))}`,
      )
      .join('\n');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-grafana-')), 'rules.yml');
    try {
      fs.writeFileSync(file, `groups:\n  - name: grafana\n    rules:\n${rules}\n`);
      const r = promtool(['check', 'rules', file]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, new RegExp(`SUCCESS: ${expressions.length} rules found`));
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
