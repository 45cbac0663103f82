import pg from 'pg';
import type { Logger } from '../logger.ts';

/**
 * A pg connection pool that survives PostgreSQL going away: failed connections are logged and
 * discarded, never left to crash the process.
 */
export function openPool(connectionString: string, max: number, log: Logger): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  // A connection that drops while checked out between queries (e.g. PostgreSQL restarting)
  // emits 'error' on its client, where pg-pool does not listen: unheard, it would crash the
  // process. Its next query fails instead, and the pool discards it on release.
  pool.on('connect', (c) => c.on('error', (err) => log.warn({ err }, 'database connection failed')));
  return pool;
}
