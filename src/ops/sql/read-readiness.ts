/** Runs one statement (the ops connection, with its time limit), with planner `settings` for it alone. */
export type OpsQuery = <T extends Record<string, unknown>>(
  text: string,
  params: unknown[],
  settings?: Record<string, string>,
) => Promise<T[]>;

export interface DatabaseReadiness {
  /** Names of the migrations applied to this database (MikroORM's table), sorted. */
  applied: string[];
}

/** What readiness needs from PostgreSQL, in one round trip (which also proves that it answers). */
export async function readReadiness(query: OpsQuery): Promise<DatabaseReadiness> {
  const [row] = await query<{ applied: string[] }>(
    `select coalesce((select array_agg(name order by name) from mikro_orm_migrations), '{}') as applied`,
    [],
  );
  return row;
}
