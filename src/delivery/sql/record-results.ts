import type { PoolClient } from 'pg';
import {
  type AttemptTrigger,
  type DeliveryStatus,
  DUE_COLUMNS,
  dueRowOf,
  dueSql,
  GONE_REASON,
  owedCandidatesSql,
  WAITING_SQL,
  type WebhookStatus,
} from '../../core/delivery-state.ts';
import { encodeHeaderMap } from '../../core/header-log.ts';
import type { DeliveryIds } from '../../live/messages.ts';

export interface AttemptRow {
  id: string;
  deliveryId: string;
  webhookId: string;
  number: number;
  trigger: AttemptTrigger;
  startedAt: Date;
  durationMs: number;
  requestUrl: string;
  requestHeaders: Record<string, string>;
  responseStatus: number | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  error: string | null;
  errorMessage: string | null;
}

export interface DeliveryChange {
  id: string;
  status: DeliveryStatus;
  attemptCount: number;
  nextAttemptAt: Date | null;
  completedAt: Date | null;
  /** The trigger of the next attempt: kept when a one-off attempt is only postponed. */
  nextTrigger: AttemptTrigger;
  /** The trigger the delivery was claimed with; a different one in the row means a retry was asked for meanwhile. */
  claimedTrigger: AttemptTrigger;
  /** Present when an attempt was made: its time, response status and error kind. */
  attempt: { at: Date; responseStatus: number | null; error: string | null } | null;
}

/**
 * Inserts attempt rows with one statement, whatever their number. Rows travel as one JSON
 * document (JSON.stringify is native; pg's array-literal escaping of every column is not).
 */
export async function insertAttempts(client: PoolClient, attempts: AttemptRow[]): Promise<void> {
  if (attempts.length === 0) return;
  const rows = attempts.map((a) => ({
    id: a.id,
    delivery_id: a.deliveryId,
    webhook_id: a.webhookId,
    number: a.number,
    trigger: a.trigger,
    started_at: a.startedAt,
    duration_ms: a.durationMs,
    request_url: a.requestUrl,
    request_headers: encodeHeaderMap(a.requestHeaders),
    response_status: a.responseStatus,
    response_headers: a.responseHeaders === null ? null : encodeHeaderMap(a.responseHeaders),
    // PostgreSQL text cannot hold NUL; a binary response body must not block recording.
    response_body: a.responseBody?.replaceAll('\u0000', '\uFFFD') ?? null,
    error: a.error,
    error_message: a.errorMessage,
  }));
  await client.query(
    `insert into attempt (id, delivery_id, webhook_id, number, trigger, started_at, duration_ms, request_url,
                          request_headers, response_status, response_headers, response_body, error, error_message)
     select id, delivery_id, webhook_id, number, trigger, started_at, duration_ms, request_url,
            request_headers, response_status, response_headers, response_body, error, error_message
       from json_to_recordset($1::json) as x(id text, delivery_id text, webhook_id text, number int,
            trigger text, started_at timestamptz, duration_ms int, request_url text, request_headers text,
            response_status int, response_headers text, response_body text, error text, error_message text)`,
    [JSON.stringify(rows)],
  );
}

/**
 * Applies the new state of deliveries this worker holds and releases their leases. A row whose
 * lease another worker has taken meanwhile is left alone (its attempt is still on record).
 * A delivery still owed an attempt gets (or keeps, with its new due time) its delivery_due row;
 * one that is not loses it — for a fresh delivery sent once, a look-up that finds none.
 * Returns the ids of deliveries whose retry was asked for during the attempt: due again now.
 */
export async function updateDeliveries(client: PoolClient, changes: DeliveryChange[], workerId: string): Promise<string[]> {
  if (changes.length === 0) return [];
  const { rows } = await client.query<{ id: string; requeue: boolean }>(
    `with changed as (
     update delivery d set
        status = c.status,
        attempt_count = c.attempt_count,
        -- retryDelivery while the worker held it changed next_trigger: keep that request, due now
        -- (settle() in core/delivery-state.ts).
        next_attempt_at = case when d.next_trigger <> c.claimed_trigger then now() else c.next_attempt_at end,
        completed_at = case when d.next_trigger <> c.claimed_trigger then null else c.completed_at end,
        last_attempt_at = case when c.attempted then c.attempt_at else d.last_attempt_at end,
        last_response_status = case when c.attempted then c.response_status else d.last_response_status end,
        last_error = case when c.attempted then c.error else d.last_error end,
        next_trigger = case when d.next_trigger <> c.claimed_trigger then d.next_trigger else c.next_trigger end,
        locked_until = null,
        locked_by = null,
        updated_at = now()
      from json_to_recordset($1::json) as c(id text, status text, attempt_count int, next_attempt_at timestamptz,
           completed_at timestamptz, attempted boolean, attempt_at timestamptz, response_status int, error text,
           next_trigger text, claimed_trigger text)
     where d.id = c.id and d.locked_by = $2
     returning ${dueRowOf('d')}, d.status, d.next_trigger, d.next_trigger <> c.next_trigger as requeue
     ), owed as (
       insert into delivery_due (${DUE_COLUMNS})
       select ${dueRowOf('o')} from changed o where ${dueSql('o', null)} order by id
       on conflict (delivery_id) do update set due_at = excluded.due_at
     ), settled as (
       delete from delivery_due where delivery_id = any(array(select id from changed o where not (${dueSql('o', null)})))
     )
     select id, requeue from changed`,
    [
      JSON.stringify(
        changes.map((c) => ({
          id: c.id,
          status: c.status,
          attempt_count: c.attemptCount,
          next_attempt_at: c.nextAttemptAt,
          completed_at: c.completedAt,
          attempted: c.attempt !== null,
          attempt_at: c.attempt?.at ?? null,
          response_status: c.attempt?.responseStatus ?? null,
          error: c.attempt?.error ?? null,
          next_trigger: c.nextTrigger,
          claimed_trigger: c.claimedTrigger,
        })),
      ),
      workerId,
    ],
  );
  return rows.filter((r) => r.requeue).map((r) => r.id);
}

export interface WebhookHealth {
  webhookId: string;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  /** Whether a success is among these results (resets the failure streak). */
  hadSuccess: boolean;
  /** Failures after the last success here (or all of them when there was none). */
  trailingFailures: number;
  firstTrailingFailureAt: Date | null;
}

/** A webhook whose failure streak a success of the batch ended: the streak as it stood before the batch. */
export interface EndedStreak {
  webhookId: string;
  /** Failed attempts in a row before the batch. */
  failures: number;
  failingSince: Date | null;
}

/**
 * Folds a batch of results into each webhook's failure streak and last success/failure times.
 * Returns the webhooks that were failing before the batch and had a success in it (for
 * `delivery.recovered`), usually none. The streaks are read under a row lock in the same
 * statement — the latest committed ones, so two workers' batches never both see one streak end
 * — taken in id order, as every worker takes them.
 */
export async function updateWebhookHealth(client: PoolClient, health: WebhookHealth[]): Promise<EndedStreak[]> {
  if (health.length === 0) return [];
  const { rows } = await client.query<EndedStreak>(
    `with before as (
       select id, consecutive_failures, failing_since from webhook where id = any($1::text[]) order by id for update
     ), updated as (
       update webhook w set
           last_success_at = coalesce(h.last_success_at, w.last_success_at),
           last_failure_at = coalesce(h.last_failure_at, w.last_failure_at),
           consecutive_failures = case when h.had_success then h.trailing_failures else w.consecutive_failures + h.trailing_failures end,
           failing_since = case
             when h.trailing_failures = 0 then null
             when h.had_success then h.first_failure
             else coalesce(w.failing_since, h.first_failure) end
         from unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::boolean[], $5::int[], $6::timestamptz[])
              as h(id, last_success_at, last_failure_at, had_success, trailing_failures, first_failure)
         join before b on b.id = h.id
        where w.id = h.id
        returning w.id, h.had_success, b.consecutive_failures, b.failing_since)
     select id as "webhookId", consecutive_failures as failures, failing_since as "failingSince"
       from updated where had_success and consecutive_failures > 0`,
    [
      health.map((h) => h.webhookId),
      health.map((h) => h.lastSuccessAt),
      health.map((h) => h.lastFailureAt),
      health.map((h) => h.hadSuccess),
      health.map((h) => h.trailingFailures),
      health.map((h) => h.firstTrailingFailureAt),
    ],
  );
  return rows;
}

export interface DisabledWebhook {
  id: string;
  /** null: an operator webhook. */
  tenantId: string | null;
  url: string;
  reason: string;
  disabledAt: Date;
}

/**
 * Disables webhooks that answered 410 Gone, and those failing without a success for longer
 * than `disableAfterMs`. Their waiting deliveries become FAILED (replayable once re-enabled).
 */
export async function disableWebhooks(
  client: PoolClient,
  input: { gone: string[]; checked: string[]; disableAfterMs: number },
): Promise<{ webhooks: DisabledWebhook[]; failed: DeliveryIds[] }> {
  if (input.gone.length === 0 && input.checked.length === 0) return { webhooks: [], failed: [] };
  const { rows } = await client.query<DisabledWebhook>(
    `update webhook set status = 'DISABLED', updated_at = now(),
            disabled_reason = case when id = any($1::text[])
              then $5::text
              else 'Every delivery failed for ' || $3::text || ' (since ' || to_char(failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')' end
      where deleted_at is null and status <> 'DISABLED'
        and (id = any($1::text[])
             or (id = any($2::text[]) and failing_since < now() - make_interval(secs => $4::double precision / 1000)))
      returning id, tenant_id as "tenantId", url, disabled_reason as reason, updated_at as "disabledAt"`,
    [input.gone, input.checked, humanDuration(input.disableAfterMs), input.disableAfterMs, GONE_REASON],
  );
  if (rows.length === 0) return { webhooks: rows, failed: [] };
  // As deleteWebhook does: those no longer owed an attempt lose their delivery_due rows.
  const failed = await client.query<DeliveryIds>(
    `with failed as (
       update delivery set status = 'FAILED', completed_at = now(), next_attempt_at = null, last_error = 'WEBHOOK_DISABLED', updated_at = now()
        where id = any(array(${owedCandidatesSql('$1::text[]')}))
          and status in ${WAITING_SQL} and locked_by is null
        returning id, tenant_id, webhook_id, event_id, next_trigger
     ), gone as (
       delete from delivery_due where delivery_id = any(array(select id from failed where next_trigger = 'SCHEDULED'))
     )
     select id, tenant_id as "tenantId", webhook_id as "webhookId", event_id as "eventId" from failed`,
    [rows.map((r) => r.id)],
  );
  return { webhooks: rows, failed: failed.rows };
}

function humanDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

/** A throttle to write on a webhook (all null: none in force). */
export interface ThrottleRow {
  webhookId: string;
  concurrency: number | null;
  rate: number | null;
  reason: string | null;
  since: Date | null;
  /** The written time (epoch ms) of the shared throttle this one was reached from; 0: none. */
  basedOn: number;
  /** The writer lowered the limits since then. */
  lowered: boolean;
}

/** A throttle written, with the webhook it was written on and when (epoch ms, PostgreSQL's clock). */
export interface WrittenThrottle {
  webhookId: string;
  tenantId: string;
  status: WebhookStatus;
  writtenAt: number;
}

/**
 * Writes webhooks' throttles, each only if none was written in the last second (by any worker,
 * or updateWebhook): workers share one throttle per webhook, changed at most once a second, and
 * each change is announced (webhookStatusChanged). A throttle that lowers nothing (a climb) is
 * written only over the write it was reached from: a worker that has not yet read another's newer
 * throttle (a lift, say) must not put its older climb back over it; it reads the newer one with its
 * next claim. A decrease is news whoever is behind, and lowers the shared throttle whenever it is
 * below it. Returns those written; the others are offered again later (delivery/flow.ts).
 */
export async function writeThrottles(client: PoolClient, throttles: ThrottleRow[]): Promise<WrittenThrottle[]> {
  if (throttles.length === 0) return [];
  const { rows } = await client.query<WrittenThrottle>(
    `update webhook w set throttle_concurrency = t.concurrency, throttle_rate = t.rate, throttle_reason = t.reason,
            throttle_since = t.since, throttle_written_at = now()
       from json_to_recordset($1::json) as t(webhook_id text, concurrency int, rate double precision, reason text, since timestamptz,
                                             based_on double precision, lowered boolean)
      where w.id = t.webhook_id and w.adaptive_throttling and w.deleted_at is null
        and (w.throttle_written_at is null or w.throttle_written_at <= now() - interval '1 second')
        and (w.throttle_written_at is null
             or w.throttle_written_at < to_timestamp(t.based_on / 1000) + interval '1 millisecond'
             or (t.lowered and (coalesce(t.concurrency, w.max_in_flight) < coalesce(w.throttle_concurrency, w.max_in_flight)
                                or coalesce(t.rate, 'Infinity') < coalesce(w.throttle_rate, w.rate_limit, 'Infinity'))))
      returning w.id as "webhookId", w.tenant_id as "tenantId", w.status,
                extract(epoch from w.throttle_written_at) * 1000 as "writtenAt"`,
    [
      JSON.stringify(
        throttles.map((t) => ({
          webhook_id: t.webhookId,
          concurrency: t.concurrency,
          rate: t.rate,
          reason: t.reason,
          since: t.since,
          based_on: t.basedOn,
          lowered: t.lowered,
        })),
      ),
    ],
  );
  return rows.map((r) => ({ ...r, writtenAt: Number(r.writtenAt) }));
}
