import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { initORM } from '../../src/db/orm.ts';

/** A fresh, empty database on the test server; each test file gets its own. */
export async function createTestDatabase(): Promise<string> {
  const base = new URL(inject('postgresUrl'));
  const name = `herald_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  base.pathname = `/${name}`;
  return base.toString();
}

/** Runs `fn` with a plain pg client on `url` (for reading raw rows in tests). */
export async function withPgClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database of the test server with Herald's tables (every migration applied). */
export async function createMigratedDatabase(): Promise<string> {
  const url = await createTestDatabase();
  const orm = await initORM(url, { poolSize: 1 });
  try {
    await migrate(orm, url);
  } finally {
    await orm.close();
  }
  return url;
}
