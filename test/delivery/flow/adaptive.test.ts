// Adaptive throttling (issue 15): an endpoint that answers 429 above 10 requests at once, two
// `--role worker` processes, a webhook allowing 50. Herald backs off, shows it, and climbs back.
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { statusCounts } from '../../helpers/db.ts';
import { createWebhook, publishEvents } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { collect, connectLive } from '../../helpers/live.ts';
import { type Split, startSplit } from '../../helpers/process.ts';
import { concurrencyMeter, type Receiver, type ReceiverHandler, startReceiver } from '../../helpers/receiver.ts';

let api: TestHerald;
let tenant: Tenant;
let split: Split;
let receiver: Receiver;
let live: Client | undefined;

/** The endpoint's own limit: above it, 429 at once; below it, 200 after 30 ms. */
let capacity = 10;
let tooMany = 0;
const meter = concurrencyMeter(((req, res) => {
  // A rate-limiting endpoint that refuses everything, at once.
  if (req.url?.startsWith('/refusing')) {
    res.writeHead(429, { 'content-type': 'text/plain' }).end('slow down');
    return;
  }
  // The meter counts this request already.
  if (meter.open > capacity) {
    tooMany++;
    res.writeHead(429, { 'content-type': 'text/plain' }).end('slow down');
    return;
  }
  setTimeout(() => res.writeHead(200).end('ok'), 30);
}) as ReceiverHandler);

beforeAll(async () => {
  receiver = await startReceiver({ handler: meter.handler });
  split = await startSplit(2);
  ({ api, tenant } = split);
}, 180_000);
afterAll(async () => {
  await live?.dispose();
  await split?.stop(receiver);
}, 60_000);

const THROTTLE = `throttle { concurrency rate reason since }`;

interface Throttled {
  id: string;
  throttle: { concurrency: number; rate: number | null; reason: string; since: string } | null;
}

async function publish(n: number, offset: number): Promise<void> {
  for (let i = 0; i < n; i += 500) {
    await publishEvents(
      api,
      tenant.key,
      Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ type: 'message.sent', data: { n: offset + i + j } })),
    );
  }
}

test('429 above 10 at once, maxInFlight 50: Herald converges below it, few requests meet a 429, all succeed; the throttle shows and lifts', {
  timeout: 120_000,
}, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/busy`, maxInFlight: 50, retrySchedule: [1, 1, 1, 1, 1, 1] });
  live = await connectLive(api.url, tenant.key);
  const stream = collect<Throttled>(live, `subscription($id: ID) { webhookStatusChanged(webhookId: $id) { id ${THROTTLE} } }`, {
    id: hook.id,
  });
  const received: number[] = [];
  void stream
    .waitUntil((items) => {
      while (received.length < items.length) received.push(Date.now());
      return false;
    }, 120_000)
    .catch(() => {});

  await publish(500, 0);
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 60_000, interval: 500 }).toEqual({ SUCCEEDED: 500 });
  const requests = receiver.requests.length;
  console.log(`[adaptive] 500 deliveries: ${requests} requests, ${tooMany} answered 429, at most ${meter.peak} at once`);
  expect(tooMany).toBeGreaterThan(0);
  expect(tooMany / requests).toBeLessThanOrEqual(1 / 5);

  // Shown on the webhook, and in the stream (each change at most once a second).
  const { webhook } = await api.ok<{ webhook: Throttled }>(
    `query($id: ID!) { webhook(id: $id) { id ${THROTTLE} } }`,
    { id: hook.id },
    tenant.key,
  );
  expect(webhook.throttle).toMatchObject({ reason: 'HTTP_429' });
  const throttled = stream.items.filter((w) => w.throttle !== null);
  expect(throttled.length).toBeGreaterThan(0);
  expect(throttled[0].throttle!.concurrency).toBeLessThan(50);
  const gaps = received.slice(1).map((t, i) => t - received[i]);
  console.log(`[adaptive] ${stream.items.length} throttle changes announced; shortest gap ${Math.min(...gaps)} ms`);
  expect(Math.min(...gaps)).toBeGreaterThan(500);

  // The endpoint recovers: the limits climb back.
  const before = webhook.throttle!.concurrency;
  capacity = 1000;
  tooMany = 0;
  await publish(2000, 500);
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 60_000, interval: 500 }).toEqual({ SUCCEEDED: 2500 });
  await new Promise((r) => setTimeout(r, 1500)); // the last change written (at most once a second)
  const after = (
    await api.ok<{ webhook: Throttled }>(`query($id: ID!) { webhook(id: $id) { id ${THROTTLE} } }`, { id: hook.id }, tenant.key)
  ).webhook;
  console.log(`[adaptive] after recovery: ${JSON.stringify(after.throttle)} (was ${before} at once); ${meter.peak} at most at once`);
  expect(after.throttle === null || after.throttle.concurrency >= before + 10).toBe(true);
  expect(tooMany).toBe(0);
  expect(stream.items.at(-1)!.throttle?.concurrency ?? 50).toBeGreaterThan(before);
});

test('an endpoint answering 429 at once to a burst: the limits halve once, not once per answer, and the lowered rate spaces what is sent after', {
  timeout: 60_000,
}, async () => {
  const hook = await createWebhook(api, tenant.key, {
    url: `${receiver.url}/refusing`,
    maxInFlight: 10,
    rateLimit: 100,
    retrySchedule: [300],
  });
  const sent = () => receiver.requests.filter((r) => r.url === '/refusing').map((r) => r.receivedAt.getTime());
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 10 }, (_, n) => ({ type: 'message.sent', data: { n } })),
  );
  await receiver.waitFor(1, 10_000);
  await expect.poll(() => sent().length, { timeout: 20_000, interval: 100 }).toBe(10);
  const times = sent().sort((a, b) => a - b);
  await new Promise((r) => setTimeout(r, 1500)); // written at most once a second
  const { webhook } = await api.ok<{ webhook: Throttled }>(
    `query($id: ID!) { webhook(id: $id) { id ${THROTTLE} } }`,
    { id: hook.id },
    tenant.key,
  );
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  console.log(`[adaptive] 10 events, all 429 at once: ${JSON.stringify(webhook.throttle)}; gaps ${gaps.join(', ')} ms`);
  // A window of 10 at once was in play: one decrease (it was 1 at once and 0.1/s).
  expect(webhook.throttle).toMatchObject({ concurrency: 5, rate: 50, reason: 'HTTP_429' });
  // After the first 429 the sends keep to 50/s (20 ms apart; 1.3 x the rate over the rest at most).
  expect(times.at(-1)! - times[1]).toBeGreaterThanOrEqual((8 * 1000) / 50 / 1.3);
});

test('an endpoint answering 429 at once, maxInFlight 2 and rateLimit 5: each halving waits for a window, and the sends that follow keep to the lowered rate', {
  timeout: 60_000,
}, async () => {
  const hook = await createWebhook(api, tenant.key, {
    url: `${receiver.url}/refusing/slow`,
    maxInFlight: 2,
    rateLimit: 5,
    retrySchedule: [300],
  });
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 10 }, (_, n) => ({ type: 'message.sent', data: { n } })),
  );
  const sent = () => receiver.requests.filter((r) => r.url === '/refusing/slow').map((r) => r.receivedAt.getTime());
  await expect.poll(() => sent().length, { timeout: 10_000, interval: 100 }).toBeGreaterThan(0);
  const first = Math.min(...sent());
  await new Promise((r) => setTimeout(r, first + 2400 - Date.now()));
  const within = sent().filter((t) => t <= first + 2400).length;
  await new Promise((r) => setTimeout(r, 1200)); // written at most once a second
  const { webhook } = await api.ok<{ webhook: Throttled }>(
    `query($id: ID!) { webhook(id: $id) { id ${THROTTLE} } }`,
    { id: hook.id },
    tenant.key,
  );
  const times = sent().sort((a, b) => a - b);
  console.log(
    `[adaptive] maxInFlight 2, rateLimit 5, all 429 at once: ${within} attempts in the first 2.4 s, then ${JSON.stringify(webhook.throttle)}; gaps ${times
      .slice(1)
      .map((t, i) => t - times[i])
      .join(', ')} ms`,
  );
  // 5/s would send 12 in 2.4 s (8 or 9 went, and it fell to 0.1/s): halved to 2.5/s at the first
  // answer (0 s), the next two answers are its window (0.4, 0.8 s), to 1.25/s at the next (1.2 s),
  // its window of one (2.0 s), to 0.625/s at the next (2.8 s): 5 sends, and a rate above the floor when read.
  expect(within).toBeLessThanOrEqual(5);
  // No send closer to the previous one than the rate then in force allowed (2.5/s at most after the first).
  expect(Math.min(...times.slice(1).map((t, i) => t - times[i]))).toBeGreaterThanOrEqual(400 / 1.2);
  expect(webhook.throttle).toMatchObject({ concurrency: 1, reason: 'HTTP_429' });
  expect(webhook.throttle!.rate).toBeGreaterThanOrEqual(0.15);
});
