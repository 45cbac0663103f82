import type { Pool } from 'pg';
import { type AttemptTrigger, type DeliveryStatus, DUE_COLUMNS, dueRowOf, dueSql, type WebhookStatus } from '../../core/delivery-state.ts';
import { HIGH_RANK, laneCapSql, type Ordering } from '../../core/flow.ts';
import type { ThrottleReason } from '../../core/throttle.ts';
import type { CustomHeader, StoredSecret } from '../../entities/Webhook.ts';

export interface ClaimedDelivery {
  id: string;
  /** null: a delivery to an operator webhook. */
  tenantId: string | null;
  webhookId: string;
  eventId: string;
  eventType: string;
  /** The status before this attempt: final ones are being retried by hand. */
  status: DeliveryStatus;
  attemptCount: number;
  trigger: AttemptTrigger;
  /** Herald's envelope of the event (the body unless its profile version renders its own). */
  payload: string;
  /** The profile version the delivery was published with. */
  profileVersion: string;
  /** 0 HIGH, 1 NORMAL, 2 LOW (core/flow.ts). */
  priority: number;
  /** Set for a delivery of a KEYED webhook published with an orderingKey. */
  orderingKey: string | null;
}

/** A webhook's current settings, read with each claim so changes apply at once. */
export interface WebhookForDelivery {
  id: string;
  tenantId: string | null;
  url: string;
  status: WebhookStatus;
  deleted: boolean;
  secrets: StoredSecret[];
  authEncrypted: string | null;
  headers: CustomHeader[];
  retrySchedule: number[] | null;
  timeoutMs: number;
  maxInFlight: number;
  rateLimit: number | null;
  adaptiveThrottling: boolean;
  ordering: Ordering;
  /** The throttle workers share (all four set, or all null), and when it was last written (ISO). */
  throttleConcurrency: number | null;
  throttleRate: number | null;
  throttleReason: ThrottleReason | null;
  throttleSince: string | null;
  throttleWrittenAt: string | null;
}

/** Deliveries just leased, their webhooks, and the webhooks some of whose named deliveries were left in the table. */
export interface ClaimResult {
  deliveries: ClaimedDelivery[];
  webhooks: Map<string, WebhookForDelivery>;
  /** Webhooks with due deliveries among those named that were not taken for want of room. */
  leftOver: string[];
}

/** The lease a claim or pull writes on delivery `d`. */
const LEASE = `locked_until = now() + make_interval(secs => $3::double precision / 1000), locked_by = $2`;

/** What a claim or pull returns of each leased delivery `d` (with its event `e`). */
const CLAIMED_COLUMNS = `d.id, d.tenant_id as "tenantId", d.webhook_id as "webhookId", d.event_id as "eventId",
  d.event_type as "eventType", d.status, d.attempt_count as "attemptCount", d.next_trigger as trigger, e.payload,
  d.profile_version as "profileVersion", d.priority, d.ordering_key as "orderingKey"`;

/** The webhooks whose ids `ids` (SQL) selects, as JSON (one round trip with the claim). */
const webhooksOf = (ids: string) => `coalesce((select json_agg(json_build_object(
    'id', w.id, 'tenantId', w.tenant_id, 'url', w.url, 'status', w.status,
    'deleted', w.deleted_at is not null, 'secrets', w.secrets,
    'authEncrypted', w.auth_encrypted, 'headers', w.headers, 'retrySchedule', w.retry_schedule,
    'timeoutMs', w.timeout_ms, 'maxInFlight', w.max_in_flight, 'rateLimit', w.rate_limit,
    'adaptiveThrottling', w.adaptive_throttling, 'ordering', w.ordering,
    'throttleConcurrency', w.throttle_concurrency, 'throttleRate', w.throttle_rate,
    'throttleReason', w.throttle_reason, 'throttleSince', w.throttle_since, 'throttleWrittenAt', w.throttle_written_at))
  from webhook w where w.id in (${ids})), '[]')`;

/** The webhooks of the rows of CTE `claimed`. */
const WEBHOOKS_OF_CLAIMED = webhooksOf('select "webhookId" from claimed');

/**
 * Takes a lease on those of the given deliveries that are due now (core/delivery-state.ts) and
 * returns them with their payloads and their webhooks' current settings — one round trip.
 * Of each webhook it takes at most `rooms[webhookId]` (for a webhook not in `rooms`, its lane's
 * capacity, core/flow.ts laneCap), HIGH ones first and whatever the room; the rest stay in the
 * table for a pull (pullDeliveries) to take when there is room, given their delivery_due rows
 * (written once, here; nothing is written while they wait). Rows already leased, ended or not
 * yet due are skipped: a duplicate wake-up job is harmless.
 */
export async function claimDeliveries(
  pool: Pool,
  ids: string[],
  workerId: string,
  leaseMs: number,
  rooms: ReadonlyMap<string, number> = new Map(),
): Promise<ClaimResult> {
  const { rows } = await pool.query<{ deliveries: ClaimedDelivery[]; webhooks: WebhookForDelivery[]; left_over: string[] }>(
    `with named as (
       select d.id, d.webhook_id, d.priority,
              row_number() over (partition by d.webhook_id order by d.priority, d.next_attempt_at, d.id) as n,
              coalesce(r.room, ${laneCapSql('w')}, 2147483647) as room
         from delivery d
         left join webhook w on w.id = d.webhook_id
         left join json_to_recordset($4::json) as r(webhook_id text, room int) on r.webhook_id = d.webhook_id
        where d.id = any($1::text[]) and ${dueSql('d', 'now()')}
     ), claimed as (
       update delivery d set ${LEASE}
         from event e
        where d.id in (select id from named where n <= room or priority = ${HIGH_RANK})
          and e.id = d.event_id
          and ${dueSql('d', 'now()')}
        returning ${CLAIMED_COLUMNS}
     ), left_over as (
       -- A row it has already mirrors the delivery (core/delivery-state.ts). In id order, as the
       -- recorder writes its rows: two inserts of the same rows never wait on each other crosswise.
       insert into delivery_due (${DUE_COLUMNS})
       select ${dueRowOf('d')} from delivery d
        where d.id = any(array(select id from named where n > room and priority <> ${HIGH_RANK}))
        order by d.id
       on conflict (delivery_id) do nothing)
     select coalesce((select json_agg(c) from claimed c), '[]') as deliveries,
            ${WEBHOOKS_OF_CLAIMED} as webhooks,
            coalesce((select json_agg(distinct webhook_id) from named where n > room and priority <> ${HIGH_RANK}), '[]') as left_over`,
    [ids, workerId, leaseMs, JSON.stringify([...rooms].map(([webhook_id, room]) => ({ webhook_id, room })))],
  );
  return resultOf(rows[0]);
}

/**
 * Leases up to `room` due deliveries of each webhook (only HIGH ones with `highOnly`), HIGH
 * first then the longest due — the webhooks this worker holds slots of and has room for — with
 * the settings of every webhook asked for, whether any came or not: a worker whose lane is full
 * takes nothing, and would otherwise not see a pause until its lane drained. They are found
 * through their delivery_due rows (a claim or a worker that gave them back wrote them, or the
 * sweep once their publish batch was lease/2 old: a fresh delivery its wake-up job has not
 * reached yet is left to that job). Rows another worker is claiming at the same moment are
 * skipped, not waited for.
 */
export async function pullDeliveries(
  pool: Pool,
  workerId: string,
  leaseMs: number,
  wanted: readonly { webhookId: string; room: number; highOnly?: boolean }[],
): Promise<ClaimResult> {
  const { rows } = await pool.query<{ deliveries: ClaimedDelivery[]; webhooks: WebhookForDelivery[] }>(
    `with chosen as (
       select p.id
         from json_to_recordset($1::json) as r(webhook_id text, room int, high_only boolean)
        cross join lateral (
          select d.id from delivery_due q join delivery d on d.id = q.delivery_id
           where q.webhook_id = r.webhook_id and q.due_at <= now() and ${dueSql('d', 'now()')}
             and (not r.high_only or q.priority = ${HIGH_RANK})
           order by q.priority, q.due_at
           limit r.room
           for update of d skip locked) p
     ), claimed as (
       update delivery d set ${LEASE}
         from event e
        where d.id in (select id from chosen) and e.id = d.event_id and ${dueSql('d', 'now()')}
        returning ${CLAIMED_COLUMNS})
     select coalesce((select json_agg(c) from claimed c), '[]') as deliveries,
            ${webhooksOf('select webhook_id from json_to_recordset($1::json) as r(webhook_id text)')} as webhooks`,
    [JSON.stringify(wanted.map((w) => ({ webhook_id: w.webhookId, room: w.room, high_only: w.highOnly ?? false }))), workerId, leaseMs],
  );
  return resultOf({ ...rows[0], left_over: [] });
}

function resultOf(row: { deliveries: ClaimedDelivery[]; webhooks: WebhookForDelivery[]; left_over: string[] }): ClaimResult {
  return { deliveries: row.deliveries, webhooks: new Map(row.webhooks.map((w) => [w.id, w])), leftOver: row.left_over };
}

/** Extends this worker's leases on deliveries it still holds. */
export async function renewLeases(pool: Pool, ids: string[], workerId: string, leaseMs: number): Promise<void> {
  if (ids.length === 0) return;
  await pool.query(
    `update delivery set locked_until = now() + make_interval(secs => $3::double precision / 1000)
      where id = any($1::text[]) and locked_by = $2`,
    [ids, workerId, leaseMs],
  );
}

/**
 * Gives deliveries back untouched (on shutdown, or to leave them to the worker holding their
 * webhook's slots). With `findable`, those still owed get delivery_due rows, for that worker's
 * pulls to find (on shutdown each gets a fresh wake-up job instead).
 */
export async function releaseLeases(pool: Pool, ids: string[], workerId: string, findable = false): Promise<void> {
  if (ids.length === 0) return;
  if (!findable) {
    await pool.query(`update delivery set locked_until = null, locked_by = null where id = any($1::text[]) and locked_by = $2`, [
      ids,
      workerId,
    ]);
    return;
  }
  await pool.query(
    `with released as (
       update delivery d set locked_until = null, locked_by = null where d.id = any($1::text[]) and d.locked_by = $2
       returning ${dueRowOf('d')}, d.status, d.next_trigger
     )
     insert into delivery_due (${DUE_COLUMNS})
     select ${dueRowOf('r')} from released r where ${dueSql('r', null)} order by r.id
     on conflict (delivery_id) do nothing`,
    [ids, workerId],
  );
}
