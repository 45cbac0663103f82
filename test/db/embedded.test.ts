import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { readdir, realpath } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { isAlive, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { CLUSTERS_DIR } from '../../src/db/postgres-placement.ts';
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

test('a first start that cannot listen (its port taken) leaves no cluster behind; a later start on a free port makes one and works', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-embedded-taken-'));
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as AddressInfo).port;
  const start = (port: number) =>
    startEmbeddedPostgres({ dir: path.join(dir, 'pg'), port, password: 'x', database: 'postgres', logger: createLogger('silent') });
  // Where this data dir's clusters would go as root (a 0700 mkdtemp dir is out of the postgres user's reach).
  const relocated = async () => {
    const slug = (await realpath(dir)).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
    return existsSync(CLUSTERS_DIR) ? (await readdir(CLUSTERS_DIR)).filter((entry) => entry.startsWith(`${slug}-`)) : [];
  };
  try {
    await expect(start(taken)).rejects.toThrow(`127.0.0.1:${taken} (HERALD_PG_PORT)`);
    expect(await readdir(dir)).toEqual([]);
    expect(await relocated()).toEqual([]);

    const db = await start(await freePort());
    try {
      expect(await withPgClient(db.url, async (c) => (await c.query('select 1 as one')).rows[0].one)).toBe(1);
      if (process.getuid?.() === 0) expect(await relocated()).toHaveLength(1);
    } finally {
      await db.stop();
    }
    // A cluster that has served is kept when a later start fails.
    await expect(start(taken)).rejects.toThrow('HERALD_PG_PORT');
    expect(existsSync(path.join(db.clusterDir, 'PG_VERSION'))).toBe(true);
  } finally {
    blocker.close();
    await removeDataDir(dir);
  }
});
