import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../db/raw-query.ts';
import { lowestIdAt } from '../core/ids.ts';

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
}

/** Attempts the latency percentiles are computed over. */
export const LATENCY_SAMPLE = 100;

/**
 * A webhook's health, computed in PostgreSQL. Ids are time-ordered, so "created in the last
 * 24 h" is `id > <id of 24 h ago>` on the (webhook_id, id) indexes — no sequential scan.
 */
export async function webhookStats(em: EntityManager, webhookId: string, now = new Date()): Promise<WebhookStats> {
  const since = lowestIdAt('dlv', now.getTime() - 24 * 3600 * 1000);
  const [row] = await rawQuery<{
    deliveries: string;
    succeeded: string;
    failed: string;
    p50: number | null;
    p95: number | null;
    last_success_ms: string | null;
    last_failure_ms: string | null;
    consecutive_failures: number;
  }>(
    em,
    `select d.deliveries, d.succeeded, d.failed, l.p50, l.p95,
            -- As epoch milliseconds: MikroORM's connection returns timestamptz as raw text.
            extract(epoch from w.last_success_at) * 1000 as last_success_ms,
            extract(epoch from w.last_failure_at) * 1000 as last_failure_ms,
            w.consecutive_failures
       from webhook w,
            lateral (select count(*) as deliveries,
                            count(*) filter (where status = 'SUCCEEDED') as succeeded,
                            count(*) filter (where status = 'FAILED') as failed
                       from delivery where webhook_id = w.id and id > $2) d,
            lateral (select percentile_cont(0.5) within group (order by duration_ms) as p50,
                            percentile_cont(0.95) within group (order by duration_ms) as p95
                       from (select duration_ms from attempt where webhook_id = w.id order by id desc limit $3) recent) l
      where w.id = $1`,
    [webhookId, since, LATENCY_SAMPLE],
  );
  const succeeded = Number(row?.succeeded ?? 0);
  const failed = Number(row?.failed ?? 0);
  return {
    deliveries24h: Number(row?.deliveries ?? 0),
    succeeded24h: succeeded,
    failed24h: failed,
    successRate24h: succeeded + failed > 0 ? succeeded / (succeeded + failed) : null,
    lastSuccessAt: row?.last_success_ms == null ? null : new Date(Math.round(Number(row.last_success_ms))),
    lastFailureAt: row?.last_failure_ms == null ? null : new Date(Math.round(Number(row.last_failure_ms))),
    consecutiveFailures: row?.consecutive_failures ?? 0,
    latencyP50Ms: row?.p50 == null ? null : Math.round(row.p50),
    latencyP95Ms: row?.p95 == null ? null : Math.round(row.p95),
  };
}
