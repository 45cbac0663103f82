import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { isAlive, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/logger.ts';
import { removeDataDir } from '../helpers/data-dir.ts';
import { withPgClient } from '../helpers/db.ts';
import { freePort } from '../helpers/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('a process that exits without stopping its embedded PostgreSQL does not leave the server running', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-embedded-exit-'));
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
    await removeDataDir(dir);
  }
});

/**
 * With PostgreSQL's default 5-minute checkpoints, Linux writes each data file's dirty pages out
 * in one burst 30 s after they were written, and commits stall behind it for hundreds of
 * milliseconds (see README, Performance). The embedded server checkpoints every 30 s instead.
 */
test('the embedded PostgreSQL checkpoints every 30 s, and a setting passed to it still wins', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-embedded-settings-'));
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
    await removeDataDir(dir);
  }
});
