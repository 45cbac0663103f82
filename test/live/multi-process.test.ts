// Across processes: one `--role api` process holds the WebSocket, two `--role worker`
// processes make the attempts; the updates reach the subscriber only through PostgreSQL
// LISTEN/NOTIFY, and each delivery is made by exactly one worker.
import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase, withPgClient } from '../helpers/db.ts';
import { createWebhook, publish, sleep } from '../helpers/deliveries.ts';
import { createTenant, gqlClient } from '../helpers/herald.ts';
import { collect, connectLive, DELIVERY_UPDATED, type DeliveryUpdate, subscriptionsRunning } from '../helpers/live.ts';
import { type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const EVENTS = 100;

let api: HeraldProcess;
const workers: HeraldProcess[] = [];
let receiver: Receiver;
let databaseUrl: string;
let adminKey: string;
let client: Client | undefined;

beforeAll(async () => {
  receiver = await startReceiver({
    // A little latency per request, as a real endpoint has, so the work spreads over time.
    handler: async (_req, res) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      res.writeHead(200).end('ok');
    },
  });
  databaseUrl = await createTestDatabase();
  adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;
  const env = {
    DATABASE_URL: databaseUrl,
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HERALD_ADMIN_KEY: adminKey,
    HERALD_ALLOW_HTTP: 'true',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    // info: readiness ("GraphQL API listening", "delivery worker started") and the workers'
    // per-attempt lines are read from the logs.
    LOG_LEVEL: 'info',
  };
  // The API first: it applies the migrations and creates pg-boss's schema on the fresh database.
  api = await startHeraldProcess({ env, role: 'api', readyTimeoutMs: 60_000 });
  workers.push(await startHeraldProcess({ env, role: 'worker', readyTimeoutMs: 60_000 }));
  workers.push(await startHeraldProcess({ env, role: 'worker', readyTimeoutMs: 60_000 }));
}, 180_000);

afterAll(async () => {
  await client?.dispose();
  const all = [api, ...workers].filter(Boolean);
  for (const p of all) p.kill('SIGTERM');
  await Promise.all(
    all.map((p) => Promise.race([p.exited, new Promise((resolve) => setTimeout(resolve, 20_000))]).then(() => p.dispose())),
  );
  await receiver?.close();
}, 60_000);

test('one API and two workers: every delivery’s updates reach the API’s subscriber; each delivery is made once, by one worker', async () => {
  const url = api.url!;
  const herald = gqlClient(url, adminKey);
  const { key } = await createTenant(herald, 'multi');
  const webhooks: string[] = [];
  for (const path of ['/one', '/two']) webhooks.push((await createWebhook(herald, key, { url: `${receiver.url}${path}` })).id);

  client = await connectLive(url, key);
  const sub = collect<DeliveryUpdate>(client, DELIVERY_UPDATED);
  await subscriptionsRunning(url, 1);

  // One publish per event (a few at a time), so the work arrives as many jobs both workers compete for.
  const eventIds: string[] = [];
  for (let i = 0; i < EVENTS; i += 5) {
    const batch = await Promise.all(Array.from({ length: 5 }, (_, j) => publish(herald, key, { data: { n: i + j } })));
    for (const r of batch) {
      expect(r.deliveryCount).toBe(2);
      eventIds.push(r.eventId);
    }
  }

  const expected = EVENTS * webhooks.length;
  await sub.waitUntil(
    (items) => new Set(items.filter((u) => u.phase === 'SUCCEEDED').map((u) => u.delivery.id)).size === expected,
    60_000,
    `${expected} SUCCEEDED updates`,
  );
  await sleep(500); // an update sent twice would have come by now

  // Every update of every delivery, once each and in order, at the API process's subscriber.
  const byDelivery = new Map<string, DeliveryUpdate[]>();
  for (const u of sub.items) byDelivery.set(u.delivery.id, [...(byDelivery.get(u.delivery.id) ?? []), u]);
  expect(byDelivery.size).toBe(expected);
  for (const updates of byDelivery.values()) {
    expect(updates.map((u) => u.phase)).toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED']);
    expect(updates[2].attempt).toMatchObject({ number: 1, responseStatus: 200 });
  }
  const pairs = new Set([...byDelivery.values()].map(([u]) => `${u.delivery.eventId} ${u.delivery.webhookId}`));
  expect(pairs).toEqual(new Set(eventIds.flatMap((e) => webhooks.map((w) => `${e} ${w}`))));

  // Each delivery attempted exactly once: one attempt row, and the endpoint saw each
  // (event, webhook) once.
  const rows = await withPgClient(databaseUrl, async (db) => {
    const { rows } = await db.query<{ id: string; status: string; attempt_count: number; attempts: number }>(
      `select d.id, d.status, d.attempt_count, (select count(*)::int from attempt a where a.delivery_id = d.id) as attempts from delivery d`,
    );
    return rows;
  });
  expect(rows).toHaveLength(expected);
  for (const r of rows) expect(r, r.id).toMatchObject({ status: 'SUCCEEDED', attempt_count: 1, attempts: 1 });
  const seen = receiver.requests.map((r) => `${r.headers['webhook-id']} ${r.url}`);
  expect(seen).toHaveLength(expected);
  expect(new Set(seen).size).toBe(expected);

  // Both workers did part of the work, and no delivery was attempted by both.
  const attemptsBy = workers.map(
    (w) =>
      new Set(
        w.lines
          .map((line) => {
            try {
              return JSON.parse(line) as { msg?: string; deliveryId?: string };
            } catch {
              return {};
            }
          })
          .filter((l) => l.msg === 'delivery attempt')
          .map((l) => l.deliveryId!),
      ),
  );
  const [first, second] = attemptsBy;
  expect(first.size, 'worker 1 attempts').toBeGreaterThan(0);
  expect(second.size, 'worker 2 attempts').toBeGreaterThan(0);
  expect(first.size + second.size).toBe(expected);
  expect([...first].filter((id) => second.has(id))).toEqual([]);
  expect(new Set([...first, ...second])).toEqual(new Set(byDelivery.keys()));
  // The API process made no attempts: it has no worker.
  expect(api.lines.some((l) => l.includes('"msg":"delivery attempt"'))).toBe(false);
}, 120_000);
