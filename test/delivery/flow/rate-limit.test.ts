// rateLimit per webhook across worker processes (issue 15): two `--role worker` processes share
// one schedule of send times, so the endpoint sees the rate, evenly spread; deliveries that wait
// for it (or for a slot) cost no database write.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { heldSlots, statusCounts, withPgClient } from '../../helpers/db.ts';
import { createWebhook, publish, publishEvents, sleep, waitingOf, waitUntil } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { scrape } from '../../helpers/ops.ts';
import { attemptsLogged, type HeraldProcess, type Split, startSplit } from '../../helpers/process.ts';
import { holdingHandler, type Receiver, startReceiver } from '../../helpers/receiver.ts';

const RATE = 20;
const EVENTS = 300;

let api: TestHerald;
let tenant: Tenant;
let workers: HeraldProcess[] = [];
let split: Split;
let receiver: Receiver;

/** `/hang` holds every request open until hold.answerAll(); every other path answers 200 at once. */
const hold = holdingHandler();

beforeAll(async () => {
  receiver = await startReceiver({
    handler: (req, res, received) => (req.url === '/hang' ? hold.handler(req, res, received) : res.writeHead(200).end('ok')),
  });
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
  const statsOf = () => waitingOf(api, tenant.key, hook.id);
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

/** The row version (xmin) of every row of a webhook's in webhook_rate and delivery: a write changes it. */
async function rowVersions(databaseUrl: string, webhookId: string): Promise<Map<string, string>> {
  return withPgClient(databaseUrl, async (db) => {
    const { rows } = await db.query<{ row: string; version: string }>(
      `select 'webhook_rate' as row, xmin::text as version from webhook_rate where webhook_id = $1
       union all select 'delivery ' || id, xmin::text from delivery where webhook_id = $1`,
      [webhookId],
    );
    return new Map(rows.map((r) => [r.row, r.version]));
  });
}

test('a rate-limited webhook whose slots are all busy (its endpoint hangs): the deliveries waiting cost no write, and the lag gauge counts them', {
  timeout: 90_000,
}, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/hang`, rateLimit: 5, maxInFlight: 2, timeoutMs: 30_000 });
  const publishedAt = Date.now();
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 20 }, (_, n) => ({ type: 'message.sent', data: { n } })),
  );
  // Both slots busy with a request that hangs; the other 18 wait, in a lane or in the table.
  await waitUntil(async () => hold.held === 2 && (await heldSlots(api.databaseUrl, hook.id)).length === 2, {
    timeout: 20_000,
    message: 'both slots busy',
  });
  await sleep(1500); // lanes filled, a worker without a slot has given its share back
  const slotsBefore = await heldSlots(api.databaseUrl, hook.id);
  // Every row's version, read every 100 ms for 4 s: each change is a write.
  const before = await rowVersions(api.databaseUrl, hook.id);
  const written: string[] = [];
  for (let last = before, end = Date.now() + 4000; Date.now() < end; ) {
    await sleep(100);
    const now = await rowVersions(api.databaseUrl, hook.id);
    for (const [row, version] of now) if (last.get(row) !== version) written.push(row.split(' ')[0]);
    last = now;
  }
  console.log(`[rate-limit] slots busy: ${written.length} writes seen in 4 s (${[...new Set(written)].join(', ') || 'none'})`);
  expect(before.has('webhook_rate')).toBe(true); // the two requests under way had send times
  expect(written).toEqual([]);
  // The same worker holds the same slots (renewing them is the only write they may see).
  expect(await heldSlots(api.databaseUrl, hook.id)).toEqual(slotsBefore);
  expect(hold.held).toBe(2);
  expect(receiver.requests.filter((r) => r.url === '/hang')).toHaveLength(2);

  // Waiting for a slot is the endpoint falling behind, not the rate holding them on purpose.
  const lag = await waitUntil(
    async () => {
      const value = (await scrape(api.herald.opsUrl)).value('herald_delivery_lag_seconds')!;
      return value >= 3 ? value : null;
    },
    { timeout: 15_000, interval: 500, message: 'the lag to count the deliveries waiting for a slot' },
  );
  console.log(`[rate-limit] lag ${lag.toFixed(1)} s, ${((Date.now() - publishedAt) / 1000).toFixed(1)} s after publishing`);

  hold.answerAll();
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 30_000, interval: 500 }).toEqual({ SUCCEEDED: 20 });
});
