import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { inject } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { initORM, type MikroORM } from '../../src/db/orm.ts';

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

/**
 * A fresh database migrated up to just before the migration whose name ends with `suffix`, for a
 * test that fills it as older versions left it and then applies the rest (`migrate(orm, url)`).
 * Returns the database's URL, an ORM on it (close it), that migration's full name, and `down()`,
 * which takes the database back to before that migration, reverting the later ones too (a plain
 * `migrator.down()` reverts only the latest, which stops being this one when a migration is added).
 */
export async function databaseBefore(suffix: string): Promise<{ url: string; orm: MikroORM; migration: string; down(): Promise<unknown> }> {
  const url = await createTestDatabase();
  const orm = await initORM(url, { poolSize: 2 });
  const names = (await orm.migrator.getPending()).map((m) => m.name);
  const migration = names.find((n) => n.endsWith(suffix));
  if (!migration) throw new Error(`no migration named …${suffix}`);
  const before = names[names.indexOf(migration) - 1];
  if (before) await orm.migrator.up({ to: before });
  return { url, orm, migration, down: () => orm.migrator.down({ to: before ?? 0 }) };
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

export interface DeliveryRow {
  id: string;
  event_id: string;
  status: string;
  attempt_count: number;
  locked_by: string | null;
  locked_until: Date | null;
}

export async function deliveryRows(databaseUrl: string): Promise<DeliveryRow[]> {
  return withPgClient(databaseUrl, async (client) => {
    const { rows } = await client.query<DeliveryRow>('select id, event_id, status, attempt_count, locked_by, locked_until from delivery');
    return rows;
  });
}

export function countByStatus(rows: DeliveryRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/** Polls until all `expected` deliveries are SUCCEEDED; returns the milliseconds it took. On timeout, throws with the counts and a few unfinished rows. */
export async function waitAllSucceeded(
  databaseUrl: string,
  expected: number,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<number> {
  const start = Date.now();
  let counts: Record<string, number> = {};
  let rows: DeliveryRow[] = [];
  while (Date.now() - start < timeoutMs) {
    rows = await deliveryRows(databaseUrl);
    counts = countByStatus(rows);
    if (rows.length === expected && counts.SUCCEEDED === expected) return Date.now() - start;
    await sleep(200);
  }
  throw new Error(
    `not every delivery SUCCEEDED within ${timeoutMs} ms: ${JSON.stringify(counts)}\n${JSON.stringify(rows.filter((r) => r.status !== 'SUCCEEDED').slice(0, 5))}\n${context()}`,
  );
}

/** How many of a webhook's deliveries are in each status. */
export async function statusCounts(databaseUrl: string, webhookId: string): Promise<Record<string, number>> {
  return withPgClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from delivery where webhook_id = $1 group by status',
      [webhookId],
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  });
}

/** The slots of a webhook held now, by worker id (webhook_slot, delivery/sql/flow.ts). */
export async function heldSlots(databaseUrl: string, webhookId: string): Promise<{ slot: number; held_by: string }[]> {
  return withPgClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ slot: number; held_by: string }>(
      'select slot, held_by from webhook_slot where webhook_id = $1 and held_until >= now() order by slot',
      [webhookId],
    );
    return rows;
  });
}
