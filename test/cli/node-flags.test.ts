import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { NODE_FLAGS } from '../../src/node-flags.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm start`, `npm run herald` and `npx herald` must all run Herald with the same V8 options. */
test('every way of starting Herald passes NODE_FLAGS to node', () => {
  const flags = NODE_FLAGS.join(' ');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  expect(pkg.scripts.start).toBe(`node ${flags} src/cli.ts serve`);
  expect(pkg.scripts.herald).toBe(`node ${flags} src/cli.ts`);
  expect(pkg.bin.herald).toBe('./src/cli.ts');
  expect(readFileSync(path.join(ROOT, 'src/cli.ts'), 'utf8').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
});

test('the shebang line works: src/cli.ts runs as a program', () => {
  const out = execFileSync(path.join(ROOT, 'src/cli.ts'), ['--help'], {
    encoding: 'utf8',
    env: { PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` },
  });
  expect(out).toContain('herald serve');
});
