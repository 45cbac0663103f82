import type { Db } from 'pg-boss';
import { DELIVERY_EXHAUSTED, type DeliveryExhaustedData, type Notice } from '../core/operational-events.ts';

type Exhausted = Extract<Notice, { type: typeof DELIVERY_EXHAUSTED }>;

/**
 * Keeps a failing campaign from flooding anyone with `delivery.exhausted`: the first of a webhook
 * opens a window of `windowMs` and goes out at once; the ones after it, until the window closes,
 * are only counted in the webhook's `exhausted_fold` row (one statement for the whole batch, in
 * the caller's transaction), and closeFoldWindows() sends them as one follow-up. Returns the
 * notices to send now: every other kind, and the first exhausted one of each webhook whose window
 * this call opened.
 */
export async function foldExhausted(db: Db, notices: readonly Notice[], windowMs: number): Promise<Notice[]> {
  const byWebhook = new Map<string, Exhausted[]>();
  const now: Notice[] = [];
  for (const notice of notices) {
    if (notice.type !== DELIVERY_EXHAUSTED) {
      now.push(notice);
      continue;
    }
    const list = byWebhook.get(notice.webhookId);
    if (list) list.push(notice);
    else byWebhook.set(notice.webhookId, [notice]);
  }
  if (byWebhook.size === 0) return now;
  // A new row counts all but the first (sent now); an open window counts them all. Locked by
  // its upsert, a row is never closed while a batch folds into it (closeFoldWindows skips it).
  // Rows go in webhook id order, so that two batches wait for each other rather than deadlock;
  // `xmax = 0` tells a row this statement inserted from one it updated.
  const { rows } = await db.executeSql(
    `insert into exhausted_fold (webhook_id, tenant_id, opened_at, closes_at, count, latest)
     select webhook_id, tenant_id, opened_at, now() + make_interval(secs => $2::double precision / 1000), n - 1, latest
       from json_to_recordset($1::json) as x(webhook_id text, tenant_id text, opened_at timestamptz, n int, latest jsonb)
     on conflict (webhook_id) do update set count = exhausted_fold.count + excluded.count + 1, latest = excluded.latest
     returning webhook_id as "webhookId", xmax = 0 as opened`,
    [
      JSON.stringify(
        [...byWebhook.values()]
          .sort((a, b) => (a[0].webhookId < b[0].webhookId ? -1 : 1))
          .map((list) => ({
            webhook_id: list[0].webhookId,
            tenant_id: list[0].tenantId,
            opened_at: list[0].data.failedAt,
            n: list.length,
            latest: list.at(-1)!.data,
          })),
      ),
      windowMs,
    ],
  );
  for (const row of rows as { webhookId: string; opened: boolean }[]) {
    if (row.opened) now.push(byWebhook.get(row.webhookId)![0]);
  }
  return now;
}

/**
 * Deletes the fold windows whose time is up (at most `limit`) and returns their follow-ups (for
 * windows that folded any): a `delivery.exhausted` whose `count` is the deliveries folded, with
 * the ids of the last of them and `since` the window's opening. Windows a batch is folding into
 * right now are left for the next call. Send the follow-ups in the same transaction.
 */
export async function takeClosedWindows(db: Db, limit: number): Promise<{ closed: number; followUps: Notice[] }> {
  const { rows } = await db.executeSql(
    `delete from exhausted_fold f
       using (select webhook_id from exhausted_fold where closes_at <= now() order by closes_at limit $1 for update skip locked) due
      where f.webhook_id = due.webhook_id
     returning f.webhook_id as "webhookId", f.tenant_id as "tenantId", f.opened_at as "openedAt", f.count, f.latest`,
    [limit],
  );
  const closed = rows as { webhookId: string; tenantId: string; openedAt: Date; count: number; latest: DeliveryExhaustedData }[];
  const followUps: Notice[] = closed
    .filter((row) => row.count > 0)
    .map((row) => ({
      type: DELIVERY_EXHAUSTED,
      tenantId: row.tenantId,
      webhookId: row.webhookId,
      data: followUpData(row.latest, row.count, new Date(row.openedAt)),
    }));
  return { closed: closed.length, followUps };
}

/** The follow-up's data: the last folded one's, in the documented order (jsonb kept them sorted its own way), with the window's count and start. */
function followUpData(latest: DeliveryExhaustedData, count: number, since: Date): DeliveryExhaustedData {
  const { webhookId, url, deliveryId, eventId, eventType, attemptCount, lastResponseStatus, lastError, failedAt } = latest;
  return {
    webhookId,
    url,
    deliveryId,
    eventId,
    eventType,
    attemptCount,
    lastResponseStatus,
    lastError,
    failedAt,
    count,
    since: since.toISOString(),
  };
}
