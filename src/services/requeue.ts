import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKysely, type PgBoss } from 'pg-boss';
import { rawQuery } from '../db/raw-query.ts';
import { enqueueDeliveries } from '../jobs/queue.ts';
import { deliveryMessage, notifyLive } from '../live/messages.ts';

/** Wake-up jobs and QUEUED live messages for re-queued deliveries, inside the caller's transaction. */
export async function requeue(tx: EntityManager, boss: PgBoss, rows: RequeuedRow[]): Promise<void> {
  await enqueueDeliveries(
    boss,
    rows.map((r) => r.id),
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
  status: string;
}

/** The RETURNING clause that gives a RequeuedRow. */
export const RETURNING = `returning id, tenant_id as "tenantId", webhook_id as "webhookId", event_id as "eventId", status`;
