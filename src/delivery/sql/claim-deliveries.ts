import type { Pool } from 'pg';
import { type AttemptTrigger, type DeliveryStatus, dueSql, type WebhookStatus } from '../../core/delivery-state.ts';
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
}

/**
 * Takes a lease on those of the given deliveries that are due now (core/delivery-state.ts) and
 * returns them with their payloads and their webhooks' current settings — one round trip.
 * Rows already leased, ended or not yet due are skipped: a duplicate wake-up job is harmless.
 */
export async function claimDeliveries(
  pool: Pool,
  ids: string[],
  workerId: string,
  leaseMs: number,
): Promise<{ deliveries: ClaimedDelivery[]; webhooks: Map<string, WebhookForDelivery> }> {
  const { rows } = await pool.query<{ deliveries: ClaimedDelivery[]; webhooks: WebhookForDelivery[] }>(
    `with claimed as (
       update delivery d
          set locked_until = now() + make_interval(secs => $3::double precision / 1000), locked_by = $2
         from event e
        where d.id = any($1::text[])
          and e.id = d.event_id
          and ${dueSql('d', 'now()')}
        returning d.id, d.tenant_id as "tenantId", d.webhook_id as "webhookId", d.event_id as "eventId",
                  d.event_type as "eventType", d.status, d.attempt_count as "attemptCount",
                  d.next_trigger as trigger, e.payload, d.profile_version as "profileVersion")
     select coalesce((select json_agg(c) from claimed c), '[]') as deliveries,
            coalesce((select json_agg(json_build_object(
                'id', w.id, 'tenantId', w.tenant_id, 'url', w.url, 'status', w.status,
                'deleted', w.deleted_at is not null, 'secrets', w.secrets,
                'authEncrypted', w.auth_encrypted, 'headers', w.headers, 'retrySchedule', w.retry_schedule,
                'timeoutMs', w.timeout_ms, 'maxInFlight', w.max_in_flight))
              from webhook w where w.id in (select "webhookId" from claimed)), '[]') as webhooks`,
    [ids, workerId, leaseMs],
  );
  const { deliveries, webhooks } = rows[0];
  return { deliveries, webhooks: new Map(webhooks.map((w) => [w.id, w])) };
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

/** Gives deliveries back untouched (on shutdown), so another worker takes them at once. */
export async function releaseLeases(pool: Pool, ids: string[], workerId: string): Promise<void> {
  if (ids.length === 0) return;
  await pool.query(`update delivery set locked_until = null, locked_by = null where id = any($1::text[]) and locked_by = $2`, [
    ids,
    workerId,
  ]);
}
