// Slots shared among the workers that want them (delivery/flow.ts, "Sharing slots"): a worker that
// holds a webhook's slots used to keep them for as long as it had deliveries of it queued, so under
// a backlog the other workers claimed deliveries only to give them back to it.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { statusCounts } from '../../helpers/db.ts';
import { createWebhook, type PublishInput, publishEvents, sleep } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { attemptsLogged, type HeraldProcess, problems, type Split, startSplit } from '../../helpers/process.ts';
import { answerAfter, concurrencyMeter, type Receiver, startReceiver } from '../../helpers/receiver.ts';

const MAX_IN_FLIGHT = 6;

let api: TestHerald;
let tenant: Tenant;
let workers: HeraldProcess[] = [];
let split: Split;
const receivers: Receiver[] = [];

beforeAll(async () => {
  split = await startSplit(3);
  ({ api, tenant, workers } = split);
}, 180_000);
afterAll(() => split?.stop(...receivers), 60_000);

const events = (from: number, n: number): PublishInput[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'message.delivered', channel: 'share', data: { n: from + i } }));

test('three workers, a backlog for one webhook whose slots one worker holds: each worker gets a share and sends a fair part; maxInFlight holds', {
  timeout: 120_000,
}, async () => {
  const meter = concurrencyMeter(answerAfter(100));
  const receiver = await startReceiver({ handler: meter.handler });
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/share`, maxInFlight: MAX_IN_FLIGHT, channels: ['share'] });

  // One call (one job, so one worker): it takes all six slots and keeps them while its backlog lasts.
  await publishEvents(api, tenant.key, events(0, 50));
  await expect.poll(() => meter.open, { timeout: 15_000 }).toBe(MAX_IN_FLIGHT);
  // Then 550 more, ten per call and five calls at a time, so that every worker claims some.
  for (let i = 50; i < 600; i += 50) {
    await Promise.all(Array.from({ length: 5 }, (_, j) => publishEvents(api, tenant.key, events(i + j * 10, 10))));
  }
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 60_000, interval: 250 }).toEqual({ SUCCEEDED: 600 });

  const byWorker = workers.map((w) => attemptsLogged(w).length);
  console.log(`[slot-share] attempts per worker ${byWorker.join(', ')}; peak ${meter.peak} requests open`);
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
  expect(problems(workers.flatMap((w) => w.lines))).not.toMatch(/"level":(50|60)/);
});
