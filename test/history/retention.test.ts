import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PGBOSS_SCHEMA } from '../../src/app.ts';
import { lowestIdAt } from '../../src/core/ids.ts';
import { applyRetention, RETENTION_QUEUE } from '../../src/delivery/retention.ts';
import { createWebhook, getDelivery, waitForDelivery } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { DAY, type Seeded, type SeedItem, seedHistory, spyOnSql } from '../helpers/history.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

/**
 * Retention: attempts and events older than HERALD_RETENTION are deleted in batches (events
 * take their deliveries and attempts with them), except events still being delivered; recent
 * FAILED deliveries stay replayable. applyRetention is called directly with 30 days; the
 * running Herald keeps a 10-year retention so its own scheduled run can never race the test.
 */

const RETENTION = 30 * DAY;
let h: TestHerald;
let receiver: Receiver;
let pool: pg.Pool;
let tenant: { id: string; key: string };
let webhookId: string;
const now = Date.now();

const seeds = {} as Record<
  | 'oldSucceeded'
  | 'oldRetriedByHand'
  | 'oldFailed'
  | 'oldRetrying'
  | 'oldPending'
  | 'justTooOld'
  | 'justRecentEnough'
  | 'recent'
  | 'recentFailed',
  Seeded[]
>;

async function seed(name: keyof typeof seeds, items: SeedItem[]) {
  seeds[name] = await seedHistory(pool, { tenantId: tenant.id, webhookId, url: `${receiver.url}/hook` }, items);
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query(`select count(*)::int as n from ${sql}`, params);
  return rows[0].n;
}

const exists = async (table: 'event' | 'delivery' | 'attempt', ids: string[]) => count(`${table} where id = any($1::text[])`, [ids]);

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_ALLOW_HTTP: 'true', HERALD_RETENTION: '3650d' });
  pool = new pg.Pool({ connectionString: h.databaseUrl, max: 3 });
  tenant = await createTenant(h, 'retention');
  webhookId = (await createWebhook(h, tenant.key, { url: `${receiver.url}/hook`, retrySchedule: [] })).id;

  const old = now - 40 * DAY;
  const later = now + DAY; // due far in the future: the worker leaves these alone
  await seed(
    'oldSucceeded',
    Array.from({ length: 20 }, (_, i) => ({ at: old + i * 1000, status: 'SUCCEEDED' as const, attempts: 2 })),
  );
  // Finished 40 days ago, then retried by hand 2 hours ago: its recent attempt goes with it.
  await seed('oldRetriedByHand', [{ at: old + 50_000, status: 'SUCCEEDED', attempts: [{ at: old + 51_000 }, { at: now - 2 * 3600_000 }] }]);
  await seed(
    'oldFailed',
    Array.from({ length: 5 }, (_, i) => ({ at: old + 100_000 + i * 1000, status: 'FAILED' as const, attempts: 1 })),
  );
  // Still being delivered: one attempt 40 days ago, one 2 hours ago, the next one tomorrow.
  await seed('oldRetrying', [
    { at: old, status: 'RETRYING', attempts: [{ at: old + 1000 }, { at: now - 2 * 3600_000 }], nextAttemptAt: new Date(later) },
  ]);
  await seed('oldPending', [{ at: old, status: 'PENDING', attempts: 0, nextAttemptAt: new Date(later) }]);
  await seed('justTooOld', [{ at: now - RETENTION - 60_000, status: 'SUCCEEDED', attempts: [{ at: now - RETENTION - 59_000 }] }]);
  await seed('justRecentEnough', [{ at: now - RETENTION + 60_000, status: 'SUCCEEDED', attempts: [{ at: now - RETENTION + 61_000 }] }]);
  await seed(
    'recent',
    Array.from({ length: 10 }, (_, i) => ({ at: now - 3600_000 + i * 1000, status: 'SUCCEEDED' as const, attempts: 1 })),
  );
  await seed('recentFailed', [
    { at: now - 3600_000 + 60_000, status: 'FAILED', attempts: [{ at: now - 3600_000 + 61_000, responseStatus: 500 }] },
  ]);
});

afterAll(async () => {
  await pool?.end();
  await h?.stop();
  await receiver?.close();
});

const ids = (names: (keyof typeof seeds)[], what: 'eventId' | 'deliveryId') => names.flatMap((n) => seeds[n].map((s) => s[what]));
const attemptIds = (names: (keyof typeof seeds)[]) => names.flatMap((n) => seeds[n].flatMap((s) => s.attemptIds));

const GONE = ['oldSucceeded', 'oldRetriedByHand', 'oldFailed', 'justTooOld'] as const;
const KEPT = ['oldRetrying', 'oldPending', 'justRecentEnough', 'recent', 'recentFailed'] as const;

test('deletes exactly the attempts and events older than the retention, with their deliveries', async () => {
  const before = { events: await count('event'), deliveries: await count('delivery'), attempts: await count('attempt') };
  const oldAttempts = attemptIds([...GONE]).length + 1; // + the 40-day-old attempt of the retrying delivery
  const result = await applyRetention(pool, RETENTION, now);
  expect(result).toEqual({ attempts: oldAttempts, events: ids([...GONE], 'eventId').length });

  // Gone: old events, their deliveries, all their attempts (the hand-retried one's recent one too).
  expect(await exists('event', ids([...GONE], 'eventId'))).toBe(0);
  expect(await exists('delivery', ids([...GONE], 'deliveryId'))).toBe(0);
  expect(await exists('attempt', attemptIds([...GONE]))).toBe(0);
  // Kept: everything recent, and old events whose delivery is not finished.
  expect(await exists('event', ids([...KEPT], 'eventId'))).toBe(ids([...KEPT], 'eventId').length);
  expect(await exists('delivery', ids([...KEPT], 'deliveryId'))).toBe(ids([...KEPT], 'deliveryId').length);
  const [oldAttempt, recentAttempt] = seeds.oldRetrying[0].attemptIds;
  expect(await exists('attempt', [oldAttempt])).toBe(0); // attempts age out on their own
  expect(await exists('attempt', [recentAttempt])).toBe(1);
  expect(await exists('attempt', attemptIds(['justRecentEnough', 'recent', 'recentFailed']))).toBe(
    attemptIds(['justRecentEnough', 'recent', 'recentFailed']).length,
  );
  // Nothing else moved.
  expect(await count('event')).toBe(before.events - result.events);
  expect(await count('delivery')).toBe(before.deliveries - ids([...GONE], 'deliveryId').length);
  // (counted: old attempts in the attempt pass, the hand-retried delivery's recent one with its event)
  expect(await count('attempt')).toBe(before.attempts - result.attempts);

  // The retrying delivery still reads fine through the API, with what is left of its log.
  const retrying = await getDelivery(h, tenant.key, seeds.oldRetrying[0].deliveryId);
  expect(retrying.status).toBe('RETRYING');
  expect(retrying.attempts.map((a) => a.id)).toEqual([recentAttempt]);

  // A second run finds nothing more.
  expect(await applyRetention(pool, RETENTION, now)).toEqual({ attempts: 0, events: 0 });
});

test('a recent FAILED delivery stays replayable', async () => {
  const failed = seeds.recentFailed[0];
  const { replayFailedDeliveries } = await h.ok(
    'mutation($id: ID!, $since: DateTime!) { replayFailedDeliveries(webhookId: $id, since: $since) { count } }',
    { id: webhookId, since: new Date(now - 60 * DAY).toISOString() },
    tenant.key,
  );
  // Only the recent one: the 40-day-old FAILED deliveries are gone.
  expect(replayFailedDeliveries.count).toBe(1);
  const done = await waitForDelivery(h, tenant.key, failed.deliveryId, { status: 'SUCCEEDED' });
  expect(done.attempts.map((a) => [a.number, a.trigger, a.responseStatus])).toEqual([
    [1, 'SCHEDULED', 500],
    [2, 'MANUAL', 200],
  ]);
  expect(receiver.requests.filter((r) => r.headers['herald-delivery-id'] === failed.deliveryId)).toHaveLength(1);
  expect(receiver.requests.every((r) => r.headers['herald-delivery-id'] === failed.deliveryId)).toBe(true);
});

test('deletes in batches of 5 000: more than 5 000 old events and attempts all go', async () => {
  const base = now - 45 * DAY;
  const bulk = await seedHistory(
    pool,
    { tenantId: tenant.id, webhookId },
    Array.from({ length: 5500 }, (_, i) => ({ at: base + i * 100, status: 'SUCCEEDED' as const, attempts: 2 })),
  );
  const recentBefore = { events: await count('event'), attempts: await count('attempt') };
  // Every statement on any connection (retention runs on one client of the pool), told apart
  // from the running Herald's by their cutoff ids.
  const spy = spyOnSql();
  try {
    const { result, queries } = await spy.record(() => applyRetention(pool, RETENTION, now));
    expect(result).toEqual({ attempts: 11_000, events: 5500 });
    const cutoffs = [lowestIdAt('att', now - RETENTION), lowestIdAt('evt', now - RETENTION)];
    const deletes = queries.filter((q) => /delete from/i.test(q.text) && cutoffs.includes(String(q.values[0]))).map((q) => q.text);
    // 5 000 + 5 000 + 1 000 attempts, then 5 000 + 500 events: one statement per batch.
    expect(deletes.filter((sql) => /^\s*delete from attempt/i.test(sql))).toHaveLength(3);
    expect(deletes.filter((sql) => /delete from event/i.test(sql))).toHaveLength(2);
  } finally {
    spy.restore();
  }
  expect(
    await exists(
      'event',
      bulk.map((s) => s.eventId),
    ),
  ).toBe(0);
  expect(
    await exists(
      'delivery',
      bulk.map((s) => s.deliveryId),
    ),
  ).toBe(0);
  expect(
    await exists(
      'attempt',
      bulk.flatMap((s) => s.attemptIds),
    ),
  ).toBe(0);
  expect(await count('event')).toBe(recentBefore.events - 5500);
  expect(await count('attempt')).toBe(recentBefore.attempts - 11_000);
});

test('the retention job is scheduled with pg-boss', async () => {
  const { rows } = await pool.query(`select name, cron, timezone from ${PGBOSS_SCHEMA}.schedule where name = $1`, [RETENTION_QUEUE]);
  expect(rows).toEqual([{ name: RETENTION_QUEUE, cron: '*/10 * * * *', timezone: 'UTC' }]);
  const { rows: queue } = await pool.query(`select name, policy from ${PGBOSS_SCHEMA}.queue where name = $1`, [RETENTION_QUEUE]);
  expect(queue).toEqual([{ name: RETENTION_QUEUE, policy: 'singleton' }]);
});

test('a retention job run by the worker applies HERALD_RETENTION', async () => {
  // Herald runs with HERALD_RETENTION=3650d: a 4 000-day-old event goes, a 40-day-old one stays.
  const [ancient] = await seedHistory(pool, { tenantId: tenant.id, webhookId }, [
    { at: now - 4000 * DAY, status: 'SUCCEEDED', attempts: 1 },
  ]);
  const [old] = await seedHistory(pool, { tenantId: tenant.id, webhookId }, [{ at: now - 40 * DAY, status: 'SUCCEEDED', attempts: 1 }]);
  const boss = new PgBoss({ connectionString: h.databaseUrl, schema: PGBOSS_SCHEMA, supervise: false, schedule: false, migrate: false });
  boss.on('error', () => {});
  await boss.start();
  try {
    await boss.send(RETENTION_QUEUE, {});
  } finally {
    await boss.stop({ graceful: false });
  }
  await expect.poll(() => exists('event', [ancient.eventId]), { timeout: 15_000, interval: 200 }).toBe(0);
  expect(await exists('attempt', ancient.attemptIds)).toBe(0);
  expect(await exists('event', [old.eventId])).toBe(1);
  expect(await exists('attempt', old.attemptIds)).toBe(1);
});

test('an event’s bodies under delivery profiles go with it', async () => {
  const [old] = await seedHistory(pool, { tenantId: tenant.id, webhookId }, [{ at: now - 50 * DAY, status: 'SUCCEEDED', attempts: 1 }]);
  const [recent] = await seedHistory(pool, { tenantId: tenant.id, webhookId }, [{ at: now - DAY, status: 'SUCCEEDED', attempts: 1 }]);
  for (const eventId of [old.eventId, recent.eventId]) {
    await pool.query(`insert into event_body (event_id, profile_version, body) values ($1, 'dpv_1', '{}')`, [eventId]);
  }
  await applyRetention(pool, RETENTION, now);
  expect(await count('event_body where event_id = $1', [old.eventId])).toBe(0);
  expect(await count('event_body where event_id = $1', [recent.eventId])).toBe(1);
});
