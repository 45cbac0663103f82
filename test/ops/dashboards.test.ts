import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Scrape, scrape } from '../helpers/ops.ts';

const root = new URL('../../', import.meta.url);
/** Series Prometheus makes itself, not Herald. */
const PROMETHEUS_OWN = new Set(['up']);

let h: TestHerald;
let exported: Scrape;

beforeAll(async () => {
  h = await startTestHerald();
  exported = await scrape(h.herald.opsUrl);
});
afterAll(async () => {
  await h?.stop();
});

/** Every name a PromQL expression selects, read by the Prometheus project's PromQL grammar; throws on a syntax error. */
function metricNames(expr: string): string[] {
  // Grafana replaces its interval variable before the query reaches Prometheus.
  const promql = expr.replaceAll('$__rate_interval', '5m');
  const tree = parser.parse(promql);
  const names: string[] = [];
  let error: number | null = null;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(promql.slice(node.from, node.to));
    },
  });
  if (error !== null) throw new Error(`PromQL syntax error at ${error}: ${promql}`);
  return names;
}

/** The names a scrape offers to PromQL: each sample name, and a histogram's _bucket, _sum and _count even before any observation. */
function selectable(s: Scrape): Set<string> {
  const names = new Set(s.sampleNames);
  for (const f of s.families) {
    if (f.type === 'counter') names.add(f.name.endsWith('_total') ? f.name : `${f.name}_total`);
    else if (f.type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(f.name + suffix);
    else names.add(f.name);
  }
  return names;
}

function alertExpressions(): { name: string; expr: string }[] {
  const file = parseYaml(readFileSync(new URL('ops/prometheus-alerts.yml', root), 'utf8')) as {
    groups: { rules: { alert: string; expr: string; for?: string }[] }[];
  };
  return file.groups.flatMap((g) => g.rules.map((r) => ({ name: r.alert, expr: r.expr })));
}

function dashboardExpressions(): { name: string; expr: string }[] {
  type Panel = { title: string; panels?: Panel[]; targets?: { expr: string }[] };
  const dashboard = JSON.parse(readFileSync(new URL('ops/grafana-dashboard.json', root), 'utf8')) as { panels: Panel[] };
  const all = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...all(p.panels ?? [])]);
  return all(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ name: p.title, expr: t.expr })));
}

test('the alert rules: a lag, a failure-rate and a not-ready alert, valid PromQL on exported metrics, max() over the global gauges', () => {
  const rules = alertExpressions();
  expect(rules.map((r) => r.name).sort()).toEqual(['HeraldDeliveryFailureRate', 'HeraldDeliveryLag', 'HeraldNotReady']);
  const names = selectable(exported);
  for (const rule of rules) {
    const used = metricNames(rule.expr);
    expect(used.length, rule.name).toBeGreaterThan(0);
    for (const metric of used)
      expect(names.has(metric) || PROMETHEUS_OWN.has(metric), `${rule.name}: ${metric} is not exported`).toBe(true);
  }
  expect(rules.find((r) => r.name === 'HeraldDeliveryLag')!.expr).toMatch(/max\(herald_delivery_lag_seconds\)/);
});

test('the Grafana dashboard: every query is valid PromQL on exported metrics, and every Herald metric is on it', () => {
  const queries = dashboardExpressions();
  expect(queries.length).toBeGreaterThan(10);
  const names = selectable(exported);
  const used = new Set<string>();
  for (const q of queries) {
    for (const metric of metricNames(q.expr)) {
      used.add(metric);
      expect(names.has(metric), `panel "${q.name}": ${metric} is not exported`).toBe(true);
    }
  }
  // The global gauges read from PostgreSQL are taken with max(), as every process exports them.
  for (const q of queries.filter((q) => /herald_(deliveries_waiting|delivery_lag_seconds|webhooks)\b/.test(q.expr))) {
    expect(q.expr, q.name).toMatch(/^max( by \([a-z_, ]+\))? ?\(/);
  }
  const heraldFamilies = exported.families.filter((f) => f.name.startsWith('herald_'));
  expect(heraldFamilies.length).toBeGreaterThanOrEqual(12);
  for (const f of heraldFamilies) {
    const forms = f.type === 'histogram' ? [`${f.name}_bucket`] : [f.type === 'counter' ? `${f.name}_total` : f.name];
    expect(
      forms.some((n) => used.has(n)),
      `${f.name} is on no panel`,
    ).toBe(true);
  }
});
