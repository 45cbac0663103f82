// rateLimit per webhook across worker processes (issue 15): two `--role worker` processes share
// one schedule of send times, so the endpoint sees the rate, evenly spread.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { statusCounts, withPgClient } from '../../helpers/db.ts';
import { createWebhook, publish, publishEvents } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { attemptsLogged, type HeraldProcess, type Split, startSplit } from '../../helpers/process.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';

const RATE = 20;
const EVENTS = 300;

let api: TestHerald;
let tenant: Tenant;
let workers: HeraldProcess[] = [];
let split: Split;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  split = await startSplit(2);
  ({ api, tenant, workers } = split);
}, 180_000);
afterAll(() => split?.stop(receiver), 60_000);

/** The most requests received in any window of `ms` (each window starting at a request). */
function busiestWindow(times: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j] < times[i] + ms) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

test(`rateLimit ${RATE}: two workers send ${RATE}/s evenly; waiting deliveries use no attempts and show in stats`, {
  timeout: 90_000,
}, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/rated`, rateLimit: RATE });
  const statsOf = async () =>
    (await api.ok(`query($id: ID!) { webhook(id: $id) { stats { waiting } } }`, { id: hook.id }, tenant.key)).webhook.stats
      .waiting as number;
  // Half in one call (a backlog at once), half one per call, five calls at a time: jobs reach both workers.
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: EVENTS / 2 }, (_, n) => ({ type: 'message.sent', data: { n } })),
  );
  const waitingEarly = await statsOf();
  for (let i = EVENTS / 2; i < EVENTS; i += 5) {
    await Promise.all(Array.from({ length: 5 }, (_, n) => publish(api, tenant.key, { type: 'message.sent', data: { n: i + n } })));
  }

  // Test events count against the rate like any attempt.
  await receiver.waitFor(20, 10_000);
  for (let i = 0; i < 5; i++) await api.ok(`mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }`, { id: hook.id }, tenant.key);

  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 40_000, interval: 500 }).toEqual({ SUCCEEDED: EVENTS + 5 });
  const times = receiver.requests.map((r) => r.receivedAt.getTime()).sort((a, b) => a - b);
  const first10s = times.filter((t) => t < times[0] + 10_000).length;
  const busiest = busiestWindow(times, 1000);
  const byWorker = workers.map((w) => attemptsLogged(w).length);
  console.log(
    `[rate-limit] first 10 s: ${first10s} requests; busiest 1 s window: ${busiest}; waiting after publishing: ${waitingEarly}; attempts per worker ${byWorker.join(', ')}`,
  );
  expect(first10s).toBeGreaterThanOrEqual(RATE * 10 * 0.9);
  expect(first10s).toBeLessThanOrEqual(RATE * 10 * 1.1);
  expect(busiest).toBeLessThanOrEqual(Math.ceil(RATE * 1.3));
  expect(waitingEarly).toBeGreaterThan(EVENTS / 2 - 50); // less what the workers took in hand
  expect(await statsOf()).toBe(0);

  // No attempt wasted: one per delivery, each the request the endpoint answered.
  expect(receiver.requests).toHaveLength(EVENTS + 5);
  const attempts = await withPgClient(api.databaseUrl, async (db) => {
    const { rows } = await db.query<{ n: number; max: number }>(
      'select count(*)::int as n, max(attempt_count)::int as max from delivery where webhook_id = $1',
      [hook.id],
    );
    return rows[0];
  });
  expect(attempts).toEqual({ n: EVENTS + 5, max: 1 });
});
