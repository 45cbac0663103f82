import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { countByStatus, deliveryRows, waitAllSucceeded } from '../helpers/db.ts';
import { createWebhook, publishMany } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { childEnv, type HeraldProcess, problems, startHeraldProcess } from '../helpers/process.ts';
import { type Receiver, startReceiver, webhookIds } from '../helpers/receiver.ts';

const EVENTS = 20;
const ANSWER_AFTER_MS = 1000;

let api: TestHerald;
let receiver: Receiver;
const workers: HeraldProcess[] = [];

beforeAll(async () => {
  api = await startTestHerald({ HERALD_ROLE: 'api', HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  receiver = await startReceiver({
    handler: async (_req, res) => {
      await sleep(ANSWER_AFTER_MS);
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    },
  });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.dispose()));
  await api?.stop();
  await receiver?.close();
});

test('SIGTERM: the worker finishes its requests, hands back the rest and exits 0; a new worker delivers the rest', {
  timeout: 60_000,
}, async () => {
  const tenant = await createTenant(api, 'graceful');
  // maxInFlight 5: 5 requests in flight when the signal comes, 15 claimed but waiting.
  await createWebhook(api, tenant.key, { url: `${receiver.url}/hook`, maxInFlight: 5 });

  const first = await startHeraldProcess({ role: 'worker', env: childEnv(api) });
  workers.push(first);
  const eventIds = await publishMany(api, tenant.key, EVENTS);

  await receiver.waitFor(5, 15_000);
  const inFlight = webhookIds(receiver);
  const signalledAt = Date.now();
  first.kill('SIGTERM');
  const code = await Promise.race([first.exited, sleep(15_000).then(() => 'still running after 15 s')]);
  const exitMs = Date.now() - signalledAt;
  expect(code, problems(first.lines)).toBe(0);
  console.log(`graceful shutdown: exited ${exitMs} ms after SIGTERM with ${inFlight.size} requests in flight`);
  expect(first.lines.some((l) => l.includes('"msg":"delivery worker stopped"'))).toBe(true);

  // Every request that went out was recorded; nothing is left leased to the stopped worker.
  const rows = await deliveryRows(api.databaseUrl);
  const sent = webhookIds(receiver);
  const counts = countByStatus(rows);
  expect(sent.size).toBeGreaterThanOrEqual(inFlight.size);
  expect(counts.SUCCEEDED ?? 0).toBe(sent.size);
  expect((counts.SUCCEEDED ?? 0) + (counts.PENDING ?? 0)).toBe(EVENTS);
  for (const row of rows) {
    if (sent.has(row.event_id)) {
      expect(row).toMatchObject({ status: 'SUCCEEDED', attempt_count: 1, locked_by: null });
    } else {
      expect(row).toMatchObject({ status: 'PENDING', attempt_count: 0, locked_by: null, locked_until: null });
    }
  }
  expect(counts.PENDING ?? 0, 'some deliveries had not started when the signal came').toBeGreaterThan(0);

  const second = await startHeraldProcess({ role: 'worker', env: childEnv(api) });
  workers.push(second);
  // With the default 30 s lease the sweep would find them only after 15 s: handed back means
  // re-queued, so the new worker starts on them at once (3 rounds of 5 requests of 1 s).
  const restMs = await waitAllSucceeded(api.databaseUrl, EVENTS, 10_000, () => problems(second.lines));
  console.log(`graceful shutdown: the new worker delivered the other ${counts.PENDING} within ${restMs} ms of starting`);
  expect(webhookIds(receiver)).toEqual(new Set(eventIds));
  // Handed back untouched, so sent exactly once each.
  expect(receiver.requests).toHaveLength(EVENTS);
});
