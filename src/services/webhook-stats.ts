import type { EntityManager } from '@mikro-orm/postgresql';
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
}

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
  }>(
    em,
    `select w.id, d.deliveries, d.succeeded, d.failed, l.p50, l.p95
       from unnest($1::text[]) as w(id),
            lateral (select count(*) as deliveries,
                            count(*) filter (where status = 'SUCCEEDED') as succeeded,
                            count(*) filter (where status = 'FAILED') as failed
                       from delivery where webhook_id = w.id and id > $2) d,
            lateral (select percentile_cont(0.5) within group (order by duration_ms) as p50,
                            percentile_cont(0.95) within group (order by duration_ms) as p95
                       from (select duration_ms from attempt where webhook_id = w.id order by id desc limit $3) recent) l`,
    [webhooks.map((w) => w.id), since, LATENCY_SAMPLE],
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
    };
  });
}
