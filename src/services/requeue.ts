import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKysely, type PgBoss } from 'pg-boss';
import { type DeliveryStatus, MARK_OWED_SQL } from '../core/delivery-state.ts';
import { rawQuery } from '../db/raw-query.ts';
import { enqueueDeliveriesAt } from '../jobs/queue.ts';
import { deliveryMessage, notifyLive } from '../live/messages.ts';

/**
 * For deliveries just made due (their `next_attempt_at` set): their delivery_due rows, wake-up
 * jobs (at each delivery's priority) and QUEUED live messages, inside the caller's transaction.
 */
export async function requeue(tx: EntityManager, boss: PgBoss, rows: RequeuedRow[]): Promise<void> {
  if (rows.length === 0) return;
  await rawQuery(tx, MARK_OWED_SQL, [rows.map((r) => r.id)]);
  const byPriority = new Map<number, string[]>();
  for (const r of rows) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r.id]);
  await enqueueDeliveriesAt(
    boss,
    [...byPriority].map(([priority, ids]) => ({ ids, priority })),
    { db: fromKysely(tx.getKysely()) },
  );
  await notifyLive(
    (text, params) => rawQuery(tx, text, params),
    rows.map((r) => deliveryMessage(r, 'QUEUED', { status: r.status })),
  );
}

export interface RequeuedRow {
  id: string;
  tenantId: string | null;
  webhookId: string;
  eventId: string;
  status: DeliveryStatus;
  /** Its priority rank (core/flow.ts). */
  priority: number;
}

/** The RETURNING clause that gives a RequeuedRow. */
export const RETURNING = `returning id, tenant_id as "tenantId", webhook_id as "webhookId", event_id as "eventId", status, priority`;
