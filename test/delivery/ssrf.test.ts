import { afterAll, beforeAll, expect, test } from 'vitest';
import { createWebhook, deliveryOf, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

// No HERALD_ALLOWED_CIDRS: the SSRF guard is fully on. Every URL below must be refused before a
// socket opens. They point at a live receiver's port where a port applies, so a guard that let
// a loopback form through would show up as a connection.
let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true' });
  tenant = await createTenant(h);
});
afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

const forms = (port: number) => [
  `http://127.0.0.1:${port}/hook`,
  `http://127.0.0.2:${port}/hook`,
  `http://localhost:${port}/hook`,
  `http://[::1]:${port}/hook`,
  `http://[::ffff:127.0.0.1]:${port}/hook`,
  `http://169.254.169.254:${port}/latest/meta-data/`,
  `http://10.0.0.1:${port}/hook`,
  `http://0.0.0.0:${port}/hook`,
  `http://2130706433:${port}/hook`,
  `http://0177.0.0.1:${port}/hook`,
  `https://127.0.0.1:${port}/hook`,
];

test('loopback, private, link-local, unspecified, mapped, decimal and octal forms → BLOCKED_ADDRESS, no connection made', async () => {
  const urls = forms(receiver.port);
  const webhooks = [];
  for (const url of urls)
    webhooks.push({ url, ...(await createWebhook(h, tenant.key, { url, events: ['message.queued'], retrySchedule: [] })) });
  const { eventId, deliveryCount } = await publish(h, tenant.key, { type: 'message.queued' });
  expect(deliveryCount).toBe(urls.length);

  for (const webhook of webhooks) {
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    const delivery = await waitForDelivery(h, tenant.key, id);
    expect(delivery.status, webhook.url).toBe('FAILED');
    expect(delivery.lastError, webhook.url).toBe('BLOCKED_ADDRESS');
    expect(delivery.attempts, webhook.url).toHaveLength(1);
    expect(delivery.attempts[0], webhook.url).toMatchObject({
      error: 'BLOCKED_ADDRESS',
      responseStatus: null,
      requestUrl: new URL(webhook.url).href,
    });
    expect(delivery.attempts[0].errorMessage, webhook.url).toMatch(/not allowed/);
  }
  expect(receiver.requests).toHaveLength(0);
  expect(receiver.connections).toBe(0);
});

test('a refused address is retried on schedule like any failure, and still never connects', async () => {
  const { id: webhookId } = await createWebhook(h, tenant.key, {
    url: `http://127.0.0.1:${receiver.port}/retry`,
    events: ['message.optout'],
    retrySchedule: [1],
  });
  const { eventId } = await publish(h, tenant.key, { type: 'message.optout' });
  const { id } = await deliveryOf(h, tenant.key, eventId, webhookId);
  const delivery = await waitForDelivery(h, tenant.key, id, { timeout: 10_000 });
  expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 2, lastError: 'BLOCKED_ADDRESS' });
  expect(delivery.attempts.map((a) => a.error)).toEqual(['BLOCKED_ADDRESS', 'BLOCKED_ADDRESS']);
  expect(receiver.connections).toBe(0);
});
