import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { isAlive, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/logger.ts';
import { removeDataDir } from '../helpers/data-dir.ts';
import { freePort } from '../helpers/process.ts';

const PREFIX = 'herald-test-pg-';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL URL whose user may create databases; each test file makes its own. */
    postgresUrl: string;
  }
}

/**
 * One PostgreSQL for the whole run: the server in DATABASE_URL when set, otherwise an
 * embedded one in a temporary directory, removed afterwards.
 */
export default async function setup(project: TestProject) {
  if (process.env.DATABASE_URL) {
    project.provide('postgresUrl', process.env.DATABASE_URL);
    return;
  }
  // mkdtemp makes it 0700: as root, Herald's PostgreSQL runs as the postgres user and its cluster
  // goes where that user can reach it (see src/db/postgres-placement.ts), as for an operator's.
  await removeInterruptedRuns();
  const dir = await mkdtemp(path.join(os.tmpdir(), PREFIX));
  await writeFile(path.join(dir, 'owner'), String(process.pid));
  const db = await startEmbeddedPostgres({
    dir: path.join(dir, 'pg'),
    port: await freePort(),
    password: 'herald-test',
    database: 'postgres',
    logger: createLogger('warn'),
    persistent: false,
  });
  project.provide('postgresUrl', db.url);
  return async () => {
    await db.stop();
    await removeDataDir(dir);
  };
}

/**
 * A run that was interrupted (its teardown never ran) leaves its database behind: as root,
 * gigabytes under /var/lib/herald/clusters. Each run's directory names the process that owns it;
 * once that process is gone and its PostgreSQL has stopped, the next run removes both.
 */
async function removeInterruptedRuns(): Promise<void> {
  for (const entry of await readdir(os.tmpdir())) {
    if (!entry.startsWith(PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    const owner = Number.parseInt(await readFile(path.join(dir, 'owner'), 'utf8').catch(() => ''), 10);
    if (!(owner > 0) || isAlive(owner)) continue; // another run's (or from before owners were recorded)
    const { cluster = path.join(dir, 'pg') } = JSON.parse(await readFile(path.join(dir, 'postgres.json'), 'utf8').catch(() => '{}'));
    const postmaster = Number.parseInt(await readFile(path.join(cluster, 'postmaster.pid'), 'utf8').catch(() => ''), 10);
    if (postmaster > 0 && isAlive(postmaster)) continue;
    if (existsSync(dir)) await removeDataDir(dir);
  }
}
