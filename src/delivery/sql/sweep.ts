import type { PoolClient } from 'pg';
import { DUE_COLUMNS, dueRowOf, dueSql } from '../../core/delivery-state.ts';
import { lowestIdAt } from '../../core/ids.ts';

/** An arbitrary constant: only one worker sweeps at a time. */
const SWEEP_LOCK = 7_310_442_916;
/** Publish batches looked over per sweep; the rest wait for the next. */
const BATCHES_PER_SWEEP = 500;

/**
 * Finds deliveries that are due but have no live wake-up or worker: due by `overdueMs` ago
 * (never queued, queued jobs lost, or a worker that died mid-attempt and its lease lapsed).
 * Marks them due now and returns their ids for re-queueing in the same transaction.
 *
 * First it looks over the publish batches older than `overdueMs` (delivery_batch): each of their
 * deliveries still owed an attempt gets a delivery_due row, and the batch row goes. Then it
 * tidies the delivery_due rows due by then: a row whose delivery is no longer owed (or gone)
 * goes, and one whose due time no longer mirrors its delivery's is corrected. Then it takes the
 * due ones (core/delivery-state.ts, "Where owed deliveries are found"). A webhook
 * of which a worker holds a slot is left alone: its due deliveries wait on purpose (flow
 * control), and that worker pulls them (delivery/flow.ts) through their delivery_due rows; once
 * its slots lapse, they are found.
 */
export async function sweepOverdue(client: PoolClient, overdueMs: number, limit = 1000): Promise<string[] | null> {
  const { rows: locked } = await client.query<{ ok: boolean }>('select pg_try_advisory_xact_lock($1) as ok', [SWEEP_LOCK]);
  if (!locked[0].ok) return null;
  // Sets of ids are matched with `= any(array(…))` and rows looked up in laterals, which the
  // planner serves from indexes whatever the sizes (a join let it scan whole tables).
  await client.query(
    `with old as (
       delete from delivery_batch where first_delivery_id = any(array(
         select first_delivery_id from delivery_batch where first_delivery_id < $1 order by first_delivery_id limit $2))
       returning first_delivery_id, last_delivery_id
     )
     insert into delivery_due (${DUE_COLUMNS})
     select d.*
       from old b cross join lateral (
         select ${dueRowOf('d')} from delivery d
          where d.id between b.first_delivery_id and b.last_delivery_id and ${dueSql('d', null)}
          -- Kept a subquery per batch (a range of the primary key): pulled up into a join, the
          -- planner may read the whole table for a few batches.
          order by d.id) d
      -- In id order, as the recorder writes its rows: two inserts of the same rows never wait on each other crosswise.
      order by d.id
     on conflict (delivery_id) do nothing`,
    [lowestIdAt('dlv', Date.now() - overdueMs), BATCHES_PER_SWEEP],
  );
  const overdue = 'now() - make_interval(secs => $1::double precision / 1000)';
  await client.query(
    `with overdue as (
       select q.delivery_id, q.due_at, coalesce(x.owed, false) as owed, x.next_attempt_at
         from (select delivery_id, due_at from delivery_due where due_at <= ${overdue} order by due_at limit $2) q
         left join lateral (
           select ${dueSql('d', null)} as owed, d.next_attempt_at from delivery d where d.id = q.delivery_id limit 1) x on true
     ), gone as (
       -- "still overdue" is checked again on the row itself: a retry asked for meanwhile moved
       -- its due time to now and must keep its row (PostgreSQL re-reads a row changed by a
       -- concurrent transaction, and the array above was computed before that change).
       delete from delivery_due
        where delivery_id = any(array(select delivery_id from overdue where not owed)) and due_at <= ${overdue}
     )
     update delivery_due q set due_at = (select o.next_attempt_at from overdue o where o.delivery_id = q.delivery_id)
      where q.delivery_id = any(array(select delivery_id from overdue where owed and next_attempt_at is distinct from due_at))
        and q.due_at <= ${overdue}`,
    [overdueMs, limit],
  );
  const { rows } = await client.query<{ id: string }>(
    `with candidates as (
       -- Each row's delivery checked in a subquery of its own: one index look-up per row.
       select q.delivery_id from delivery_due q
        where q.due_at <= ${overdue}
          and coalesce((select ${dueSql('d', overdue)} from delivery d where d.id = q.delivery_id limit 1), false)
          and not exists (select 1 from webhook_slot s where s.webhook_id = q.webhook_id and s.held_until >= now())
        order by q.due_at
        limit $2
     ), due as (
       select d.id from delivery d
        where d.id = any(array(select delivery_id from candidates)) and ${dueSql('d', overdue)}
        for update skip locked
     ), requeued as (
       update delivery d set next_attempt_at = now(), locked_until = null, locked_by = null
        where d.id = any(array(select id from due))
       returning d.id
     ), moved as (
       update delivery_due set due_at = now() where delivery_id = any(array(select id from requeued))
     )
     select id from requeued`,
    [overdueMs, limit],
  );
  return rows.map((r) => r.id);
}
