import pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { dueSql } from '../../src/core/delivery-state.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { MikroORM } from '../../src/db/orm.ts';
import { sweepOverdue } from '../../src/delivery/sql/sweep.ts';
import { databaseBefore, withPgClient } from '../helpers/db.ts';
import { type SeedItem, seedHistory } from '../helpers/history.ts';

// The migration that moves "which deliveries are owed an attempt" from indexes on delivery to the
// delivery_due table, applied to a database holding 10 000 deliveries made under the migrations
// before it (flow control's included: priorities, and a KEYED webhook's deliveries waiting behind
// their keys): every delivery owed an attempt is still found afterwards, and nothing else.
let orm: MikroORM | undefined;
afterAll(() => orm?.close());

const HOUR = 3600_000;

test('a populated database keeps every owed delivery findable through delivery_due', async () => {
  const before = await databaseBefore('_delivery_due');
  orm = before.orm;
  const { url, migration } = before;

  const now = Date.now();
  const owed = new Set<string>();
  const overdue = new Set<string>();
  await withPgClient(url, async (db) => {
    await db.query(`insert into tenant (id, name, created_at) values ('ten_1', 't', now())`);
    for (const id of ['wh_active', 'wh_paused', 'wh_keyed']) {
      await db.query(
        `insert into webhook (id, tenant_id, url, events, secrets, headers, status, ordering, created_at, updated_at)
         values ($1, 'ten_1', 'https://example.com/hook', '["*"]', '[]', '[]', $2, $3, now(), now())`,
        [id, id === 'wh_paused' ? 'PAUSED' : 'ACTIVE', id === 'wh_keyed' ? 'KEYED' : 'NONE'],
      );
    }
    // 10 000 deliveries: mostly final, some retrying (overdue or later), some fresh and due (a
    // tenth of them HIGH), some parked behind the paused webhook (no due time), and 1 000 of a
    // KEYED webhook over 20 keys: each key's first due, the others behind it (no due time).
    const items: SeedItem[] = Array.from({ length: 10_000 }, (_, i): SeedItem => {
      const at = now - 10 * HOUR + i * 1000;
      switch (i % 10) {
        case 0:
          return { at, status: 'RETRYING', attempts: 2, nextAttemptAt: new Date(now - HOUR) };
        case 1:
          return { at, status: 'RETRYING', attempts: 1, nextAttemptAt: new Date(now + HOUR) };
        case 2:
          return { at, status: 'PENDING', attempts: 0, nextAttemptAt: new Date(at) };
        case 3:
          return { at, status: 'PENDING', attempts: 0, nextAttemptAt: null, webhookId: 'wh_paused' };
        case 4:
          return { at, status: 'FAILED', attempts: 3 };
        case 5:
          return { at, status: 'PENDING', attempts: 0, nextAttemptAt: null, webhookId: 'wh_keyed' };
        default:
          return { at, status: 'SUCCEEDED', attempts: 1 };
      }
    });
    const seeded = await seedHistory(db, { tenantId: 'ten_1', webhookId: 'wh_active' }, items);
    // A retry asked for by hand of every 20th FAILED one: a one-off attempt is owed, due now.
    const retried = seeded.filter((_, i) => i % 20 === 4).map((s) => s.deliveryId);
    await db.query(`update delivery set next_trigger = 'MANUAL', next_attempt_at = $2 where id = any($1::text[])`, [
      retried,
      new Date(now - HOUR),
    ]);
    await db.query(`update delivery set priority = 0 where id = any($1::text[])`, [
      seeded.filter((_, i) => i % 100 === 2).map((s) => s.deliveryId),
    ]);
    // As a publish numbers them: per key in id order, the first due.
    const { rows: heads } = await db.query<{ id: string; head: boolean }>(
      `with numbered as (
         select id, 'key-' || (row_number() over (order by id) % 20) as k from delivery where webhook_id = 'wh_keyed'
       ), sequenced as (
         select id, k, row_number() over (partition by k order by id) as seq from numbered
       )
       update delivery d set ordering_key = s.k, ordering_seq = s.seq,
              next_attempt_at = case when s.seq = 1 then d.created_at end
         from sequenced s where d.id = s.id
       returning d.id, d.next_attempt_at is not null as head`,
    );
    const keyedHeads = new Set(heads.filter((r) => r.head).map((r) => r.id));
    expect(keyedHeads.size).toBe(20);
    seeded.forEach((s, i) => {
      const kind = i % 10;
      if ([0, 1, 2, 3, 5].includes(kind) || retried.includes(s.deliveryId)) owed.add(s.deliveryId);
      if (kind === 0 || kind === 2 || keyedHeads.has(s.deliveryId) || retried.includes(s.deliveryId)) overdue.add(s.deliveryId);
    });
    expect(owed.size).toBe(5000 + 500);
  });

  expect(await migrate(orm, url)).toContain(migration);

  await withPgClient(url, async (db) => {
    const due = await db.query<{ delivery_id: string; matches: boolean; keyed: boolean; high: boolean }>(
      `select q.delivery_id, q.ordering_key is not null as keyed, q.priority = 0 as high,
              q.due_at is not distinct from d.next_attempt_at and q.webhook_id = d.webhook_id and q.priority = d.priority
              and q.ordering_key is not distinct from d.ordering_key and q.ordering_seq is not distinct from d.ordering_seq as matches
         from delivery_due q join delivery d on d.id = q.delivery_id`,
    );
    expect(new Set(due.rows.map((r) => r.delivery_id))).toEqual(owed);
    expect(due.rows.every((r) => r.matches)).toBe(true);
    expect(due.rows.filter((r) => r.keyed)).toHaveLength(1000);
    expect(due.rows.filter((r) => r.high)).toHaveLength(100);
    // The same set as the due rule reads on the delivery rows themselves.
    const byRule = await db.query<{ n: number }>(`select count(*)::int as n from delivery d where ${dueSql('d', null)}`);
    expect(byRule.rows[0].n).toBe(owed.size);
    // The indexes on columns the worker changes are gone: its final update is a HOT update.
    const indexes = await db.query<{ indexname: string }>(`select indexname from pg_indexes where tablename = 'delivery' order by 1`);
    expect(indexes.rows.map((r) => r.indexname)).toEqual([
      'delivery_event_id_webhook_id_unique',
      'delivery_pkey',
      'delivery_tenant_id_id_index',
      'delivery_webhook_id_id_index',
    ]);
  });
  // The sweep finds every overdue one (lost wake-ups) through the new table, and only those.
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  try {
    await client.query('begin');
    const swept = await sweepOverdue(client, 15_000, 100_000);
    await client.query('commit');
    expect(new Set(swept)).toEqual(overdue);
  } finally {
    client.release();
    await pool.end();
  }
}, 120_000);
