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
// before it: every delivery owed an attempt is still found afterwards, and nothing else.
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
    for (const id of ['wh_active', 'wh_paused']) {
      await db.query(
        `insert into webhook (id, tenant_id, url, events, secrets, headers, status, created_at, updated_at)
         values ($1, 'ten_1', 'https://example.com/hook', '["*"]', '[]', '[]', $2, now(), now())`,
        [id, id === 'wh_paused' ? 'PAUSED' : 'ACTIVE'],
      );
    }
    // 10 000 deliveries: mostly final, some retrying (overdue or later), some fresh and due,
    // some parked behind the paused webhook (no due time).
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
    seeded.forEach((s, i) => {
      const kind = i % 10;
      if ([0, 1, 2, 3].includes(kind) || retried.includes(s.deliveryId)) owed.add(s.deliveryId);
      if (kind === 0 || kind === 2 || retried.includes(s.deliveryId)) overdue.add(s.deliveryId);
    });
    expect(owed.size).toBe(4000 + 500);
  });

  expect(await migrate(orm, url)).toContain(migration);

  await withPgClient(url, async (db) => {
    const due = await db.query<{ delivery_id: string; due_matches: boolean; webhook_matches: boolean }>(
      `select q.delivery_id, q.due_at is not distinct from d.next_attempt_at as due_matches, q.webhook_id = d.webhook_id as webhook_matches
         from delivery_due q join delivery d on d.id = q.delivery_id`,
    );
    expect(new Set(due.rows.map((r) => r.delivery_id))).toEqual(owed);
    expect(due.rows.every((r) => r.due_matches && r.webhook_matches)).toBe(true);
    // The same set as the due rule reads on the delivery rows themselves.
    const byRule = await db.query<{ n: number }>(`select count(*)::int as n from delivery d where ${dueSql('d', null)}`);
    expect(byRule.rows[0].n).toBe(owed.size);
    // The indexes on columns the worker changes are gone: its final update is a HOT update.
    const indexes = await db.query<{ indexname: string }>(`select indexname from pg_indexes where tablename = 'delivery' order by 1`);
    expect(indexes.rows.map((r) => r.indexname)).not.toEqual(expect.arrayContaining([expect.stringMatching(/status|next_attempt_at/)]));
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
