import type { Pool, PoolClient } from 'pg';
import type { PgBoss } from 'pg-boss';
import { QUIET_MS } from '../core/throttle.ts';
import { fromPgClient } from '../jobs/pg-boss-db.ts';
import { enqueueDeliveries } from '../jobs/queue.ts';
import { notifyLive, webhookStatusMessage } from '../live/messages.ts';
import type { Logger } from '../logger.ts';
import { closeFoldWindows } from '../outbox/notices.ts';
import { liftQuietThrottles } from './sql/flow.ts';
import { sweepOverdue } from './sql/sweep.ts';

/**
 * The backstop of the wake-up jobs: every lease/2 (0.5 to 5 s) one worker at a time re-queues
 * the deliveries due by lease/2 ago that nothing holds — never queued, their job lost, or their
 * worker dead and its lease lapsed (sql/sweep.ts) — with their new jobs in the same transaction.
 * The same tick closes the `delivery.exhausted` fold windows whose time is up, each with its
 * follow-up (outbox/exhausted-fold.ts), in a transaction of its own, and lifts the adaptive
 * throttles of webhooks nothing has sent to for QUIET_MS (sql/flow.ts), announcing each.
 */
export function startSweeper(deps: { pool: Pool; boss: PgBoss; leaseMs: number; defaultProfile: string; logger: Logger }): {
  stop(): void;
} {
  const { pool, boss, leaseMs, defaultProfile, logger } = deps;
  async function inTransaction(work: (db: PoolClient) => Promise<void>): Promise<void> {
    const db = await pool.connect();
    try {
      await db.query('begin');
      await work(db);
      await db.query('commit');
    } catch (err) {
      await db.query('rollback').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }
  const sweep = () =>
    inTransaction(async (db) => {
      const ids = await sweepOverdue(db, leaseMs / 2);
      if (ids && ids.length > 0) {
        await enqueueDeliveries(boss, ids, { db: fromPgClient(db) });
        logger.info({ count: ids.length }, 're-queued overdue deliveries');
      }
    });
  const closeWindows = () => inTransaction((db) => closeFoldWindows(fromPgClient(db), boss, defaultProfile).then(() => {}));
  const liftThrottles = async () => {
    const lifted = await liftQuietThrottles(pool, QUIET_MS);
    const messages = lifted.map((w) => webhookStatusMessage({ id: w.id, tenantId: w.tenantId, status: w.status, deleted: false }));
    await notifyLive((sql, params) => pool.query(sql, params as unknown[]), messages);
  };
  const timer = setInterval(
    () => {
      sweep().catch((err) => logger.warn({ err }, 'sweep failed'));
      closeWindows().catch((err) => logger.warn({ err }, 'closing delivery.exhausted windows failed'));
      liftThrottles().catch((err) => logger.warn({ err }, 'lifting quiet throttles failed'));
    },
    Math.min(5000, Math.max(500, leaseMs / 2)),
  );
  return { stop: () => clearInterval(timer) };
}
