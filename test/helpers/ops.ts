import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** GETs an ops endpoint; returns the status, the parsed JSON body and how long the answer took. */
export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const ms = performance.now() - started;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, ms };
}

/** A family of metrics as Prometheus' own parser reads it (counter names lose their `_total`; samples keep it). */
export interface ParsedFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'unknown' | string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number | string }[];
}

/** One scrape of /metrics, parsed by the Prometheus project's text-format parser (test/helpers/parse-metrics.py). */
export interface Scrape {
  families: ParsedFamily[];
  /** Every sample name exported (e.g. `herald_attempts_total`, `herald_attempt_duration_seconds_bucket`). */
  sampleNames: Set<string>;
  /** The family a metric name belongs to (the name as exported or the family's); throws when it is not exported. */
  family(name: string): ParsedFamily;
  /** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** A histogram's observation count for `labels` (its `_count` samples, summed); 0 when there is none. */
  count(name: string, labels?: Record<string, string>): number;
  /** Every sample called `name` as `label=value,…` → value, for exact comparisons. */
  samples(name: string): Record<string, number>;
}

const PARSER = fileURLToPath(new URL('./parse-metrics.py', import.meta.url));

/** Parses Prometheus text format with the Prometheus project's Python parser (Debian: python3-prometheus-client). */
export async function parseMetrics(text: string): Promise<ParsedFamily[]> {
  const child = spawn('/usr/bin/python3', [PARSER], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  child.stdin.end(text);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`the Prometheus parser refused the exposition (exit ${code}): ${err}`);
  return JSON.parse(out) as ParsedFamily[];
}

export async function scrape(opsUrl: string, token?: string): Promise<Scrape> {
  const res = await fetch(`${opsUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
  if (!res.headers.get('content-type')?.startsWith('text/plain; version=0.0.4'))
    throw new Error(`content-type ${res.headers.get('content-type')}`);
  const families = await parseMetrics(text);
  const samples = families.flatMap((f) => f.samples);
  const matching = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    families,
    sampleNames: new Set(samples.map((s) => s.name)),
    family(name) {
      const found = families.find((f) => f.name === name || f.name === name.replace(/_total$/, ''));
      if (!found) throw new Error(`metric ${name} is not exported`);
      return found;
    },
    value(name, labels) {
      const [sample] = matching(name, labels);
      return sample === undefined ? undefined : Number(sample.value);
    },
    count(name, labels) {
      return matching(`${name}_count`, labels).reduce((n, s) => n + Number(s.value), 0);
    },
    samples(name) {
      return Object.fromEntries(
        matching(name).map((s) => [
          Object.entries(s.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
          Number(s.value),
        ]),
      );
    },
  };
}
