import { readdirSync } from 'node:fs';
import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { MIGRATIONS_DIR } from './orm.ts';

/** An arbitrary constant: the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK = 7_310_442_915;

/**
 * Applies pending migrations and returns their names. Several Herald processes may start at
 * once against one database; an advisory lock makes them take turns.
 */
export async function migrate(orm: MikroORM, clientUrl: string): Promise<string[]> {
  const lock = new pg.Client({ connectionString: clientUrl });
  lock.on('error', () => {}); // a dropped connection also fails the statement it is in
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await orm.migrator.up();
    return applied.map((m) => m.name);
  } finally {
    await lock.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await lock.end();
  }
}

/**
 * The names of the migrations this code ships (as MikroORM records them: the file name without
 * `.ts`), sorted. A database may have more (a newer Herald migrated it), never fewer.
 */
export function knownMigrations(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -'.ts'.length))
    .sort();
}
