import type { PoolClient } from 'pg';
import type { Db } from 'pg-boss';

/** Lets pg-boss write its jobs through a pg client, e.g. inside that client's transaction. */
export function fromPgClient(client: PoolClient): Db {
  return { executeSql: (text, values) => client.query(text, values as unknown[]) };
}
