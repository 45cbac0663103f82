import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createWebhook, type DeliveryView, deliveryOf, getWebhookStatus, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, type ReceiverHandler, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let tenant: { id: string; key: string };
const receivers: Receiver[] = [];

beforeAll(async () => {
  h = await startTestHerald({ HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_ALLOW_HTTP: 'true' });
  tenant = await createTenant(h);
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
afterAll(() => h?.stop());

/** A receiver answering the n-th request (0-based) with `answers[n]` (the last one repeats). */
async function receiverAnswering(...answers: ((res: ServerResponse) => void)[]): Promise<Receiver> {
  let n = 0;
  const handler: ReceiverHandler = (_req, res) => answers[Math.min(n++, answers.length - 1)](res);
  const receiver = await startReceiver({ handler });
  receivers.push(receiver);
  return receiver;
}

const status =
  (code: number, body = `status ${code}`, headers: Record<string, string> = {}) =>
  (res: ServerResponse) =>
    res.writeHead(code, { 'content-type': 'text/plain', ...headers }).end(body);

/** A webhook on `receiver` with `input`, one event published to it; returns the delivery. */
async function deliverOne(
  receiver: Receiver,
  input: Record<string, unknown>,
): Promise<{ webhookId: string; eventId: string; deliveryId: string }> {
  const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/hook`, ...input });
  const { eventId, deliveryCount } = await publish(h, tenant.key, { data: { messageId: 'retry-test' } });
  // Every earlier test's webhook is subscribed too; only this one's delivery matters here.
  expect(deliveryCount).toBeGreaterThanOrEqual(1);
  const delivery = await deliveryOf(h, tenant.key, eventId, webhook.id);
  return { webhookId: webhook.id, eventId, deliveryId: delivery.id };
}

/** Gaps between consecutive requests, in ms. */
function gaps(receiver: Receiver): number[] {
  return receiver.requests.slice(1).map((r, i) => r.receivedAt.getTime() - receiver.requests[i].receivedAt.getTime());
}

// Earlier tests' webhooks stay subscribed to every event; pause each after its test so later
// events do not keep them busy.
const finished: string[] = [];
afterEach(async () => {
  for (const id of finished.splice(0)) {
    await h.gql('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id }, tenant.key);
  }
});

test('500, 500, 200 on schedule [1, 1] → SUCCEEDED after three recorded attempts with one webhook-id', async () => {
  const receiver = await receiverAnswering(status(500, 'first failure'), status(500, 'second failure'), status(200, 'finally'));
  const { webhookId, eventId, deliveryId } = await deliverOne(receiver, { retrySchedule: [1, 1] });
  finished.push(webhookId);

  const delivery = await waitForDelivery(h, tenant.key, deliveryId, { timeout: 15_000 });
  expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 3, lastResponseStatus: 200, nextAttemptAt: null });
  expect(delivery.completedAt).not.toBeNull();
  expect(delivery.attempts.map((a) => [a.number, a.trigger, a.responseStatus, a.responseBody, a.error])).toEqual([
    [1, 'SCHEDULED', 500, 'first failure', null],
    [2, 'SCHEDULED', 500, 'second failure', null],
    [3, 'SCHEDULED', 200, 'finally', null],
  ]);
  for (const attempt of delivery.attempts) {
    expect(attempt.durationMs).toBeGreaterThanOrEqual(0);
    expect(attempt.durationMs).toBeLessThan(1000);
    expect(attempt.requestUrl).toBe(`${receiver.url}/hook`);
    expect(attempt.responseHeaders?.['content-type']).toBe('text/plain');
  }
  // The receiver's idempotency key is the event id on every attempt; the attempt number counts up.
  expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([eventId, eventId, eventId]);
  expect(receiver.requests.map((r) => r.headers['herald-attempt'])).toEqual(['1', '2', '3']);
  expect(receiver.requests.map((r) => r.headers['herald-delivery-id'])).toEqual([deliveryId, deliveryId, deliveryId]);
  expect(new Set(receiver.requests.map((r) => r.body)).size).toBe(1);
  console.log(`[retries] 500,500,200 on [1,1]: gaps ${gaps(receiver).join(' ms, ')} ms`);
});

test('500 three times on schedule [1, 1] → FAILED, completedAt set, nothing more is sent', async () => {
  const receiver = await receiverAnswering(status(500, 'always down'));
  const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [1, 1] });
  finished.push(webhookId);

  const delivery = await waitForDelivery(h, tenant.key, deliveryId, { timeout: 15_000 });
  expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 3, lastResponseStatus: 500, nextAttemptAt: null });
  expect(new Date(delivery.completedAt!).getTime()).toBeGreaterThanOrEqual(new Date(delivery.attempts[2].startedAt).getTime());
  expect(delivery.attempts.map((a) => [a.number, a.trigger, a.responseStatus, a.responseBody])).toEqual([
    [1, 'SCHEDULED', 500, 'always down'],
    [2, 'SCHEDULED', 500, 'always down'],
    [3, 'SCHEDULED', 500, 'always down'],
  ]);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(receiver.requests).toHaveLength(3);
});

test('a retry goes out about its scheduled delay after the failure, not at the next 30 s poll', async () => {
  // Sequential deliveries, so no other activity wakes the worker by chance.
  const receiver = await receiverAnswering(status(500));
  const measured: { gap: number; late: number }[] = [];
  for (let i = 0; i < 4; i++) {
    receiver.requests.length = 0;
    let n = 0;
    receiver.setHandler((_req, res) => status(n++ === 0 ? 500 : 200)(res));
    const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [1] });
    // The time the retry was scheduled for, read while the delivery waits for it.
    const retrying = await waitForDelivery(h, tenant.key, deliveryId, { status: 'RETRYING' });
    const delivery = await waitForDelivery(h, tenant.key, deliveryId, { timeout: 15_000 });
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhookId }, tenant.key);
    expect(delivery.status).toBe('SUCCEEDED');
    const [gap] = gaps(receiver);
    const late = new Date(delivery.attempts[1].startedAt).getTime() - new Date(retrying.nextAttemptAt!).getTime();
    measured.push({ gap, late });
  }
  console.log(
    `[retries] schedule [1] (1 s ±20 %): gaps between attempts ${measured.map((m) => m.gap).join(', ')} ms; ` +
      `retry started after its scheduled time by ${measured.map((m) => m.late).join(', ')} ms`,
  );
  for (const { gap, late } of measured) {
    expect(gap).toBeGreaterThanOrEqual(750);
    expect(gap).toBeLessThan(2500);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(600);
  }
});

test('429 with Retry-After: 2 on schedule [1] → the next attempt waits about 2 s', async () => {
  const receiver = await receiverAnswering(status(429, 'slow down', { 'retry-after': '2' }), status(200));
  const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [1] });
  finished.push(webhookId);

  const delivery = await waitForDelivery(h, tenant.key, deliveryId, { timeout: 15_000 });
  expect(delivery.status).toBe('SUCCEEDED');
  expect(delivery.attempts.map((a) => a.responseStatus)).toEqual([429, 200]);
  const [gap] = gaps(receiver);
  console.log(`[retries] Retry-After: 2 gap: ${gap} ms`);
  expect(gap).toBeGreaterThanOrEqual(1950);
  expect(gap).toBeLessThan(3500);
});

test('503 with a Retry-After over 24 h is clamped to 24 h', async () => {
  const receiver = await receiverAnswering(status(503, 'maintenance', { 'retry-after': String(3 * 24 * 3600) }));
  const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [1] });
  finished.push(webhookId);

  const delivery = await waitForDelivery(h, tenant.key, deliveryId, { status: 'RETRYING' });
  const next = new Date(delivery.nextAttemptAt!).getTime();
  const attemptedAt = new Date(delivery.attempts[0].startedAt).getTime();
  expect(next).toBeLessThanOrEqual(Date.now() + 24 * 3600 * 1000);
  expect(next).toBeGreaterThan(attemptedAt + 24 * 3600 * 1000 - 60_000);
  expect(delivery.attempts.map((a) => a.responseStatus)).toEqual([503]);
});

test('410 Gone disables the webhook at once and fails the delivery without retrying', async () => {
  const receiver = await receiverAnswering(status(410, 'gone'));
  const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [1, 1] });

  const delivery = await waitForDelivery(h, tenant.key, deliveryId);
  expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 1, lastResponseStatus: 410 });
  const webhook = await getWebhookStatus(h, tenant.key, webhookId);
  expect(webhook.status).toBe('DISABLED');
  expect(webhook.disabledReason).toMatch(/410/);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(receiver.requests).toHaveLength(1);
});

test('a 3xx is a failed attempt with error REDIRECT; Location is not followed', async () => {
  const receiver = await receiverAnswering(status(302, '', { location: '/elsewhere' }));
  const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [] });
  finished.push(webhookId);

  const delivery: DeliveryView = await waitForDelivery(h, tenant.key, deliveryId);
  expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 1, lastResponseStatus: 302, lastError: 'REDIRECT' });
  expect(delivery.attempts[0]).toMatchObject({ responseStatus: 302, error: 'REDIRECT' });
  expect(delivery.attempts[0].responseHeaders?.location).toBe('/elsewhere');
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(receiver.requests.map((r) => r.url)).toEqual(['/hook']);
});

test('timeoutMs 1000 and a receiver that never answers → TIMEOUT after about 1 s', async () => {
  const receiver = await receiverAnswering(() => {});
  const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [], timeoutMs: 1000 });
  finished.push(webhookId);

  const delivery = await waitForDelivery(h, tenant.key, deliveryId);
  expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 1, lastResponseStatus: null, lastError: 'TIMEOUT' });
  const [attempt] = delivery.attempts;
  expect(attempt).toMatchObject({ error: 'TIMEOUT', responseStatus: null, responseBody: null });
  expect(attempt.durationMs).toBeGreaterThanOrEqual(950);
  expect(attempt.durationMs).toBeLessThan(1500);
  expect(receiver.requests).toHaveLength(1);
});

test('a response body that is not UTF-8 is stored as at most 16 KiB of bytes (the DESIGN cap), not 16 Ki characters', async () => {
  // 20 000 bytes of Latin-1 "é" and NUL: each decodes to the 3-byte U+FFFD.
  const body = Buffer.alloc(20_000, 0xe9).fill(0, 10_000);
  const receiver = await receiverAnswering((res) => res.writeHead(500, { 'content-type': 'text/plain; charset=latin1' }).end(body));
  const { webhookId, deliveryId } = await deliverOne(receiver, { retrySchedule: [] });
  finished.push(webhookId);
  const delivery = await waitForDelivery(h, tenant.key, deliveryId);
  const [attempt] = delivery.attempts;
  expect(attempt.responseStatus).toBe(500);
  expect(Buffer.byteLength(attempt.responseBody!)).toBeLessThanOrEqual(16 * 1024);
  expect(attempt.responseBody).toMatch(/^\uFFFD{5000,}$/);
});
