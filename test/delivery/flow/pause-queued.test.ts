// A webhook paused or deleted while a worker holds its deliveries queued behind its slots (issue
// 15's lanes): what has not started is not sent. One API process and one `--role worker` process.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { statusCounts } from '../../helpers/db.ts';
import { createWebhook, publishEvents, sleep, updateWebhook } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { type Split, startSplit } from '../../helpers/process.ts';
import { answerAfter, type Receiver, startReceiver } from '../../helpers/receiver.ts';

let api: TestHerald;
let tenant: Tenant;
let split: Split;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver({ handler: answerAfter(1000) });
  split = await startSplit(1);
  ({ api, tenant } = split);
}, 180_000);
afterAll(() => split?.stop(receiver), 60_000);

const sentTo = (path: string) => receiver.requests.filter((r) => r.url === path).length;

test('paused while deliveries wait in a worker for the one slot: only the one in flight reaches the endpoint; the rest are sent on resume', {
  timeout: 60_000,
}, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/paused`, maxInFlight: 1, channels: ['paused'] });
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 6 }, (_, n) => ({ type: 'message.sent', channel: 'paused', data: { n } })),
  );
  await expect.poll(() => sentTo('/paused'), { timeout: 20_000, interval: 20 }).toBe(1);
  await updateWebhook(api, tenant.key, hook.id, { status: 'PAUSED' });
  await sleep(4000);
  expect(sentTo('/paused')).toBe(1);

  await updateWebhook(api, tenant.key, hook.id, { status: 'ACTIVE' });
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 30_000, interval: 250 }).toEqual({ SUCCEEDED: 6 });
  expect(sentTo('/paused')).toBe(6);
});

test('deleted while deliveries wait in a worker for the one slot: none of them reaches the endpoint', { timeout: 60_000 }, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/deleted`, maxInFlight: 1, channels: ['deleted'] });
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 6 }, (_, n) => ({ type: 'message.sent', channel: 'deleted', data: { n } })),
  );
  await expect.poll(() => sentTo('/deleted'), { timeout: 20_000, interval: 20 }).toBe(1);
  await api.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: hook.id }, tenant.key);
  await sleep(4000);
  expect(sentTo('/deleted')).toBe(1);
  await expect
    .poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 10_000, interval: 250 })
    .toEqual({ SUCCEEDED: 1, CANCELLED: 5 });
});
