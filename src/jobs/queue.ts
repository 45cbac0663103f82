import type { Db, PgBoss } from 'pg-boss';
import { NORMAL_RANK } from '../core/flow.ts';

/**
 * pg-boss only wakes workers; the delivery rows are the truth. A job names a chunk of
 * deliveries that are due at its start time, so a burst of 10 000 deliveries is 100 jobs.
 */
export const DELIVERY_QUEUE = 'herald-deliveries';
export const DELIVERIES_PER_JOB = 100;

export interface DeliveryJobData {
  /** Delivery ids. */
  d: string[];
}

export async function createDeliveryQueue(boss: PgBoss): Promise<void> {
  await boss.createQueue(DELIVERY_QUEUE, {
    notify: true,
    // A job's work is claiming rows; if that fails, the sweep re-queues them anyway.
    retryLimit: 2,
    retryDelay: 1,
    expireInSeconds: 300,
    deleteAfterSeconds: 3600,
    retentionSeconds: 7 * 24 * 3600,
  });
}

/** Inserts wake-up jobs for `ids` (due at `startAfter`, default now) through `db`, e.g. inside a transaction. */
export async function enqueueDeliveries(boss: PgBoss, ids: readonly string[], options: { db?: Db; startAfter?: Date } = {}): Promise<void> {
  await enqueueDeliveriesAt(boss, [{ ids, startAfter: options.startAfter }], options);
}

/**
 * The wake-up job priority of deliveries of a priority rank (core/flow.ts): HIGH jobs are fetched
 * before older NORMAL ones (pg-boss fetches by priority, then age), LOW ones after.
 */
export function jobPriority(rank: number): number {
  return 1 - rank;
}

/** Wake-up jobs for several groups of deliveries, each due at its own time and with its own priority rank, in one insert. */
export async function enqueueDeliveriesAt(
  boss: PgBoss,
  groups: readonly { ids: readonly string[]; startAfter?: Date; priority?: number }[],
  options: { db?: Db } = {},
): Promise<void> {
  const jobs = [];
  for (const { ids, startAfter, priority } of groups) {
    const rank = priority === undefined || priority === NORMAL_RANK ? {} : { priority: jobPriority(priority) };
    for (let i = 0; i < ids.length; i += DELIVERIES_PER_JOB) {
      const data: DeliveryJobData = { d: ids.slice(i, i + DELIVERIES_PER_JOB) };
      jobs.push({ data, ...rank, ...(startAfter ? { startAfter } : {}) });
    }
  }
  if (jobs.length === 0) return;
  await boss.insert(DELIVERY_QUEUE, jobs, options.db ? { db: options.db } : undefined);
}
