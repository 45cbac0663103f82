import { setTimeout as sleep } from 'node:timers/promises';
import type { PoolClient } from 'pg';
import type { Db, PgBoss } from 'pg-boss';
import { listenChannel } from '../live/listener.ts';
import type { Logger } from '../logger.ts';

/** Lets pg-boss write its jobs through a pg client, e.g. inside that client's transaction. */
export function fromPgClient(client: PoolClient): Db {
  return { executeSql: (text, values) => client.query(text, values as unknown[]) };
}

/** Shown in pg_stat_activity.application_name for the connection that wakes workers on new jobs. */
export const JOBS_LISTENER_APPLICATION_NAME = 'herald-jobs-listener';

/**
 * Gives pg-boss Herald's LISTEN connection (the `listen` capability of its database adapter) in
 * place of its own. pg-boss 12.38 takes its connection's 'error' listener off before closing it:
 * when PostgreSQL stops at that moment, its "terminating connection due to administrator command"
 * reaches a client nobody listens to and the process dies of it (an idle Herald stopped with
 * PostgreSQL stopping 0–15 ms later: 3 of 8 runs exited 1 with that stack trace; 0 of 8 without
 * pg-boss's connection). Herald's keeps its listener until the end. Call before `boss.start()`.
 */
export function listenThroughHerald(boss: PgBoss, databaseUrl: string, logger: Logger): { listening(): boolean } {
  const db = boss.getDb();
  let current: { listening(): boolean } | null = null;
  db.listen = async (channel, onNotification, onReconnect) => {
    const listener = listenChannel({
      databaseUrl,
      channel,
      applicationName: JOBS_LISTENER_APPLICATION_NAME,
      logger: logger.child({ component: 'jobs-listener' }),
      onNotification,
      onListening: onReconnect,
    });
    // pg-boss falls back to polling when the first LISTEN fails: so must this, rather than wait.
    const listening = await Promise.race([listener.ready().then(() => true), sleep(10_000, false, { ref: false })]);
    if (!listening) {
      await listener.stop();
      throw new Error('could not LISTEN for new jobs within 10 s');
    }
    current = listener;
    return { close: () => listener.stop() };
  };
  // Whether new jobs wake workers at once (readiness); polling still finds them when not.
  return { listening: () => current?.listening() ?? false };
}
