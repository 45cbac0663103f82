import type { Pool } from 'pg';
import type { PgBoss } from 'pg-boss';
import { fromPgClient } from '../jobs/pg-boss-db.ts';
import { enqueueDeliveries } from '../jobs/queue.ts';
import type { Logger } from '../logger.ts';
import { sweepOverdue } from './sql/sweep.ts';

/**
 * The backstop of the wake-up jobs: every lease/2 (0.5 to 5 s) one worker at a time re-queues
 * the deliveries due by lease/2 ago that nothing holds — never queued, their job lost, or their
 * worker dead and its lease lapsed (sql/sweep.ts) — with their new jobs in the same transaction.
 */
export function startSweeper(deps: { pool: Pool; boss: PgBoss; leaseMs: number; logger: Logger }): { stop(): void } {
  const { pool, boss, leaseMs, logger } = deps;
  async function sweep(): Promise<void> {
    const db = await pool.connect();
    try {
      await db.query('begin');
      const ids = await sweepOverdue(db, leaseMs / 2);
      if (ids && ids.length > 0) {
        await enqueueDeliveries(boss, ids, { db: fromPgClient(db) });
        logger.info({ count: ids.length }, 're-queued overdue deliveries');
      }
      await db.query('commit');
    } catch (err) {
      await db.query('rollback').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }
  const timer = setInterval(
    () => {
      sweep().catch((err) => logger.warn({ err }, 'sweep failed'));
    },
    Math.min(5000, Math.max(500, leaseMs / 2)),
  );
  return { stop: () => clearInterval(timer) };
}
