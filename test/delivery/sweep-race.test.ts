import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { MARK_OWED_SQL } from '../../src/core/delivery-state.ts';
import { sweepOverdue } from '../../src/delivery/sql/sweep.ts';
import { createMigratedDatabase } from '../helpers/db.ts';
import { seedHistory } from '../helpers/history.ts';

// The sweep removes delivery_due rows left behind by deliveries no longer owed an attempt. A
// retry asked for by hand at that moment makes such a delivery owed again and keeps its row
// (moving its due time to now): the sweep must not remove it, or a lost wake-up job of that retry
// would never be found again.
let pool: pg.Pool;
beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await createMigratedDatabase(), max: 3 });
});
afterAll(() => pool?.end());

test('a retry asked for while the sweep removes its stale delivery_due row keeps that row', async () => {
  await pool.query(`insert into tenant (id, name, created_at) values ('ten_1', 't', now())`);
  await pool.query(
    `insert into webhook (id, tenant_id, url, events, secrets, headers, created_at, updated_at)
     values ('wh_1', 'ten_1', 'https://example.com/hook', '["*"]', '[]', '[]', now(), now())`,
  );
  const [seeded] = await seedHistory(pool, { tenantId: 'ten_1', webhookId: 'wh_1' }, [
    { at: Date.now() - 7200_000, status: 'FAILED', attempts: 3 },
  ]);
  const id = seeded.deliveryId;
  // Left over from when it was retrying, due an hour ago: the sweep's to remove.
  await pool.query(`insert into delivery_due (delivery_id, webhook_id, due_at) values ($1, 'wh_1', now() - interval '1 hour')`, [id]);

  const retry = await pool.connect();
  const sweep = await pool.connect();
  try {
    // The retry, as retryDelivery writes it, not yet committed.
    await retry.query('begin');
    await retry.query(`update delivery set next_trigger = 'MANUAL', next_attempt_at = now() where id = $1`, [id]);
    await retry.query(MARK_OWED_SQL, [[id]]);

    // The sweep reads the row as stale (its snapshot predates the retry) and waits on its lock.
    await sweep.query('begin');
    const sweeping = sweepOverdue(sweep, 15_000);
    await expect
      .poll(
        async () =>
          (
            await pool.query<{ n: number }>(
              `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%delivery_due%'`,
            )
          ).rows[0].n,
        { timeout: 10_000 },
      )
      .toBe(1);
    await retry.query('commit');
    expect(await sweeping).toEqual([]);
    await sweep.query('commit');
  } finally {
    retry.release();
    sweep.release();
  }
  const due = await pool.query('select delivery_id from delivery_due where delivery_id = $1', [id]);
  expect(due.rows).toHaveLength(1);
});
