import type { EntityManager } from '@mikro-orm/postgresql';
import { dueSql, WAITING_SQL } from '../core/delivery-state.ts';
import { lowestIdAt } from '../core/ids.ts';
import { rawQuery } from '../db/raw-query.ts';
import type { IWebhook } from '../entities/Webhook.ts';

export interface WebhookStats {
  deliveries24h: number;
  succeeded24h: number;
  failed24h: number;
  /** Succeeded / (succeeded + failed) among the last 24 h's finished deliveries; null when none finished. */
  successRate24h: number | null;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  consecutiveFailures: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  /**
   * Deliveries held back now, not yet sent: due but not yet taken by a worker (waiting for a slot
   * under maxInFlight, for the rate, or for a worker); taken, beyond the requests that can be open
   * (a worker queues up to a few times maxInFlight in hand: leased, due, and not counted before,
   * so 40 events to an endpoint allowing 4 at once showed 24 waiting while 36 were); and, on an
   * ACTIVE webhook, those waiting behind an earlier delivery of their ordering key.
   */
  waiting: number;
}

/** Requests that may be open to webhook `wh` now: its maxInFlight, or the throttle below it. */
const IN_FORCE_SQL = 'least(wh.max_in_flight, coalesce(wh.throttle_concurrency, wh.max_in_flight))';
/**
 * Requests that may be open to webhook `w` now: no more than the slots workers hold (a worker sends
 * only on a slot, flow.ts), nor than the limit in force. Under a rate a worker holds a slot or two
 * and queues the rest waiting for a send time: subtracting the whole maxInFlight undercounted those.
 */
const OPEN_SQL = `least((select count(*) from webhook_slot s where s.webhook_id = w.id and s.held_until >= now()),
                        (select ${IN_FORCE_SQL} from webhook wh where wh.id = w.id))`;

/** A delivery `d` a worker holds, due and not yet ended: queued in its lane or in flight. */
const TAKEN = (d: string) => `${d}.next_attempt_at <= now() and ${d}.status in ${WAITING_SQL} and ${d}.locked_until > now()`;

/** Attempts the latency percentiles are computed over. */
export const LATENCY_SAMPLE = 100;

/**
 * The health of several webhooks, computed in PostgreSQL in one statement. Ids are
 * time-ordered, so "created in the last 24 h" is `id > <id of 24 h ago>` on the
 * (webhook_id, id) indexes — no sequential scan. Last success/failure and the failure streak
 * are kept on the webhook row by the worker and read from it.
 */
export async function webhookStats(em: EntityManager, webhooks: readonly IWebhook[], now = new Date()): Promise<WebhookStats[]> {
  const since = lowestIdAt('dlv', now.getTime() - 24 * 3600 * 1000);
  const rows = await rawQuery<{
    id: string;
    deliveries: string;
    succeeded: string;
    failed: string;
    p50: number | null;
    p95: number | null;
    waiting: string;
  }>(
    em,
    `select w.id, d.deliveries, d.succeeded, d.failed, l.p50, l.p95,
            q.due + greatest(0, q.taken - ${OPEN_SQL}) + q.behind as waiting
       from unnest($1::text[], $4::boolean[]) as w(id, active),
            lateral (select count(*) as deliveries,
                            count(*) filter (where status = 'SUCCEEDED') as succeeded,
                            count(*) filter (where status = 'FAILED') as failed
                       from delivery where webhook_id = w.id and id > $2) d,
            lateral (select percentile_cont(0.5) within group (order by duration_ms) as p50,
                            percentile_cont(0.95) within group (order by duration_ms) as p95
                       from (select duration_ms from attempt where webhook_id = w.id order by id desc limit $3) recent) l,
            -- Owed deliveries are found through delivery_due and the open publish batches
            -- (core/delivery-state.ts, "Where owed deliveries are found"), in two index-served
            -- parts: a webhook's delivery_due rows, each checked on its delivery, and its fresh
            -- deliveries of open batches without one (a look-up per row: as an anti-join the
            -- planner may read all of delivery_due).
            lateral (select a.due + b.due as due, a.taken + b.taken as taken,
                            (select count(*) from delivery_due q join delivery d on d.id = q.delivery_id
                              where w.active and q.webhook_id = w.id and q.ordering_key is not null and q.due_at is null
                                and d.status in ${WAITING_SQL} and d.next_attempt_at is null) as behind
                       from (select count(*) filter (where ${dueSql('d', 'now()')}) as due, count(*) filter (where ${TAKEN('d')}) as taken
                               from delivery_due q
                              cross join lateral (select * from delivery d where d.id = q.delivery_id limit 1) d
                              where q.webhook_id = w.id and q.due_at <= now()) a,
                            (select count(*) filter (where ${dueSql('d', 'now()')}) as due, count(*) filter (where ${TAKEN('d')}) as taken
                               from delivery d
                              where d.webhook_id = w.id and d.id >= (select min(first_delivery_id) from delivery_batch)
                                and coalesce((select false from delivery_due q where q.delivery_id = d.id limit 1), true)) b) q`,
    [webhooks.map((w) => w.id), since, LATENCY_SAMPLE, webhooks.map((w) => w.status === 'ACTIVE')],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return webhooks.map((webhook) => {
    const row = byId.get(webhook.id);
    const succeeded = Number(row?.succeeded ?? 0);
    const failed = Number(row?.failed ?? 0);
    return {
      deliveries24h: Number(row?.deliveries ?? 0),
      succeeded24h: succeeded,
      failed24h: failed,
      successRate24h: succeeded + failed > 0 ? succeeded / (succeeded + failed) : null,
      lastSuccessAt: webhook.lastSuccessAt ?? null,
      lastFailureAt: webhook.lastFailureAt ?? null,
      consecutiveFailures: webhook.consecutiveFailures,
      latencyP50Ms: row?.p50 == null ? null : Math.round(row.p50),
      latencyP95Ms: row?.p95 == null ? null : Math.round(row.p95),
      waiting: Number(row?.waiting ?? 0),
    };
  });
}
