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
const meter = concurrencyMeter(((_req, res) => {
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
