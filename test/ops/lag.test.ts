import { afterAll, beforeAll, expect, test } from 'vitest';
import { deliveryRows } from '../helpers/db.ts';
import { createWebhook, publishMany, sleep, updateWebhook, waitUntil } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { scrape } from '../helpers/ops.ts';
import { childEnv, type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let api: TestHerald;
let receiver: Receiver;
let worker: HeraldProcess | null = null;

beforeAll(async () => {
  receiver = await startReceiver();
  // The API alone: published deliveries wait until a worker starts.
  api = await startTestHerald({ HERALD_ROLE: 'api', HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
});
afterAll(async () => {
  await worker?.dispose();
  await api?.stop();
  await receiver?.close();
});

const lagOf = async (opsUrl: string) => {
  const m = await scrape(opsUrl);
  return { lag: m.value('herald_delivery_lag_seconds')!, pending: m.value('herald_deliveries_waiting', { status: 'PENDING' })! };
};

test('the lag gauge rises while no worker runs (deliveries held by a paused webhook do not count) and falls once one does', {
  timeout: 90_000,
}, async () => {
  const tenant = await createTenant(api, 'lag');
  const held = await createWebhook(api, tenant.key, { url: `${receiver.url}/held`, events: ['campaign.started'] });
  await updateWebhook(api, tenant.key, held.id, { status: 'PAUSED' });
  await createWebhook(api, tenant.key, { url: `${receiver.url}/due`, events: ['message.delivered'] });

  // Held on purpose first, then the due ones a few seconds later: the lag counts only the latter.
  const heldAt = Date.now();
  await api.ok(
    'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id } } }',
    { inputs: Array.from({ length: 5 }, (_, i) => ({ type: 'campaign.started', data: { i } })) },
    tenant.key,
  );
  await sleep(3000);
  const dueAt = Date.now();
  await publishMany(api, tenant.key, 20);

  const ops = api.herald.opsUrl;
  const first = await waitUntil(
    async () => {
      const r = await lagOf(ops);
      return r.pending === 25 && r.lag > 0 ? r : null;
    },
    { timeout: 15_000, interval: 250, message: 'the gauges to see the 25 waiting deliveries' },
  );
  expect(first.lag).toBeLessThanOrEqual((Date.now() - dueAt) / 1000 + 0.5);
  // Read at most every 5 s: a later read is at least that much older.
  await sleep(5500);
  const second = await lagOf(ops);
  console.log(
    `lag: ${first.lag.toFixed(2)} s, then ${second.lag.toFixed(2)} s with no worker (the paused webhook's deliveries waited ${((Date.now() - heldAt) / 1000).toFixed(1)} s)`,
  );
  expect(second.lag).toBeGreaterThanOrEqual(first.lag + 4);
  expect(second.lag).toBeLessThan((Date.now() - heldAt) / 1000 - 2);
  expect(second.pending).toBe(25);

  worker = await startHeraldProcess({ role: 'worker', env: childEnv(api) });
  await waitUntil(async () => (await deliveryRows(api.databaseUrl)).filter((r) => r.status === 'SUCCEEDED').length === 20, {
    timeout: 20_000,
    message: 'the worker to deliver the 20',
  });
  const after = await waitUntil(
    async () => {
      const r = await lagOf(ops);
      return r.lag === 0 ? r : null;
    },
    { timeout: 15_000, interval: 250, message: 'the lag to fall to 0' },
  );
  expect(after.pending).toBe(5);

  // The worker exports the same global gauges on its own port, and its own attempt counters.
  const line = await worker.waitForLog(/"msg":"ops endpoints listening"/);
  const workerOps = JSON.parse(line).url as string;
  const fromWorker = await scrape(workerOps);
  expect(fromWorker.value('herald_delivery_lag_seconds')).toBe(0);
  expect(fromWorker.value('herald_deliveries_waiting', { status: 'PENDING' })).toBe(5);
  expect(fromWorker.samples('herald_attempts_total')).toEqual({ 'result=success': 20 });
  expect(fromWorker.samples('herald_deliveries_completed_total')).toEqual({ 'status=SUCCEEDED': 20 });
  expect((await scrape(ops)).samples('herald_attempts_total')).toEqual({});
});
