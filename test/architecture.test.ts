import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

/**
 * The one-way dependency rule is written once, as Biome's noRestrictedImports overrides in
 * biome.jsonc (each folder's allow-list). Biome matches an import as it is written; this test
 * reads the same lists and checks what Biome cannot: every import resolved to the file it
 * names (so `../core/../delivery/x.ts` counts as delivery/), every folder under src/ covered by
 * a rule, and the allowed folders forming no cycle.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = path.join(ROOT, 'src');
/** The composition roots: they may import anything, and only they import each other. */
const COMPOSERS = new Set(['app.ts', 'server.ts', 'cli.ts']);

interface Rule {
  includes: string[];
  /** Top-level names under src/ (a folder, or a file such as logger.ts) this layer may import. */
  allowed: Set<string>;
}

function readRules(): Rule[] {
  // biome.jsonc has whole-line comments only.
  const text = readFileSync(path.join(ROOT, 'biome.jsonc'), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*\/\//.test(line))
    .join('\n');
  const config = JSON.parse(text) as {
    overrides: {
      includes: string[];
      linter?: { rules?: { style?: { noRestrictedImports?: { options: { patterns: { group: string[] }[] } } } } };
    }[];
  };
  return config.overrides.flatMap((o) => {
    const restricted = o.linter?.rules?.style?.noRestrictedImports;
    if (!restricted) return [];
    const allowed = restricted.options.patterns
      .flatMap((p) => p.group)
      .filter((g) => g.startsWith('!'))
      .map((g) => g.replace(/^!((\.\.?\/)+)/, '').replace(/\/\*\*$/, ''));
    return [{ includes: o.includes, allowed: new Set(allowed) }];
  });
}

/** Biome's include globs as used here: `src/x/**`, `src/x/*.ts` or a file. */
function matches(glob: string, file: string): boolean {
  if (glob.endsWith('/**')) return file.startsWith(glob.slice(0, -2));
  if (glob.endsWith('/*.ts')) return path.dirname(file) === glob.slice(0, -5) && file.endsWith('.ts');
  return file === glob;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [path.relative(ROOT, full)] : [];
  });
}

/** Static imports, `export … from`, side-effect imports and `import()` with a literal path. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g,
  )) {
    found.push(m[1] ?? m[2] ?? m[3]);
  }
  return found;
}

/** The top-level name under src/ a file belongs to: `delivery` for src/delivery/sql/x.ts, `config.ts` for src/config.ts. */
const layerOf = (fileInSrc: string) => fileInSrc.split('/')[0];

const rules = readRules();
const files = sourceFiles(SRC);
const ruleOf = (file: string) => rules.find((r) => r.includes.some((glob) => matches(glob, file)));

test('every file under src/ is covered by a dependency rule, or is a composition root', () => {
  const uncovered = files.filter((f) => !COMPOSERS.has(path.relative(SRC, path.join(ROOT, f))) && !ruleOf(f));
  expect(uncovered).toEqual([]);
});

test('every import, resolved to the file it names, stays in its folder or goes where its rule allows', () => {
  const violations: string[] = [];
  for (const file of files) {
    const own = layerOf(path.relative(SRC, path.join(ROOT, file)));
    const rule = ruleOf(file);
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) continue; // node: and npm packages
      const target = path.relative(SRC, path.resolve(path.dirname(path.join(ROOT, file)), specifier));
      if (target.startsWith('..')) continue; // outside src/ (package.json, migrations)
      const layer = layerOf(target);
      if (COMPOSERS.has(own)) {
        if (
          COMPOSERS.has(layer) &&
          layer !== own &&
          !(own === 'cli.ts' && layer === 'app.ts') &&
          !(own === 'app.ts' && layer === 'server.ts')
        ) {
          violations.push(`${file} → ${specifier}`);
        }
        continue;
      }
      if (layer !== own && !rule?.allowed.has(layer)) violations.push(`${file} → ${specifier} (${layer}/ is not allowed here)`);
    }
  }
  expect(violations).toEqual([]);
});

test('the rules themselves point one way: no folder can reach itself again', () => {
  const edges = new Map<string, Set<string>>();
  for (const rule of rules) {
    for (const glob of rule.includes) {
      const layer = layerOf(glob.replace(/^src\//, ''));
      edges.set(layer, new Set([...(edges.get(layer) ?? []), ...rule.allowed]));
    }
  }
  const cycles: string[] = [];
  const visit = (layer: string, trail: string[]) => {
    if (trail.includes(layer)) return void cycles.push([...trail, layer].join(' → '));
    for (const next of edges.get(layer) ?? []) visit(next, [...trail, layer]);
  };
  for (const layer of edges.keys()) visit(layer, []);
  expect(cycles).toEqual([]);
  // The rule of the issue, as the lists say it:
  // metrics.ts is a leaf like logger.ts: instruments any layer records into, importing nothing of Herald's.
  expect([...(edges.get('services') ?? [])].sort()).toEqual([
    'config.ts',
    'core',
    'db',
    'entities',
    'jobs',
    'live',
    'logger.ts',
    'metrics.ts',
    'outbox',
    'version.ts',
  ]);
  expect(edges.get('metrics.ts')?.size ?? 0).toBe(0);
  expect(edges.get('delivery')?.has('services')).toBe(false);
  // The outbox is shared by services and the worker, and needs neither.
  expect([...(edges.get('outbox') ?? [])].sort()).toEqual(['core', 'jobs', 'live']);
  expect([...(edges.get('live') ?? [])].sort()).toEqual(['core', 'logger.ts']);
  expect(edges.get('core')?.size).toBe(0);
});

test("GraphiQL's renderer (a 9 MB bundle) is imported only by the worker thread that renders its page", () => {
  const importers = files.filter((file) => importsOf(file).includes('@graphql-yoga/render-graphiql'));
  // graphiql-page.ts runs it in a short-lived thread: in the process, its strings stayed in the heap for good.
  expect(importers).toEqual(['src/graphql/graphiql-render.ts']);
});
