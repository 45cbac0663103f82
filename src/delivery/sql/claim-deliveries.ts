import type { Pool } from 'pg';
import type { AttemptTrigger } from '../../entities/Attempt.ts';
import type { DeliveryStatus } from '../../entities/Delivery.ts';

export interface ClaimedDelivery {
  id: string;
  tenantId: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  /** The status before this attempt: final ones are being retried by hand. */
  status: DeliveryStatus;
  attemptCount: number;
  trigger: AttemptTrigger;
  payload: string;
}

/**
 * Takes a lease on the given deliveries that are due and not held by a live worker, and
 * returns them with their payloads. Due means `next_attempt_at` has passed and the delivery
 * is in its schedule, or a one-off attempt (manual retry, test) was asked for. Rows already leased, final or not yet due are skipped:
 * a duplicate wake-up job is harmless.
 */
export async function claimDeliveries(pool: Pool, ids: string[], workerId: string, leaseMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await pool.query(
    `update delivery d
        set locked_until = now() + make_interval(secs => $3::double precision / 1000), locked_by = $2
       from event e
      where d.id = any($1::text[])
        and e.id = d.event_id
        and (d.status in ('PENDING', 'RETRYING') or d.next_trigger <> 'SCHEDULED')
        and d.next_attempt_at <= now()
        and (d.locked_until is null or d.locked_until < now())
      returning d.id, d.tenant_id as "tenantId", d.webhook_id as "webhookId", d.event_id as "eventId",
                d.event_type as "eventType", d.status, d.attempt_count as "attemptCount",
                d.next_trigger as trigger, e.payload`,
    [ids, workerId, leaseMs],
  );
  return rows;
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
