import type { Db } from 'pg-boss';
import type { PoolClient } from 'pg';

export type IDatabase = Db;

/** Lets pg-boss write its jobs through a pg client, e.g. inside that client's transaction. */
export function fromPgClient(client: PoolClient): IDatabase {
  return { executeSql: (text, values) => client.query(text, values as unknown[]) };
}
