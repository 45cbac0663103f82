import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { NODE_FLAGS } from '../../src/node-flags.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm start` and `npm run herald` must run Herald with the V8 options of NODE_FLAGS. */
test('the npm scripts that start Herald pass NODE_FLAGS to node', () => {
  const flags = NODE_FLAGS.join(' ');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  expect(pkg.scripts.start).toBe(`node ${flags} src/cli.ts serve`);
  expect(pkg.scripts.herald).toBe(`node ${flags} src/cli.ts`);
  expect(pkg.bin.herald).toBe('./src/cli.ts');
  // The bin stays portable (no `env -S`); NODE_OPTIONS accepts the flags instead.
  expect(readFileSync(path.join(ROOT, 'src/cli.ts'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
});

test('src/cli.ts runs as a program, and with NODE_FLAGS in NODE_OPTIONS', () => {
  for (const env of [{}, { NODE_OPTIONS: NODE_FLAGS.join(' ') }]) {
    const out = execFileSync(path.join(ROOT, 'src/cli.ts'), ['--help'], {
      encoding: 'utf8',
      env: { ...env, PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` },
    });
    expect(out).toContain('herald serve');
  }
});
