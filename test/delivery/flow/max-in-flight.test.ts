// maxInFlight holds across worker processes (issue 15), and the workers that want a webhook's slots
// share them: one in-process API, three `--role worker` processes, and the number of requests open
// at the receiver.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { heldSlots, statusCounts } from '../../helpers/db.ts';
import { createWebhook, type PublishInput, publish, publishEvents, sleep, waitingOf } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { attemptsLogged, type HeraldProcess, problems, type Split, startSplit } from '../../helpers/process.ts';
import { answerAfter, concurrencyMeter, holdingHandler, type Receiver, startReceiver, webhookIds } from '../../helpers/receiver.ts';

const LEASE_MS = 3000;
/** maxInFlight of the sharing test's webhook. */
const MAX_IN_FLIGHT = 6;

let api: TestHerald;
let tenant: Tenant;
let workers: HeraldProcess[] = [];
let split: Split;
const receivers: Receiver[] = [];

beforeAll(async () => {
  split = await startSplit(3, { HERALD_LEASE: `${LEASE_MS / 1000}s` });
  ({ api, tenant, workers } = split);
}, 180_000);
afterAll(() => split?.stop(...receivers), 60_000);

/** Publishes `n` events one per call, five calls at a time, so that their jobs reach every worker. */
async function publishOneByOne(n: number, channel: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 5) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(5, n - i) }, (_, j) => publish(api, tenant.key, { channel, data: { n: i + j } })),
    );
    ids.push(...batch.map((b) => b.eventId));
  }
  return ids;
}

test('three workers, maxInFlight 5: the endpoint never has more than 5 requests open; each event arrives once', {
  timeout: 90_000,
}, async () => {
  const meter = concurrencyMeter(answerAfter(100));
  const receiver = await startReceiver({ handler: meter.handler });
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/five`, maxInFlight: 5, channels: ['five'] });

  const eventIds = await publishOneByOne(150, 'five');
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 60_000, interval: 250 }).toEqual({ SUCCEEDED: 150 });

  const byWorker = workers.map((w) => attemptsLogged(w).length);
  console.log(`[max-in-flight] peak ${meter.peak} requests open; attempts per worker ${byWorker.join(', ')}`);
  expect(meter.peak).toBeLessThanOrEqual(5);
  expect(meter.peak).toBe(5); // and the limit was used
  expect(receiver.requests).toHaveLength(150);
  expect(webhookIds(receiver)).toEqual(new Set(eventIds));
  expect(byWorker.reduce((a, b) => a + b, 0)).toBe(150);
});

test('stats { waiting } counts every delivery not yet sent: in the table, and queued in a worker beyond the requests open', {
  timeout: 60_000,
}, async () => {
  const hold = holdingHandler();
  const receiver = await startReceiver({ handler: hold.handler });
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/queued`, maxInFlight: 4, channels: ['queued'] });
  const waiting = () => waitingOf(api, tenant.key, hook.id);
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 40 }, (_, n) => ({ type: 'message.delivered', channel: 'queued', data: { n } })),
  );
  await expect.poll(() => hold.held, { timeout: 15_000 }).toBe(4);
  // 4 requests open; the other 36 wait, whether a worker took them in hand (it did: up to four
  // times maxInFlight) or not. Only the table's were counted: 24 here.
  await expect.poll(waiting, { timeout: 10_000, interval: 200 }).toBe(36);
  hold.answerAll();
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 30_000, interval: 250 }).toEqual({ SUCCEEDED: 40 });
  expect(await waiting()).toBe(0);
});

// Slots shared among the workers that want them (delivery/flow.ts, "Sharing slots"): a worker that
// holds a webhook's slots used to keep them for as long as it had deliveries of it queued, so under
// a backlog the other workers claimed deliveries only to give them back to it.
/** `n` events on channel share, numbered from `from`. */
const events = (from: number, n: number): PublishInput[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'message.delivered', channel: 'share', data: { n: from + i } }));

test('three workers, a backlog for one webhook whose slots one worker holds: each worker gets a share and sends a fair part; maxInFlight holds', {
  timeout: 120_000,
}, async () => {
  const meter = concurrencyMeter(answerAfter(100));
  const receiver = await startReceiver({ handler: meter.handler });
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/share`, maxInFlight: MAX_IN_FLIGHT, channels: ['share'] });
  const linesBefore = workers.map((w) => w.lines.length);
  const attemptsBefore = workers.map((w) => attemptsLogged(w).length);

  // One call (one job, so one worker): it takes all six slots and keeps them while its backlog lasts.
  await publishEvents(api, tenant.key, events(0, 50));
  await expect.poll(() => meter.open, { timeout: 15_000 }).toBe(MAX_IN_FLIGHT);
  // Then 550 more, ten per call and five calls at a time, so that every worker claims some.
  for (let i = 50; i < 600; i += 50) {
    await Promise.all(Array.from({ length: 5 }, (_, j) => publishEvents(api, tenant.key, events(i + j * 10, 10))));
  }
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 60_000, interval: 250 }).toEqual({ SUCCEEDED: 600 });

  const byWorker = workers.map((w, i) => attemptsLogged(w).length - attemptsBefore[i]);
  console.log(`[max-in-flight] attempts per worker ${byWorker.join(', ')}; peak ${meter.peak} requests open`);
  expect(meter.peak).toBeLessThanOrEqual(MAX_IN_FLIGHT);
  expect(receiver.requests).toHaveLength(600);
  expect(byWorker.reduce((a, b) => a + b, 0)).toBe(600);
  // A third each once the shares settle (two slots each); the first holder sent alone for about
  // a second first. Before sharing: 600, 0 and 0 (the holder kept all six slots to the end).
  for (const n of byWorker) expect(n).toBeGreaterThanOrEqual(600 * 0.15);

  // The wants end with the backlog: one worker alone uses all six slots again.
  await sleep(3000);
  meter.reset();
  await publishEvents(api, tenant.key, events(600, 60));
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 30_000, interval: 250 }).toEqual({ SUCCEEDED: 660 });
  expect(meter.peak).toBe(MAX_IN_FLIGHT);
  expect(problems(workers.flatMap((w, i) => w.lines.slice(linesBefore[i])))).not.toMatch(/"level":(50|60)/);
});

test('kill -9 a worker holding slots: no other worker sends to the endpoint until its lease lapses, then they do', {
  timeout: 90_000,
}, async () => {
  const hold = holdingHandler();
  const meter = concurrencyMeter(hold.handler);
  const receiver = await startReceiver({ handler: meter.handler });
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/held`, maxInFlight: 5, channels: ['held'] });

  // Five in one call (one job, so one worker takes all five slots), then fifteen one by one.
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 5 }, (_, n) => ({ type: 'message.delivered', channel: 'held', data: { n } })),
  );
  await expect.poll(() => hold.held, { timeout: 15_000 }).toBe(5);
  await publishOneByOne(15, 'held');
  await sleep(1500); // what the other workers claimed has gone back to the table: they hold no slot
  expect(meter.peak).toBe(5);
  const holders = new Set((await heldSlots(api.databaseUrl, hook.id)).map((s) => s.held_by));
  expect(holders.size).toBe(1);
  const victims = workers.filter((w) => [...holders].some((id) => id.includes(`:${w.proc.pid}:`)));
  expect(victims).toHaveLength(1);

  const before = receiver.requests.length;
  for (const v of victims) v.kill('SIGKILL');
  for (const v of victims) expect(await v.exited).toBe(137);
  const killedAt = Date.now();
  hold.answerAll(); // from now on the endpoint answers at once

  // The dead worker renewed its slots at most a third of the lease before dying: until they lapse,
  // nobody may send (its 5 requests might, for all Herald knows, still be open).
  await sleep((LEASE_MS * 2) / 3 - 500);
  expect(receiver.requests.length, 'requests before the dead worker’s slots lapsed').toBe(before);
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: LEASE_MS + 20_000, interval: 250 }).toEqual({ SUCCEEDED: 20 });
  const firstAfter = receiver.requests[before].receivedAt.getTime() - killedAt;
  console.log(`[max-in-flight] after kill -9 the others sent again ${firstAfter} ms later (lease ${LEASE_MS} ms)`);
  expect(firstAfter).toBeLessThan(LEASE_MS + 5000);
  expect(meter.peak).toBe(5);
  workers = workers.filter((w) => !victims.includes(w));
  expect(problems(workers.flatMap((w) => w.lines))).not.toMatch(/"level":60/);
});
