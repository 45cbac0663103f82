import type { Pool } from 'pg';

/** A slot of a webhook (entities/WebhookSlot.ts). */
export interface SlotRef {
  webhookId: string;
  slot: number;
}

/**
 * Takes up to `want` free slots below `limit` of each webhook for this worker, leased for
 * `leaseMs`, and returns the ones it got. Free: never used, released, or lapsed. Two workers
 * after the same slot serialise on its row and the second finds it held (ON CONFLICT … WHERE
 * is checked again once the first commits); rows are taken in one order, so no deadlock.
 */
export async function acquireSlots(
  pool: Pool,
  workerId: string,
  leaseMs: number,
  wanted: readonly { webhookId: string; limit: number; want: number }[],
): Promise<SlotRef[]> {
  if (wanted.length === 0) return [];
  const { rows } = await pool.query<SlotRef>(
    `with free as (
       select r.webhook_id, s.slot, r.want, row_number() over (partition by r.webhook_id order by s.slot) as n
         from json_to_recordset($1::json) as r(webhook_id text, lim int, want int)
        cross join lateral generate_series(0, r.lim - 1) as s(slot)
        where not exists (select 1 from webhook_slot f where f.webhook_id = r.webhook_id and f.slot = s.slot and f.held_until >= now()))
     insert into webhook_slot (webhook_id, slot, held_by, held_until)
     select webhook_id, slot, $2, now() + make_interval(secs => $3::double precision / 1000)
       from free where n <= want
      order by webhook_id, slot
     on conflict (webhook_id, slot) do update set held_by = excluded.held_by, held_until = excluded.held_until
      where webhook_slot.held_until < now()
     returning webhook_id as "webhookId", slot`,
    [JSON.stringify(wanted.map((w) => ({ webhook_id: w.webhookId, lim: w.limit, want: w.want }))), workerId, leaseMs],
  );
  return rows;
}

/**
 * Extends the leases of `slots`, the ones this worker knows it holds; returns those it still holds
 * (a slot lapsed and taken meanwhile is not). Only those: a row held in its name that it no longer
 * knows of (its release failed, or a taking whose answer was lost) lapses instead of being held
 * for ever by the renewals.
 */
export async function renewSlots(pool: Pool, workerId: string, leaseMs: number, slots: readonly SlotRef[]): Promise<SlotRef[]> {
  if (slots.length === 0) return [];
  const { rows } = await pool.query<SlotRef>(
    `update webhook_slot f set held_until = now() + make_interval(secs => $2::double precision / 1000)
       from unnest($3::text[], $4::int[]) as r(webhook_id, slot)
      where f.webhook_id = r.webhook_id and f.slot = r.slot and f.held_by = $1
      returning f.webhook_id as "webhookId", f.slot`,
    [workerId, leaseMs, slots.map((s) => s.webhookId), slots.map((s) => s.slot)],
  );
  return rows;
}

/** Frees slots of this worker (all of them, and its wants, when `slots` is omitted). */
export async function releaseSlots(pool: Pool, workerId: string, slots?: readonly SlotRef[]): Promise<void> {
  if (slots?.length === 0) return;
  if (!slots) {
    await pool.query(`update webhook_slot set held_by = null, held_until = now() where held_by = $1`, [workerId]);
    await pool.query(`delete from webhook_slot_want where worker_id = $1`, [workerId]);
    return;
  }
  await pool.query(
    `update webhook_slot f set held_by = null, held_until = now()
       from unnest($2::text[], $3::int[]) as r(webhook_id, slot)
      where f.webhook_id = r.webhook_id and f.slot = r.slot and f.held_by = $1`,
    [workerId, slots.map((s) => s.webhookId), slots.map((s) => s.slot)],
  );
}

/**
 * Notes that this worker wants more slots of the webhooks `wanting` than it holds, for `wantMs`
 * (entities/WebhookSlotWant.ts), and returns, for each webhook of `asked`, the other workers that
 * want its slots (webhook id → their worker ids, ascending; a webhook nobody else wants is absent).
 * Wants lapsed a while ago (their workers stopped or died) are deleted on the way. With nothing
 * `wanting` — always, for a worker alone — it writes nothing.
 */
export async function shareSlots(
  pool: Pool,
  workerId: string,
  wantMs: number,
  wanting: readonly string[],
  asked: readonly string[],
): Promise<Map<string, string[]>> {
  const { rows } = await pool.query<{ webhookId: string; workerId: string }>(
    `with noted as (
       insert into webhook_slot_want (webhook_id, worker_id, until)
       select w, $1, now() + make_interval(secs => $2::double precision / 1000) from unnest($3::text[]) as w order by w
       on conflict (webhook_id, worker_id) do update set until = excluded.until),
     gone as (delete from webhook_slot_want where until < now() - interval '1 minute')
     select webhook_id as "webhookId", worker_id as "workerId" from webhook_slot_want
      where webhook_id = any($4::text[]) and worker_id <> $1 and until >= now()
      order by webhook_id, worker_id`,
    [workerId, wantMs, wanting, asked],
  );
  const others = new Map<string, string[]>();
  for (const r of rows) {
    const ids = others.get(r.webhookId);
    if (ids) ids.push(r.workerId);
    else others.set(r.webhookId, [r.workerId]);
  }
  return others;
}

/** Send times reserved for one webhook: `count` of them, `spacingMs` apart from `first`. */
export interface Reserved {
  webhookId: string;
  /** The first send time, in this process's clock (epoch ms). */
  first: number;
  count: number;
  spacingMs: number;
}

/**
 * Reserves `count` send times for each webhook from its rate schedule (core/flow.ts, reserve():
 * from max(nextSendAt, now), `spacingMs` apart), moving the schedule past them. One row per
 * webhook, updated in place: concurrent workers queue on it and get consecutive times.
 */
export async function reserveSendTimes(
  pool: Pool,
  wanted: readonly { webhookId: string; count: number; spacingMs: number }[],
): Promise<Reserved[]> {
  if (wanted.length === 0) return [];
  const asked = Date.now();
  const { rows } = await pool.query<{ webhookId: string; nextAt: number; now: number }>(
    `insert into webhook_rate (webhook_id, next_send_at)
     select webhook_id, now() + make_interval(secs => count * spacing / 1000)
       from json_to_recordset($1::json) as r(webhook_id text, count int, spacing double precision)
      order by webhook_id
     on conflict (webhook_id) do update
        set next_send_at = greatest(webhook_rate.next_send_at, now()) + (excluded.next_send_at - now())
     returning webhook_id as "webhookId", extract(epoch from next_send_at) * 1000 as "nextAt", extract(epoch from now()) * 1000 as now`,
    [JSON.stringify(wanted.map((w) => ({ webhook_id: w.webhookId, count: w.count, spacing: w.spacingMs })))],
  );
  // PostgreSQL's clock to this process's: now() is the statement's start, about when it was asked.
  const offset = asked - Number(rows[0]?.now ?? asked);
  const byId = new Map(wanted.map((w) => [w.webhookId, w]));
  return rows.map((r) => {
    const w = byId.get(r.webhookId)!;
    return { webhookId: r.webhookId, count: w.count, spacingMs: w.spacingMs, first: Number(r.nextAt) + offset - w.count * w.spacingMs };
  });
}

/** A webhook whose throttle was lifted. */
export interface LiftedThrottle {
  id: string;
  tenantId: string | null;
  status: string;
}

/**
 * Lifts the throttles last written more than `quietMs` ago (core/throttle.ts QUIET_MS): a worker
 * still meeting signals writes its throttle again every third of that, so these are the webhooks
 * no worker sends to any more; the next campaign starts from the configured limits. Returns them,
 * to be announced. Reads the webhook table whole (a few thousand rows at most, every few seconds).
 */
export async function liftQuietThrottles(db: Pick<Pool, 'query'>, quietMs: number): Promise<LiftedThrottle[]> {
  const { rows } = await db.query<LiftedThrottle>(
    `update webhook set throttle_concurrency = null, throttle_rate = null, throttle_reason = null, throttle_since = null,
            throttle_written_at = now()
      where throttle_concurrency is not null
        and throttle_written_at < now() - make_interval(secs => $1::double precision / 1000)
      returning id, tenant_id as "tenantId", status`,
    [quietMs],
  );
  return rows;
}
