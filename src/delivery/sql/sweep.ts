import type { PoolClient } from 'pg';
import { dueSql } from '../../core/delivery-state.ts';

/** An arbitrary constant: only one worker sweeps at a time. */
const SWEEP_LOCK = 7_310_442_916;

/**
 * Finds deliveries that are due but have no live wake-up or worker: due by `overdueMs` ago
 * (never queued, queued jobs lost, or a worker that died mid-attempt and its lease lapsed).
 * Marks them due now and returns their ids for re-queueing in the same transaction. A webhook
 * of which a worker holds a slot is left alone: its due deliveries wait on purpose (flow
 * control), and that worker pulls them (delivery/flow.ts); once its slots lapse, they are found.
 */
export async function sweepOverdue(client: PoolClient, overdueMs: number, limit = 1000): Promise<string[] | null> {
  const { rows: locked } = await client.query<{ ok: boolean }>('select pg_try_advisory_xact_lock($1) as ok', [SWEEP_LOCK]);
  if (!locked[0].ok) return null;
  const { rows } = await client.query<{ id: string }>(
    `with due as (
       select id from delivery d
        where ${dueSql('d', 'now() - make_interval(secs => $1::double precision / 1000)')}
          and not exists (select 1 from webhook_slot s where s.webhook_id = d.webhook_id and s.held_until >= now())
        order by next_attempt_at
        limit $2
        for update skip locked)
     update delivery d set next_attempt_at = now(), locked_until = null, locked_by = null
       from due where d.id = due.id
     returning d.id`,
    [overdueMs, limit],
  );
  return rows.map((r) => r.id);
}
