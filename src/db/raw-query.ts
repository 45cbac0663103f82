import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery } from 'kysely';

/**
 * Runs SQL with native `$1` parameters on the EntityManager's connection (inside its
 * transaction, if any). Unlike `em.execute`, arrays are passed as PostgreSQL arrays.
 */
export async function rawQuery<T>(em: EntityManager, text: string, params: readonly unknown[] = []): Promise<T[]> {
  const result = await em.getKysely().executeQuery(CompiledQuery.raw(text, [...params]));
  return result.rows as T[];
}
