import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  createWebhook,
  deliveryOf,
  getDelivery,
  listDeliveries,
  publish,
  publishEvents,
  sleep,
  waitForDelivery,
} from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { holdingHandler, type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let slow: Receiver;
let fast: Receiver;
let tenant: { id: string; key: string };

beforeAll(async () => {
  slow = await startReceiver({ handler: () => {} }); // never answers
  fast = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_ALLOW_HTTP: 'true' });
  tenant = await createTenant(h);
});
afterAll(async () => {
  // Closing the hanging receiver first ends its requests, so Herald stops without waiting them out.
  await slow?.close();
  await fast?.close();
  await h?.stop();
});

test('a hanging endpoint holds at most maxInFlight requests and never holds back a fast one', async () => {
  // Adaptive throttling would halve the slow endpoint's concurrency after its timeouts (tested in
  // test/delivery/flow/): off here, to watch maxInFlight alone.
  const slowHook = await createWebhook(h, tenant.key, {
    url: `${slow.url}/slow`,
    timeoutMs: 5000,
    maxInFlight: 2,
    retrySchedule: [],
    adaptiveThrottling: false,
  });
  const fastHook = await createWebhook(h, tenant.key, { url: `${fast.url}/fast`, retrySchedule: [] });

  const started = Date.now();
  const inputs = Array.from({ length: 20 }, (_, i) => ({ type: 'message.delivered', channel: 'sms', data: { messageId: `m${i}` } }));
  const { publishEvents } = await h.ok(
    'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id } deliveryCount } }',
    { inputs },
    tenant.key,
  );
  expect(publishEvents.map((p: { deliveryCount: number }) => p.deliveryCount)).toEqual(Array(20).fill(2));

  await expect
    .poll(async () => (await listDeliveries(h, tenant.key, { webhookId: fastHook.id, status: 'SUCCEEDED' })).length, {
      timeout: 3000,
      interval: 100,
    })
    .toBe(20);
  const elapsed = Date.now() - started;
  console.log(`[isolation] 20 fast deliveries succeeded ${elapsed} ms after publishing, beside a hanging endpoint`);
  expect(elapsed).toBeLessThan(3000);
  expect(fast.requests).toHaveLength(20);

  // Meanwhile the slow endpoint holds exactly maxInFlight requests and nothing of it has finished.
  expect(slow.requests).toHaveLength(2);
  const slowDeliveries = await listDeliveries(h, tenant.key, { webhookId: slowHook.id });
  expect(slowDeliveries).toHaveLength(20);
  expect(slowDeliveries.every((d) => d.status === 'PENDING' && d.attempts.length === 0)).toBe(true);

  // The first two time out after 5 s and the next two go out: the lane keeps moving, two at a time.
  await expect.poll(() => slow.requests.length, { timeout: 8000, interval: 100 }).toBe(4);
  await expect
    .poll(async () => (await listDeliveries(h, tenant.key, { webhookId: slowHook.id, status: 'FAILED' })).map((d) => d.attempts[0]?.error))
    .toEqual(['TIMEOUT', 'TIMEOUT']);
  expect(slow.requests).toHaveLength(4);
});

test('an endpoint far behind: deliveries beyond its lane wait in the table, then all arrive, once each', async () => {
  // One request at a time, 150 ms each: the worker holds 4 (maxInFlight × 4, core/flow.ts
  // laneCap); the other 26 of the 30 wait in the table, are pulled as the lane drains, and must
  // all be delivered, exactly once.
  const steady = await startReceiver({ handler: (_req, res) => void setTimeout(() => res.writeHead(200).end('ok'), 150) });
  try {
    const hook = await createWebhook(h, tenant.key, {
      url: `${steady.url}/steady`,
      maxInFlight: 1,
      channels: ['steady'],
      retrySchedule: [],
    });
    const inputs = Array.from({ length: 30 }, (_, i) => ({ type: 'message.sent', channel: 'steady', data: { messageId: `s${i}` } }));
    await h.ok('mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { deliveryCount } }', { inputs }, tenant.key);

    await expect
      .poll(async () => (await listDeliveries(h, tenant.key, { webhookId: hook.id, status: 'SUCCEEDED' })).length, {
        timeout: 25_000,
        interval: 250,
      })
      .toBe(30);
    const deliveries = await listDeliveries(h, tenant.key, { webhookId: hook.id });
    expect(deliveries.every((d) => d.attempts.length === 1)).toBe(true);
    expect(steady.requests).toHaveLength(30);
    expect(new Set(steady.requests.map((r) => r.headers['webhook-id'])).size).toBe(30);
  } finally {
    await steady.close();
  }
});

test('a manual retry of an ended delivery put off behind a full lane is woken when due, not left for the sweep', async () => {
  // The worker holds 4 deliveries of a maxInFlight 1 webhook; while they wait, a retryDelivery of
  // a SUCCEEDED delivery waits in the table with the other 21. Once the endpoint catches up it
  // must go out within a few seconds; the sweep would find it only lease/2 (15 s) after it came due.
  const hold = holdingHandler();
  const endpoint = await startReceiver();
  try {
    const hook = await createWebhook(h, tenant.key, { url: `${endpoint.url}/behind`, maxInFlight: 1, channels: ['behind'] });
    const { eventId } = await publish(h, tenant.key, { type: 'message.sent', channel: 'behind' });
    const first = await deliveryOf(h, tenant.key, eventId, hook.id);
    await waitForDelivery(h, tenant.key, first.id, { status: 'SUCCEEDED' });

    endpoint.setHandler(hold.handler);
    const inputs = Array.from({ length: 25 }, (_, i) => ({ type: 'message.sent', channel: 'behind', data: { n: i } }));
    await publishEvents(h, tenant.key, inputs);
    await expect.poll(() => hold.held, { timeout: 5000 }).toBe(1);
    await sleep(500); // 4 claimed, 21 left in the table
    await h.ok('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: first.id }, tenant.key);
    await sleep(1000); // left in the table: the lane is full

    hold.answerAll();
    const released = Date.now();
    await expect.poll(() => endpoint.requests.filter((r) => r.headers['webhook-id'] === eventId).length, { timeout: 8000 }).toBe(2);
    console.log(`[isolation] the put-off manual retry went out ${Date.now() - released} ms after the lane drained`);
    // Recorded as the delivery's second attempt (it was SUCCEEDED all along: wait for the row).
    await expect
      .poll(async () => (await getDelivery(h, tenant.key, first.id)).attempts.map((a) => a.trigger))
      .toEqual(['SCHEDULED', 'MANUAL']);
    expect((await getDelivery(h, tenant.key, first.id)).status).toBe('SUCCEEDED');
  } finally {
    hold.answerAll();
    await endpoint.close();
  }
});
