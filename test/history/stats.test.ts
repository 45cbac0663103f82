import { afterAll, beforeAll, expect, test } from 'vitest';
import { createWebhook, type DeliveryView, listDeliveries, publish, sleep, waitForDelivery } from '../helpers/deliveries.ts';
import { createTenant, startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import type { Receiver } from '../helpers/receiver.ts';

/**
 * Webhook.stats after real deliveries: a receiver that answers after ~100 ms, succeeding or
 * failing on demand, and webhooks with one-second retry schedules.
 */

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;
let webhookId: string;
let slowRetryWebhookId: string;
/** How the receiver answers /hook: 200, 500, or 500 to a first attempt and 200 to a retry. */
let mode: 'ok' | 'fail' | 'fail-first-attempt' = 'ok';
const RECEIVER_DELAY_MS = 100;

const STATS = `query($id: ID!) { webhook(id: $id) { stats {
  deliveries24h succeeded24h failed24h successRate24h lastSuccessAt lastFailureAt consecutiveFailures latencyP50Ms latencyP95Ms
} } }`;

interface Stats {
  deliveries24h: number;
  succeeded24h: number;
  failed24h: number;
  successRate24h: number | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  consecutiveFailures: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
}

const stats = async (id = webhookId): Promise<Stats> => (await h.ok(STATS, { id }, tenant.key)).webhook.stats;

beforeAll(async () => {
  ({ h, tenant, receiver } = await startWithReceiver({
    receiver: {
      handler: async (req, res) => {
        await sleep(RECEIVER_DELAY_MS);
        const fail =
          req.url?.startsWith('/always-fail') ||
          mode === 'fail' ||
          (mode === 'fail-first-attempt' && req.headers['herald-attempt'] === '1');
        if (fail) res.writeHead(500).end('down');
        else res.writeHead(200).end('ok');
      },
    },
    tenant: 'stats',
  }));
  webhookId = (await createWebhook(h, tenant.key, { url: `${receiver.url}/hook`, events: ['message.delivered'], retrySchedule: [1] })).id;
  slowRetryWebhookId = (
    await createWebhook(h, tenant.key, { url: `${receiver.url}/always-fail`, events: ['message.failed'], retrySchedule: [600] })
  ).id;
});

afterAll(() => stopAll(h, receiver));

/** Publishes `n` message.delivered events and waits until each delivery has `status`. */
async function deliver(n: number, status: DeliveryView['status']): Promise<void> {
  for (let i = 0; i < n; i++) {
    const { eventId } = await publish(h, tenant.key, { type: 'message.delivered' });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId });
    await waitForDelivery(h, tenant.key, delivery.id, { status, timeout: 15_000 });
  }
}

async function attemptsOf(id: string) {
  const deliveries = await listDeliveries(h, tenant.key, { webhookId: id });
  return deliveries.flatMap((d) => d.attempts.map((a) => ({ ...a, status: d.status })));
}

/** PostgreSQL's percentile_cont: linear interpolation between the closest ranks. */
function percentileCont(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const finishedAt = (a: { startedAt: string; durationMs: number }) => new Date(Date.parse(a.startedAt) + a.durationMs).toISOString();

test('a webhook without deliveries has empty stats', async () => {
  expect(await stats()).toEqual({
    deliveries24h: 0,
    succeeded24h: 0,
    failed24h: 0,
    successRate24h: null,
    lastSuccessAt: null,
    lastFailureAt: null,
    consecutiveFailures: 0,
    latencyP50Ms: null,
    latencyP95Ms: null,
  });
});

test('successes, then failures with retries: counts, rate, last times, failure streak', async () => {
  mode = 'ok';
  await deliver(3, 'SUCCEEDED');
  let s = await stats();
  expect(s).toMatchObject({
    deliveries24h: 3,
    succeeded24h: 3,
    failed24h: 0,
    successRate24h: 1,
    lastFailureAt: null,
    consecutiveFailures: 0,
  });
  const successes = (await attemptsOf(webhookId)).filter((a) => a.responseStatus === 200);
  expect(successes).toHaveLength(3);
  const lastSuccess = successes.map(finishedAt).sort().at(-1);
  expect(s.lastSuccessAt).toBe(lastSuccess);

  // Two deliveries fail twice each (first try + one retry after ~1 s), then are FAILED.
  mode = 'fail';
  await deliver(2, 'FAILED');
  s = await stats();
  const attempts = await attemptsOf(webhookId);
  const failures = attempts.filter((a) => a.responseStatus === 500);
  expect(failures).toHaveLength(4);
  expect(s).toMatchObject({
    deliveries24h: 5,
    succeeded24h: 3,
    failed24h: 2,
    successRate24h: 0.6,
    lastSuccessAt: lastSuccess,
    lastFailureAt: failures.map(finishedAt).sort().at(-1),
    // Failed attempts since the last success.
    consecutiveFailures: 4,
  });
  expect(Date.parse(s.lastFailureAt!)).toBeGreaterThan(Date.parse(s.lastSuccessAt!));
});

test('a success resets the failure streak, even on a retry of a failing delivery', async () => {
  // First try fails (streak 4 → 5), the retry a second later succeeds (streak 0).
  mode = 'fail-first-attempt';
  const { eventId } = await publish(h, tenant.key, { type: 'message.delivered' });
  const [delivery] = await listDeliveries(h, tenant.key, { eventId });
  const done = await waitForDelivery(h, tenant.key, delivery.id, { status: 'SUCCEEDED', timeout: 15_000 });
  mode = 'ok';
  expect(done.attempts.map((a) => a.responseStatus)).toEqual([500, 200]);

  const s = await stats();
  expect(s).toMatchObject({
    deliveries24h: 6,
    succeeded24h: 4,
    failed24h: 2,
    consecutiveFailures: 0,
    lastSuccessAt: finishedAt(done.attempts[1]),
    // The failed first try was counted (it is the latest failure) before the success reset the streak.
    lastFailureAt: finishedAt(done.attempts[0]),
  });
  expect(s.successRate24h).toBeCloseTo(4 / 6, 10);
  expect(Date.parse(s.lastSuccessAt!)).toBeGreaterThan(Date.parse(s.lastFailureAt!));
});

test('latency p50/p95 match the recorded attempt durations against a ~100 ms receiver', async () => {
  const s = await stats();
  const durations = (await attemptsOf(webhookId)).map((a) => a.durationMs);
  expect(durations).toHaveLength(3 + 4 + 2);
  expect(s.latencyP50Ms).toBe(Math.round(percentileCont(durations, 0.5)));
  expect(s.latencyP95Ms).toBe(Math.round(percentileCont(durations, 0.95)));
  // Plausible: the receiver waits 100 ms before answering, on localhost.
  expect(s.latencyP50Ms!).toBeGreaterThanOrEqual(RECEIVER_DELAY_MS - 5);
  expect(s.latencyP50Ms!).toBeLessThan(RECEIVER_DELAY_MS + 900);
  expect(s.latencyP95Ms!).toBeGreaterThanOrEqual(s.latencyP50Ms!);
  expect(s.latencyP95Ms!).toBeLessThan(RECEIVER_DELAY_MS + 1900);
});

test('a delivery still retrying counts in the volume but not in the rate', async () => {
  const { eventId } = await publish(h, tenant.key, { type: 'message.failed' });
  const [delivery] = await listDeliveries(h, tenant.key, { eventId });
  expect(delivery.webhookId).toBe(slowRetryWebhookId);
  const retrying = await waitForDelivery(h, tenant.key, delivery.id, { status: 'RETRYING' });
  await expect.poll(async () => (await stats(slowRetryWebhookId)).consecutiveFailures, { timeout: 5_000, interval: 100 }).toBe(1);
  const s = await stats(slowRetryWebhookId);
  expect(s).toEqual({
    deliveries24h: 1,
    succeeded24h: 0,
    failed24h: 0,
    successRate24h: null,
    lastSuccessAt: null,
    lastFailureAt: finishedAt(retrying.attempts[0]),
    consecutiveFailures: 1,
    latencyP50Ms: retrying.attempts[0].durationMs,
    latencyP95Ms: retrying.attempts[0].durationMs,
  });
  // The other webhook's figures are its own.
  expect((await stats()).deliveries24h).toBe(6);
});

test('stats of another tenant’s webhook are not reachable', async () => {
  const other = await createTenant(h, 'curious');
  const result = await h.gql(STATS, { id: webhookId }, other.key);
  expect(result.errors).toBeUndefined();
  expect(result.data.webhook).toBeNull();
});
