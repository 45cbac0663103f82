import { afterAll, beforeAll, expect, test } from 'vitest';
import { PGBOSS_SCHEMA } from '../../src/app.ts';
import { DELIVERY_QUEUE } from '../../src/jobs/queue.ts';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, listDeliveries, publish } from '../helpers/deliveries.ts';
import { createTenant, LOCAL_RECEIVERS, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

// Our tables are the truth; pg-boss jobs only wake workers. A delivery that is due but whose
// job is gone (pg-boss retention, a lost insert) is found by the worker's periodic sweep.
let api: TestHerald;
let worker: TestHerald | undefined;
let receiver: Receiver;
let tenant: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  api = await startTestHerald({ HERALD_ROLE: 'api', ...LOCAL_RECEIVERS });
  tenant = await createTenant(api);
});
afterAll(async () => {
  await worker?.stop();
  await api?.stop();
  await receiver?.close();
});

test('due deliveries without a pg-boss job are re-queued by the sweep and delivered', async () => {
  await createWebhook(api, tenant.key, { url: `${receiver.url}/swept` });
  for (let i = 0; i < 3; i++) expect((await publish(api, tenant.key, { data: { i } })).deliveryCount).toBe(1);

  // No worker has run yet: drop every wake-up job.
  const dropped = await withPgClient(
    api.databaseUrl,
    async (c) => (await c.query(`delete from ${PGBOSS_SCHEMA}.job where name = $1`, [DELIVERY_QUEUE])).rowCount,
  );
  expect(dropped).toBeGreaterThanOrEqual(1);

  worker = await startTestHerald({
    DATABASE_URL: api.databaseUrl,
    HERALD_ENCRYPTION_KEY: api.encryptionKey,
    HERALD_ROLE: 'worker',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    HERALD_ALLOW_HTTP: 'true',
    // A short lease makes the sweep run every second and pick up deliveries overdue by 1 s.
    HERALD_LEASE: '2s',
  });
  await receiver.waitFor(3, 10_000);
  await expect.poll(async () => (await listDeliveries(api, tenant.key, { status: 'SUCCEEDED' })).length, { timeout: 5000 }).toBe(3);
});
