import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKysely, type PgBoss } from 'pg-boss';
import { rawQuery } from '../db/raw-query.ts';
import { enqueueDeliveriesAt } from '../jobs/queue.ts';
import { deliveryMessage, notifyLive } from '../live/messages.ts';

/** Wake-up jobs (at each delivery's priority) and QUEUED live messages for re-queued deliveries, inside the caller's transaction. */
export async function requeue(tx: EntityManager, boss: PgBoss, rows: RequeuedRow[]): Promise<void> {
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
  status: string;
  /** Its priority rank (core/flow.ts). */
  priority: number;
}

/** The RETURNING clause that gives a RequeuedRow. */
export const RETURNING = `returning id, tenant_id as "tenantId", webhook_id as "webhookId", event_id as "eventId", status, priority`;
