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

test('the lag gauge rises while no worker runs (deliveries held by a paused webhook do not count) and falls once one does; deliveries behind their ordering key are waiting', {
  timeout: 90_000,
}, async () => {
  const tenant = await createTenant(api, 'lag');
  const held = await createWebhook(api, tenant.key, { url: `${receiver.url}/held`, events: ['campaign.started'] });
  await updateWebhook(api, tenant.key, held.id, { status: 'PAUSED' });
  await createWebhook(api, tenant.key, { url: `${receiver.url}/due`, events: ['message.delivered'] });
  // One key's deliveries: the first is due, the other four wait behind it with no due time.
  await createWebhook(api, tenant.key, { url: `${receiver.url}/keyed`, events: ['message.sent'], ordering: 'KEYED' });

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
  await api.ok(
    'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id } } }',
    { inputs: Array.from({ length: 5 }, (_, i) => ({ type: 'message.sent', orderingKey: 'msg-1', data: { i } })) },
    tenant.key,
  );

  const ops = api.herald.opsUrl;
  const first = await waitUntil(
    async () => {
      const r = await lagOf(ops);
      return r.pending === 30 && r.lag > 0 ? r : null;
    },
    { timeout: 15_000, interval: 250, message: 'the gauges to see the 30 waiting deliveries' },
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
  expect(second.pending).toBe(30);

  worker = await startHeraldProcess({ role: 'worker', env: childEnv(api) });
  await waitUntil(async () => (await deliveryRows(api.databaseUrl)).filter((r) => r.status === 'SUCCEEDED').length === 25, {
    timeout: 20_000,
    message: 'the worker to deliver the 25',
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
  expect(fromWorker.samples('herald_attempts_total')).toEqual({ 'result=success': 25 });
  expect(fromWorker.samples('herald_deliveries_completed_total')).toEqual({ 'status=SUCCEEDED': 25 });
  expect((await scrape(ops)).samples('herald_attempts_total')).toEqual({});
});

test("deliveries held back by a webhook's rateLimit do not raise the lag while workers keep to the rate; once the worker stops, they do", {
  timeout: 90_000,
}, async () => {
  worker ??= await startHeraldProcess({ role: 'worker', env: childEnv(api) }); // the previous test's, if it got that far
  const tenant = await createTenant(api, 'rate');
  await createWebhook(api, tenant.key, { url: `${receiver.url}/paced`, events: ['message.failed'], rateLimit: 2 });
  // 40 deliveries due at once at 2 a second: the last waits about 20 s, on purpose.
  const before = receiver.requests.length;
  const dueAt = Date.now();
  await api.ok(
    'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id } } }',
    { inputs: Array.from({ length: 40 }, (_, i) => ({ type: 'message.failed', data: { i } })) },
    tenant.key,
  );
  const ops = api.herald.opsUrl;
  await sleep(6000);
  // Over the next 7 s (two reads of the database at least: the gauges are read at most every
  // 5 s): the oldest of the waiting ones has been due for 6 s and more, yet the lag stays 0.
  const paced: { lag: number; pending: number }[] = [];
  for (let i = 0; i < 8; i++, await sleep(1000)) paced.push(await lagOf(ops));
  const sent = receiver.requests.length - before;
  console.log(
    `rateLimit 2: ${sent} sent in ${((Date.now() - dueAt) / 1000).toFixed(1)} s; lag ${paced.map((r) => r.lag.toFixed(2)).join(', ')} s; waiting ${paced.map((r) => r.pending).join(', ')}`,
  );
  expect(sent).toBeLessThanOrEqual(((Date.now() - dueAt) / 1000) * 2 * 1.3 + 2);
  expect(new Set(paced.map((r) => r.pending)).size, 'a fresh read while the rate held them').toBeGreaterThan(1);
  for (const r of paced) expect(r.lag).toBeLessThan(1);
  expect(paced[0].pending).toBeGreaterThanOrEqual(20);

  // Nobody keeps to the rate any more: the lag grows from when the schedule ran out, not from when
  // the deliveries became due.
  const stoppedAt = Date.now();
  await worker!.dispose();
  worker = null;
  const stopped = await waitUntil(
    async () => {
      const r = await lagOf(ops);
      return r.lag >= 3 ? r : null;
    },
    { timeout: 20_000, interval: 250, message: 'the lag to rise once the worker stopped' },
  );
  const sinceStop = (Date.now() - stoppedAt) / 1000;
  console.log(
    `worker stopped: lag ${stopped.lag.toFixed(2)} s, ${sinceStop.toFixed(1)} s after the stop, ${((Date.now() - dueAt) / 1000).toFixed(1)} s after the deliveries were due`,
  );
  expect(stopped.lag).toBeLessThanOrEqual(sinceStop + 1);
  expect(stopped.lag).toBeLessThan((Date.now() - dueAt) / 1000 - 5);
});
