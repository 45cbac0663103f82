import pg from 'pg';
import type { Logger } from '../logger.ts';

/** The `application_name` of the connections that readiness and the gauges use (seen in pg_stat_activity). */
export const OPS_APPLICATION_NAME = 'herald-ops';

/** A query that did not answer in time; its connection was dropped. */
export class OpsQueryTimeout extends Error {
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'OpsQueryTimeout';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Two connections of their own for readiness and the PostgreSQL gauges: an application pool
 * busy with deliveries must not make /readyz wait, and a query that does not answer within
 * its time is given up together with its connection (the next one connects afresh), so a
 * hung or unreachable database never holds an answer.
 */
export class OpsDatabase {
  private readonly pool: pg.Pool;

  constructor(databaseUrl: string, logger: Logger) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: 2,
      application_name: OPS_APPLICATION_NAME,
      idleTimeoutMillis: 60_000,
      keepAlive: true,
      connectionTimeoutMillis: 5000,
      // A backstop on the server's side for a statement this side has given up on.
      statement_timeout: 10_000,
    });
    this.pool.on('error', (err) => logger.debug({ err }, 'idle ops connection failed'));
    // A connection that drops while checked out emits 'error' on its client, where pg-pool does
    // not listen: unheard, it would crash the process. The query on it fails instead.
    this.pool.on('connect', (client) => client.on('error', (err) => logger.debug({ err }, 'ops connection failed')));
  }

  /**
   * Runs one statement, with `settings` (e.g. planner switches) in force for it alone; rejects
   * with OpsQueryTimeout when connecting and answering take more than `timeoutMs`, or with the
   * database's error (the connection is then dropped, so no transaction is left open).
   */
  async query<T extends pg.QueryResultRow>(
    text: string,
    params: unknown[],
    timeoutMs: number,
    settings: Record<string, string> = {},
  ): Promise<T[]> {
    let expired = false;
    let drop: (() => void) | null = null;
    const work = (async () => {
      const client = await this.pool.connect();
      let released = false;
      const release = (err?: Error) => {
        if (released) return;
        released = true;
        client.release(err);
      };
      if (expired) {
        release();
        throw new OpsQueryTimeout(timeoutMs);
      }
      drop = () => release(new OpsQueryTimeout(timeoutMs));
      try {
        const entries = Object.entries(settings);
        // Planner settings for this statement only (SET LOCAL), on the same connection.
        if (entries.length > 0) {
          await client.query('begin');
          for (const [name, value] of entries) await client.query('select set_config($1, $2, true)', [name, value]);
        }
        const result = await client.query<T>(text, params);
        if (entries.length > 0) await client.query('commit');
        release();
        return result.rows;
      } catch (err) {
        release(err as Error);
        throw err;
      }
    })();
    work.catch(() => {}); // abandoned on timeout
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        drop?.();
        reject(new OpsQueryTimeout(timeoutMs));
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connections; bounded, since a connection to a database that does not answer may never end cleanly. */
  async close(): Promise<void> {
    await Promise.race([this.pool.end().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }
}
