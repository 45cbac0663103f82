import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ATTEMPT_TRIGGERS,
  type AttemptTrigger,
  type Decision,
  type DeliveryState,
  decide,
  dueSql,
  isDue,
  settle,
} from '../../src/core/delivery-state.ts';
import { applyRetention } from '../../src/delivery/retention.ts';
import { claimDeliveries } from '../../src/delivery/sql/claim-deliveries.ts';
import { updateDeliveries } from '../../src/delivery/sql/record-results.ts';
import { sweepOverdue } from '../../src/delivery/sql/sweep.ts';
import { createMigratedDatabase } from '../helpers/db.ts';
import { dueCases } from '../helpers/due-cases.ts';
import { DAY, idAt } from '../helpers/history.ts';

/**
 * The lifecycle's rules have a TypeScript form (core/delivery-state.ts, unit-tested) and an
 * SQL form that the worker and retention run. Here both meet the same rows on PostgreSQL:
 * every combination of status, next trigger, due time and lease.
 */
let pool: pg.Pool;
/** PostgreSQL's clock when the rows were written; the cases' times are relative to it. */
let base: Date;
let cases: ReturnType<typeof dueCases>;
const ids = new Map<string, { delivery: string; event: string }>();

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await createMigratedDatabase(), max: 2 });
  await pool.query(`insert into tenant (id, name, created_at) values ('ten_x', 'parity', now())`);
});
afterAll(() => pool?.end());

/**
 * Writes one event and one delivery per case, as old as retention would delete; each owed an
 * attempt has its delivery_due row, as the migration that brought that table gives it.
 */
async function seed(): Promise<void> {
  await pool.query('truncate delivery, event, delivery_due, delivery_batch');
  base = (await pool.query<{ now: Date }>('select now()')).rows[0].now;
  cases = dueCases(base);
  const old = base.getTime() - 40 * DAY;
  for (const c of cases) ids.set(c.name, { delivery: idAt('dlv', old), event: idAt('evt', old) });
  const column = <T>(pick: (c: (typeof cases)[number]) => T) => cases.map(pick);
  await pool.query(
    `insert into event (id, tenant_id, type, payload, created_at)
     select id, 'ten_x', 'message.delivered', '{}', $2 from unnest($1::text[]) as id`,
    [column((c) => ids.get(c.name)!.event), new Date(old)],
  );
  await pool.query(
    `insert into delivery (id, tenant_id, event_id, webhook_id, event_type, status, next_trigger, next_attempt_at,
                           locked_until, locked_by, created_at, updated_at)
     select id, 'ten_x', event_id, 'wh_x', 'message.delivered', status, next_trigger, next_attempt_at, locked_until,
            case when locked_until is null then null else 'another-worker' end, $7, $7
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
            as t(id, event_id, status, next_trigger, next_attempt_at, locked_until)`,
    [
      column((c) => ids.get(c.name)!.delivery),
      column((c) => ids.get(c.name)!.event),
      column((c) => c.status),
      column((c) => c.nextTrigger),
      column((c) => c.nextAttemptAt),
      column((c) => c.lockedUntil),
      new Date(old),
    ],
  );
  await pool.query(
    `insert into delivery_due (delivery_id, webhook_id, due_at) select id, webhook_id, next_attempt_at from delivery d where ${dueSql('d', null)}`,
  );
}

const namesOf = (deliveryIds: Iterable<string>) => {
  const byId = new Map([...ids].map(([name, { delivery }]) => [delivery, name]));
  return [...deliveryIds].map((id) => byId.get(id)!).sort();
};
const expected = (by: Date | null) =>
  cases
    .filter((c) => isDue(c, by, base))
    .map((c) => c.name)
    .sort();

describe('the due rule: isDue() and dueSql() agree', () => {
  beforeAll(seed);

  it.each([
    ['due now (claim)', 'now()', 0],
    ['due by two minutes ago (sweep)', `now() - interval '120 seconds'`, -120_000],
    ['owed an attempt at all (retention)', null, null],
  ] as const)('%s', async (_name, by, offset) => {
    const { rows } = await pool.query<{ id: string }>(`select id from delivery d where ${dueSql('d', by)}`);
    const want = expected(offset === null ? null : new Date(base.getTime() + offset));
    expect(want.length).toBeGreaterThan(0);
    expect(namesOf(rows.map((r) => r.id))).toEqual(want);
  });
});

describe('claim, sweep and retention select by the due rule', () => {
  it('claimDeliveries leases exactly the deliveries due now', async () => {
    await seed();
    const { deliveries } = await claimDeliveries(
      pool,
      [...ids.values()].map((i) => i.delivery),
      'parity-worker',
      30_000,
    );
    expect(namesOf(deliveries.map((d) => d.id))).toEqual(expected(base));
  });

  it('sweepOverdue re-queues exactly the deliveries due by lease/2 ago', async () => {
    await seed();
    const client = await pool.connect();
    try {
      await client.query('begin');
      const swept = await sweepOverdue(client, 120_000, 10_000);
      await client.query('commit');
      expect(namesOf(swept ?? [])).toEqual(expected(new Date(base.getTime() - 120_000)));
    } finally {
      client.release();
    }
  });

  it('applyRetention keeps exactly the old events with a delivery owed an attempt', async () => {
    await seed();
    await applyRetention(pool, 30 * DAY, base.getTime());
    const { rows } = await pool.query<{ id: string }>('select id from delivery');
    expect(namesOf(rows.map((r) => r.id))).toEqual(expected(null));
  });
});

describe('a retry asked for while the worker held the delivery: settle() and updateDeliveries agree', () => {
  const worker = 'parity-worker';
  const decisions: { name: string; claimed: DeliveryState; decision: Decision }[] = [];
  const at = new Date();
  for (const trigger of ATTEMPT_TRIGGERS) {
    const claimed: DeliveryState = { status: 'RETRYING', attemptCount: 1, trigger };
    const response = (status: number) => ({ kind: 'attempted' as const, response: { status, error: null, headers: {} } });
    decisions.push(
      { name: `${trigger}: succeeded`, claimed, decision: decide(claimed, response(200), { retrySchedule: [60, 60] }, at) },
      { name: `${trigger}: retry`, claimed, decision: decide(claimed, response(500), { retrySchedule: [60, 60] }, at) },
      { name: `${trigger}: failed`, claimed, decision: decide(claimed, response(500), { retrySchedule: [60] }, at) },
      { name: `${trigger}: not attempted`, claimed, decision: decide(claimed, { kind: 'not-attempted' }, undefined, at) },
      { name: `${trigger}: parked`, claimed, decision: decide(claimed, { kind: 'held', reason: 'WEBHOOK_PAUSED' }, undefined, at) },
    );
  }
  const rows = decisions.flatMap((d) => ATTEMPT_TRIGGERS.map((current) => ({ ...d, current, id: idAt('dlv', Date.now()) })));

  it.each(['status', 'nextAttemptAt', 'nextTrigger', 'completedAt', 'requeue'] as const)('the same %s for every case', async (column) => {
    await pool.query('truncate delivery, delivery_due');
    await pool.query(
      `insert into delivery (id, tenant_id, event_id, webhook_id, event_type, status, attempt_count, next_trigger, next_attempt_at,
                             locked_until, locked_by, created_at, updated_at)
       select id, 'ten_x', 'evt_x' || id, 'wh_x', 'message.delivered', 'RETRYING', 1, next_trigger, null,
              now() + interval '1 minute', $3, now(), now()
         from unnest($1::text[], $2::text[]) as t(id, next_trigger)`,
      [rows.map((r) => r.id), rows.map((r) => r.current), worker],
    );
    const client = await pool.connect();
    try {
      await client.query('begin');
      // now() is the transaction's start: the same in the update and here.
      const now = (await client.query<{ now: Date }>('select now()')).rows[0].now;
      const requeued = new Set(
        await updateDeliveries(
          client,
          rows.map(({ id, claimed, decision }) => ({
            id,
            status: decision.status,
            attemptCount: decision.attemptCount,
            nextAttemptAt: decision.nextAttemptAt,
            completedAt: decision.completedAt,
            nextTrigger: decision.nextTrigger,
            claimedTrigger: claimed.trigger,
            attempt: null,
          })),
          worker,
        ),
      );
      const { rows: written } = await client.query<{
        id: string;
        status: string;
        next_attempt_at: Date | null;
        next_trigger: AttemptTrigger;
        completed_at: Date | null;
        due: boolean;
        due_at: Date | null;
      }>(
        `select id, status, next_attempt_at, next_trigger, completed_at, q.delivery_id is not null as due, q.due_at
           from delivery d left join delivery_due q on q.delivery_id = d.id`,
      );
      await client.query('rollback');
      const byId = new Map(written.map((w) => [w.id, w]));
      for (const row of rows) {
        const want = settle(row.decision, row.claimed.trigger, row.current, now);
        const got = byId.get(row.id)!;
        const sql = {
          status: got.status,
          nextAttemptAt: got.next_attempt_at,
          nextTrigger: got.next_trigger,
          completedAt: got.completed_at,
          requeue: requeued.has(row.id),
        };
        expect(sql[column], `${row.name}, trigger now ${row.current}`).toEqual(want[column]);
        // Owed an attempt after it: found through its delivery_due row, due when the delivery is.
        const owed = isDue({ ...want, lockedUntil: null }, null, now);
        expect({ due: got.due, dueAt: got.due_at }, `${row.name}, trigger now ${row.current}`).toEqual({
          due: owed,
          dueAt: owed ? want.nextAttemptAt : null,
        });
      }
    } finally {
      client.release();
    }
  });
});
