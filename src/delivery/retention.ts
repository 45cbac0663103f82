import type { Pool, PoolClient } from 'pg';
import type { PgBoss } from 'pg-boss';
import { dueSql } from '../core/delivery-state.ts';
import { lowestIdAt } from '../core/ids.ts';
import type { Logger } from '../logger.ts';

export const RETENTION_QUEUE = 'herald-retention';
const BATCH = 5000;

/**
 * Deletes attempts and events older than the retention period, in batches so no statement
 * holds locks for long. An event with a delivery still owed an attempt (due some day,
 * core/delivery-state.ts) is kept; deleting an event removes its
 * deliveries (FAILED ones were replayable until now) and their attempts, recent ones too.
 */
export async function applyRetention(pool: Pool, retentionMs: number, now = Date.now()): Promise<{ attempts: number; events: number }> {
  // Ids are time-ordered: "older than" is a primary-key range scan. Sets of ids are matched with
  // `= any(array(…))`, which the planner always serves from an index: `in (…)` let it hash-join
  // a sequential scan of the whole table when the set was large next to a small table.
  const cutoff = now - retentionMs;
  // Every statement here has an index made for it; with few old rows next to many young ones the
  // planner sometimes preferred reading a whole table, which at volume takes minutes.
  const db = await pool.connect();
  try {
    await db.query('set enable_seqscan = off');
    return await deleteOld(db, cutoff);
  } finally {
    await db.query('reset enable_seqscan').catch(() => {});
    db.release();
  }
}

async function deleteOld(db: PoolClient, cutoff: number): Promise<{ attempts: number; events: number }> {
  let attempts = 0;
  let events = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `delete from attempt where id = any(array(select id from attempt where id < $1 order by id limit $2))`,
      [lowestIdAt('att', cutoff), BATCH],
    );
    attempts += rowCount ?? 0;
    if ((rowCount ?? 0) < BATCH) break;
  }
  for (;;) {
    // No foreign keys cascade (see the Delivery entity): the event, its bodies under delivery
    // profiles, its deliveries, their attempts (retried by hand since the cutoff) and delivery_due
    // rows go in one statement.
    const { rows } = await db.query<{ events: string; attempts: string }>(
      `with old_event as (
         delete from event where id = any(array(
           select e.id from event e
            where e.id < $1
              -- A subquery per event (one index look-up each), never a join of every delivery.
              and not coalesce((select true from delivery d where d.event_id = e.id and ${dueSql('d', null)} limit 1), false)
            order by e.id limit $2))
         returning id
       ), old_delivery as (
         delete from delivery where event_id = any(array(select id from old_event)) returning id
       ), old_attempt as (
         delete from attempt where delivery_id = any(array(select id from old_delivery)) returning id
       ), old_body as (
         delete from event_body where event_id = any(array(select id from old_event))
       ), old_due as (
         -- None is owed an attempt; a row left over from before it ended goes with it.
         delete from delivery_due where delivery_id = any(array(select id from old_delivery))
       )
       select (select count(*) from old_event) as events, (select count(*) from old_attempt) as attempts`,
      [lowestIdAt('evt', cutoff), BATCH],
    );
    const deleted = Number(rows[0].events);
    events += deleted;
    attempts += Number(rows[0].attempts);
    if (deleted < BATCH) break;
  }
  return { attempts, events };
}

/** Runs applyRetention every 10 minutes on one worker (pg-boss schedule). */
export async function scheduleRetention(boss: PgBoss, pool: Pool, retentionMs: number, logger: Logger): Promise<void> {
  await boss.createQueue(RETENTION_QUEUE, { policy: 'singleton', retryLimit: 1 });
  await boss.schedule(RETENTION_QUEUE, '*/10 * * * *');
  await boss.work(RETENTION_QUEUE, async () => {
    const deleted = await applyRetention(pool, retentionMs);
    if (deleted.attempts || deleted.events) logger.info({ ...deleted, retentionMs }, 'retention: deleted old attempts and events');
  });
}
