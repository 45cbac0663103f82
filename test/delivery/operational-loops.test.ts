import { afterAll, beforeAll, expect, test } from 'vitest';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, getWebhookStatus, listDeliveries, publish, sleep } from '../helpers/deliveries.ts';
import { createTenant, LOCAL_RECEIVERS, startTestHerald, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

// Windows of 1 s, closed by the sweep every 1 s (lease/2): a quiet period of 4 s leaves nothing pending.
const QUIET_MS = 4000;

let h: TestHerald;
let tenant: Tenant;
const receivers: Receiver[] = [];

beforeAll(async () => {
  h = await startTestHerald({ ...LOCAL_RECEIVERS, HERALD_EXHAUSTED_WINDOW: '1s', HERALD_LEASE: '2s' });
  tenant = await createTenant(h);
});
afterAll(() => stopAll(h, ...receivers));

/** A receiver answering `status()` to every request. */
async function answering(status: () => number): Promise<Receiver> {
  const r = await startReceiver({ handler: (_req, res) => res.writeHead(status()).end() });
  receivers.push(r);
  return r;
}

async function eventTypes(): Promise<Record<string, number>> {
  return withPgClient(h.databaseUrl, async (client) => {
    const { rows } = await client.query<{ type: string; n: number }>('select type, count(*)::int as n from event group by type');
    return Object.fromEntries(rows.map((r) => [r.type, r.n]));
  });
}

test('no loop: failing receivers of operational events, an operator webhook among them, cause no operational event', async () => {
  const endpoint = await answering(() => 500);
  let inboxStatus = 500;
  let operatorStatus = 500;
  const tenantInbox = await answering(() => inboxStatus);
  const failingOperator = await answering(() => operatorStatus);
  const goneOperator = await answering(() => 410);
  await createWebhook(h, tenant.key, { url: `${endpoint.url}/hook`, events: ['message.sent'], retrySchedule: [] });
  // The tenant's own notice receiver fails too, and is subscribed to what its failures would cause.
  const inbox = await createWebhook(h, tenant.key, {
    url: `${tenantInbox.url}/ops`,
    events: ['delivery.exhausted', 'delivery.recovered', 'webhook.disabled'],
    retrySchedule: [],
  });
  const operator = await createWebhook(h, h.adminKey, {
    url: `${failingOperator.url}/op`,
    events: ['*'],
    operator: true,
    retrySchedule: [1],
  });
  const gone = await createWebhook(h, h.adminKey, { url: `${goneOperator.url}/op`, events: ['*'], operator: true, retrySchedule: [] });

  await publish(h, tenant.key, { type: 'message.sent', data: { messageId: 'loop-1' } });
  // One notice: to the tenant's inbox (1 attempt) and to both operator webhooks (2 attempts; 410 → disabled).
  await expect.poll(() => failingOperator.requests.length, { timeout: 15_000 }).toBe(2);
  await expect.poll(async () => (await getWebhookStatus(h, h.adminKey, gone.id)).status, { timeout: 10_000 }).toBe('DISABLED');
  await sleep(QUIET_MS);
  expect(endpoint.requests).toHaveLength(1);
  expect(tenantInbox.requests).toHaveLength(1);
  expect(failingOperator.requests).toHaveLength(2);
  expect(goneOperator.requests).toHaveLength(1);
  // The message and the notice's two copies (the tenant's, the operator's); no notice of the notice's
  // failures, nor of the operator webhook disabled.
  expect(await eventTypes()).toEqual({ 'message.sent': 1, 'delivery.exhausted': 2 });
  const [operatorDelivery] = await listDeliveries(h, h.adminKey, { webhookId: operator.id });
  expect(operatorDelivery).toMatchObject({ status: 'FAILED', attemptCount: 2, eventType: 'delivery.exhausted' });

  // Both receivers of notices now answer: their first success after failing is a delivery of a
  // notice, which reports no recovery.
  inboxStatus = 200;
  operatorStatus = 200;
  await publish(h, tenant.key, { type: 'message.sent', data: { messageId: 'loop-2' } });
  await expect.poll(() => failingOperator.requests.length, { timeout: 15_000 }).toBe(3);
  await expect.poll(() => tenantInbox.requests.length, { timeout: 15_000 }).toBe(2);
  await sleep(QUIET_MS);
  expect(await eventTypes()).toEqual({ 'message.sent': 2, 'delivery.exhausted': 4 });
  expect(failingOperator.requests).toHaveLength(3);
  expect(tenantInbox.requests).toHaveLength(2);
  const inboxDeliveries = await listDeliveries(h, tenant.key, { webhookId: inbox.id });
  expect(inboxDeliveries.map((d) => d.status)).toEqual(['SUCCEEDED', 'FAILED']);
});

test('operational events that cannot be written never hold up recording: the batch is recorded without them', async () => {
  const endpoint = await answering(() => 500);
  const inbox = await answering(() => 200);
  const failing = await createWebhook(h, tenant.key, { url: `${endpoint.url}/hook`, events: ['message.read'], retrySchedule: [] });
  await createWebhook(h, tenant.key, { url: `${inbox.url}/ops`, events: ['delivery.exhausted'] });
  // A fault of their own: the fold's table refuses every row.
  await withPgClient(h.databaseUrl, (client) => client.query('alter table exhausted_fold add constraint broken check (count < 0)'));
  try {
    const { eventId } = await publish(h, tenant.key, { type: 'message.read', data: { messageId: 'broken' } });
    await expect.poll(async () => (await listDeliveries(h, tenant.key, { eventId }))[0]?.status, { timeout: 10_000 }).toBe('FAILED');
    await sleep(500);
    expect(inbox.requests).toHaveLength(0);
  } finally {
    await withPgClient(h.databaseUrl, (client) => client.query('alter table exhausted_fold drop constraint broken'));
  }
  // Mended, the next one is told.
  await publish(h, tenant.key, { type: 'message.read', data: { messageId: 'mended' } });
  await expect.poll(() => inbox.requests.length, { timeout: 10_000 }).toBe(1);
  expect(JSON.parse(inbox.requests[0].body).data.webhookId).toBe(failing.id);
});
