import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/logger.ts';
import { freePort } from '../helpers/process.ts';

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
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-test-pg-'));
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
    await rm(dir, { recursive: true, force: true });
  };
}
