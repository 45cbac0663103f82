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
 * evenly through the table: with few webhooks it expected a paused one's deliveries within the
 * first pages of a sequential scan, and read the whole table (a million rows, a second or more)
 * when they were at its end. Every part of the statement has an index made for it.
 */
export const GAUGE_SETTINGS = { enable_seqscan: 'off' };

/**
 * The PostgreSQL gauges in one statement, cheap whatever the backlog:
 *
 * - waiting deliveries are counted through indexes and at most EXACT_COUNT_LIMIT rows each way:
 *   those with a due time by the next_attempt_at index; those with none — a paused webhook's
 *   (by the webhook's index, due time or not), and those waiting behind an earlier delivery of
 *   their ordering key on a webhook that is not paused (by delivery_waiting_by_key, which also
 *   passes over each key's head) — per webhook. Above that they are estimated from PostgreSQL's
 *   statistics: the share of each status in the last ANALYZE times the table's current size, as
 *   the planner estimates. Until autovacuum analyzes a table that grew fast, the estimate may be
 *   low; the figure is then at least the exact part.
 * - the lag is the age of the oldest delivery that is due and not final, less what was held on
 *   purpose. Not due at all: a paused webhook's and those behind their ordering key (no due
 *   time). Held by the rate: a delivery of a webhook whose configured rateLimit is in force (not
 *   lowered by its adaptive throttle) waits its turn in the rate's schedule (webhook_rate) and
 *   counts only from when that schedule was last used up to: while workers reserve send times
 *   it is current and such deliveries add nothing; when they stop, the lag grows from then. A
 *   delivery waiting for a maxInFlight slot counts: its endpoint is behind. The oldest due
 *   delivery is read per webhook and priority from delivery_planned_by_webhook (one index row
 *   each), since a rate-held backlog may be any size. A delivery a worker has claimed counts
 *   until its attempt is recorded: claimed ones wait in their webhook's lane as often as they are
 *   in flight, and the table cannot tell which; an attempt in flight adds at most its timeout.
 *   Skipping leased rows would also make this read grow with what the workers hold (tens of
 *   thousands of rows in the benchmark).
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
    `with scheduled as (
       -- Ordered by next_attempt_at so that the plan walks that index and stops at the limit
       -- (a sequential scan would stop there too, but only after every final row before them).
       select d.status from delivery d
        where d.next_attempt_at is not null and d.status in ('PENDING', 'RETRYING')
          and not exists (select 1 from webhook w where w.id = d.webhook_id and w.status = 'PAUSED')
        order by d.next_attempt_at
        limit $1
     ), held as (
       -- Every waiting delivery of a paused webhook, due time or not, through the
       -- (webhook_id, status, id) index. See GAUGE_SETTINGS for why no sequential scan.
       select s.status from webhook w
        cross join (values ('PENDING'), ('RETRYING')) as s(status)
        cross join lateral (select 1 from delivery d where d.webhook_id = w.id and d.status = s.status limit $1) x
        where w.status = 'PAUSED'
        limit $1
     ), behind as (
       -- Those waiting behind an earlier delivery of their ordering key on the other webhooks:
       -- no due time either. Through delivery_waiting_by_key, passing over each key's head.
       select k.status from webhook w
        cross join lateral (
          select d.status from delivery d
           where d.webhook_id = w.id and d.ordering_key is not null and d.status in ${WAITING_SQL} and d.next_attempt_at is null
           limit $1) k
        where w.status <> 'PAUSED'
        limit $1
     ), counted as (
       select count(*) filter (where status = 'PENDING')::int as pending,
              count(*) filter (where status = 'RETRYING')::int as retrying
         from (select status from scheduled union all select status from held union all select status from behind) w
     )
     select c.pending, c.retrying,
            (select count(*) from scheduled) >= $1 or (select count(*) from held) >= $1 or (select count(*) from behind) >= $1 as capped,
            (select json_object_agg(f.status, f.share * t.reltuples / t.relpages * pg_relation_size(t.oid) / current_setting('block_size')::float8)
               from pg_class t
               join pg_stats s on s.schemaname = t.relnamespace::regnamespace::text and s.tablename = t.relname and s.attname = 'status'
               cross join unnest(s.most_common_vals::text::text[], s.most_common_freqs) as f(status, share)
              where t.oid = 'delivery'::regclass and t.relpages > 0 and t.reltuples > 0) as estimated,
            (select extract(epoch from now() - min(o.since))::float8
               from webhook w
               -- greatest() skips nulls: no schedule row yet (nothing sent) counts from the due time.
               left join webhook_rate r on r.webhook_id = w.id
                     and w.rate_limit is not null and (w.throttle_rate is null or w.throttle_rate >= w.rate_limit)
              cross join (values ${PRIORITY_VALUES}) as p(priority)
              cross join lateral (
                select greatest(d.next_attempt_at, r.next_send_at) as since from delivery d
                 where d.webhook_id = w.id and d.priority = p.priority
                   and d.next_attempt_at is not null and d.next_attempt_at <= now() and ${dueSql('d', null)}
                 order by d.next_attempt_at
                 limit 1) o) as lag,
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
