import { dueSql, WAITING_SQL } from '../../core/delivery-state.ts';
import { PRIORITY_RANK } from '../../core/flow.ts';
import type { DatabaseGauges } from '../../metrics.ts';
import type { OpsQuery } from './read-readiness.ts';

/** Waiting deliveries are counted exactly up to this many per kind; above it they are estimated. */
export const EXACT_COUNT_LIMIT = 1000;

/** Every priority rank, as SQL VALUES rows: the oldest due delivery is read per webhook and rank. */
const PRIORITY_VALUES = Object.values(PRIORITY_RANK)
  .map((rank) => `(${rank})`)
  .join(', ');

/**
 * For the gauges statement alone. A LIMIT makes the planner assume that matching rows are spread
 * evenly through the table: it expected the rows it wanted within the first pages of a
 * sequential scan, and read the whole table (a million rows, a second or more) when they were at
 * its end. Every part of the statement has an index made for it.
 */
export const GAUGE_SETTINGS = { enable_seqscan: 'off' };

/** A webhook `w` whose own rateLimit is in force (not lowered by its adaptive throttle). */
const RATE_IN_FORCE = (w: string) =>
  `${w}.rate_limit is not null and (${w}.throttle_rate is null or ${w}.throttle_rate >= ${w}.rate_limit)`;

/**
 * The PostgreSQL gauges in one statement, cheap whatever the backlog. Deliveries owed an attempt
 * are found where core/delivery-state.ts says ("Where owed deliveries are found"): their
 * delivery_due rows, or the publish batches the sweep has not yet looked over.
 *
 * - waiting deliveries are counted at most EXACT_COUNT_LIMIT rows each way (delivery_due rows —
 *   parked ones, those behind their ordering key and those a claim left for a pull included;
 *   fresh deliveries of publish batches, each batch's id range on the delivery table's primary
 *   key), each checked on its delivery row, and above that estimated from PostgreSQL's
 *   statistics: the share of each status in the last ANALYZE times the table's current size, as
 *   the planner estimates. Until autovacuum analyzes a table that grew fast, the estimate may be
 *   low; the figure is then at least the exact part.
 * - the lag is the age of the oldest delivery that is due and not final, less what was held on
 *   purpose. Not due at all: a paused webhook's and those behind their ordering key (no due
 *   time). Held by the rate: a delivery of a webhook whose configured rateLimit is in force waits
 *   its turn in the rate's schedule (webhook_rate) and counts only from when that schedule was
 *   last used up to: while workers reserve send times it is current and such deliveries add
 *   nothing; when they stop, the lag grows from then. A delivery waiting for a maxInFlight slot
 *   counts: its endpoint is behind. The oldest due delivery_due row is read per webhook and
 *   priority (one index row each, delivery_due_by_webhook), since a rate-held backlog may be any
 *   size; of each publish batch, the first owed delivery of a webhook not held by its rate (a
 *   rate-held one counts once it has a delivery_due row: a claim leaves all but the rate's next
 *   two seconds for a pull). A delivery a worker has claimed counts until its attempt is
 *   recorded: claimed ones wait in their webhook's lane as often as they are in flight, and the
 *   table cannot tell which; an attempt in flight adds at most its timeout. Skipping leased rows
 *   would also make this read grow with what the workers hold (tens of thousands of rows in the
 *   benchmark).
 * - webhooks are counted whole (a small table).
 */
export async function readGauges(query: OpsQuery, limit = EXACT_COUNT_LIMIT): Promise<DatabaseGauges> {
  const [row] = await query<{
    pending: number;
    retrying: number;
    capped: boolean;
    estimated: Record<string, number> | null;
    lag: number | null;
    webhooks: Record<string, number> | null;
  }>(
    `with listed as (
       -- Driven by delivery_due, each row checked on its delivery (the lateral's LIMIT keeps the
       -- planner from turning it round into a walk of the whole delivery table).
       select x.status from delivery_due q
        cross join lateral (select d.status from delivery d where d.id = q.delivery_id and d.status in ${WAITING_SQL} limit 1) x
        limit $1
     ), fresh as (
       -- A fresh delivery given a delivery_due row (left for a pull, or retried already) is counted there.
       select x.status from delivery_batch b
        cross join lateral (
          select d.status from delivery d
           where d.id between b.first_delivery_id and b.last_delivery_id and d.status in ${WAITING_SQL}
             and not exists (select 1 from delivery_due q where q.delivery_id = d.id)
           limit $1) x
        limit $1
     ), counted as (
       select count(*) filter (where status = 'PENDING')::int as pending,
              count(*) filter (where status = 'RETRYING')::int as retrying
         from (select status from listed union all select status from fresh) w
     )
     select c.pending, c.retrying,
            (select count(*) from listed) >= $1 or (select count(*) from fresh) >= $1 as capped,
            (select json_object_agg(f.status, f.share * t.reltuples / t.relpages * pg_relation_size(t.oid) / current_setting('block_size')::float8)
               from pg_class t
               join pg_stats s on s.schemaname = t.relnamespace::regnamespace::text and s.tablename = t.relname and s.attname = 'status'
               cross join unnest(s.most_common_vals::text::text[], s.most_common_freqs) as f(status, share)
              where t.oid = 'delivery'::regclass and t.relpages > 0 and t.reltuples > 0) as estimated,
            extract(epoch from now() - least(
              (select min(o.since)
                 from webhook w
                 -- greatest() skips nulls: no schedule row yet (nothing sent) counts from the due time.
                 left join webhook_rate r on r.webhook_id = w.id and ${RATE_IN_FORCE('w')}
                cross join (values ${PRIORITY_VALUES}) as p(priority)
                cross join lateral (
                  select greatest(q.due_at, r.next_send_at) as since from delivery_due q
                   where q.webhook_id = w.id and q.priority = p.priority and q.due_at <= now()
                     and coalesce((select ${dueSql('d', null)} from delivery d where d.id = q.delivery_id limit 1), false)
                   order by q.due_at
                   limit 1) o),
              (select min(x.next_attempt_at) from delivery_batch b
                cross join lateral (
                  select d.next_attempt_at from delivery d
                   where d.id between b.first_delivery_id and b.last_delivery_id and ${dueSql('d', null)} and d.next_attempt_at <= now()
                     and not exists (select 1 from webhook w where w.id = d.webhook_id and ${RATE_IN_FORCE('w')})
                   order by d.id limit 1) x)
            ))::float8 as lag,
            (select json_object_agg(status, n) from (select status, count(*)::int as n from webhook where deleted_at is null group by status) w) as webhooks
       from counted c`,
    [limit],
    GAUGE_SETTINGS,
  );
  const waiting = { PENDING: row.pending, RETRYING: row.retrying };
  if (row.capped) {
    for (const status of ['PENDING', 'RETRYING'] as const) {
      waiting[status] = Math.max(waiting[status], Math.round(row.estimated?.[status] ?? 0));
    }
  }
  return { waiting, lagSeconds: Math.max(0, row.lag ?? 0), webhooks: row.webhooks ?? {} };
}
