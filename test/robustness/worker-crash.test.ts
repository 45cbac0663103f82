import { afterAll, beforeAll, expect, test } from 'vitest';
import { countByStatus, deliveryRows, waitAllSucceeded } from '../helpers/db.ts';
import { createWebhook, publishMany } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { childEnv, type HeraldProcess, problems, startHeraldProcess } from '../helpers/process.ts';
import { holdingHandler, type Receiver, startReceiver, webhookIds } from '../helpers/receiver.ts';

const EVENTS = 50;
const LEASE = '3s';

let api: TestHerald;
let receiver: Receiver;
const workers: HeraldProcess[] = [];

beforeAll(async () => {
  api = await startTestHerald({ HERALD_ROLE: 'api', HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.dispose()));
  await api?.stop();
  await receiver?.close();
});

test('a worker killed with SIGKILL mid-delivery: after a restart every event arrives and every delivery succeeds', {
  timeout: 60_000,
}, async () => {
  const hold = holdingHandler();
  receiver = await startReceiver({ handler: hold.handler });
  const tenant = await createTenant(api, 'crash');
  // maxInFlight 20: a worker takes up to 4 × maxInFlight of one webhook's deliveries in hand
  // (flow control), so the first worker leases all 50 before it dies.
  await createWebhook(api, tenant.key, { url: `${receiver.url}/hook`, timeoutMs: 15_000, maxInFlight: 20 });

  const first = await startHeraldProcess({ role: 'worker', env: childEnv(api, { HERALD_LEASE: LEASE }) });
  workers.push(first);
  const eventIds = await publishMany(api, tenant.key, EVENTS);
  expect(eventIds).toHaveLength(EVENTS);

  // The worker has claimed the deliveries and its requests hang at the receiver.
  await receiver.waitFor(5, 15_000);
  const before = await deliveryRows(api.databaseUrl);
  expect(countByStatus(before)).toEqual({ PENDING: EVENTS });
  expect(
    before.filter((r) => r.locked_by === null),
    'every delivery leased by the first worker',
  ).toEqual([]);
  expect(hold.held).toBeGreaterThan(0);

  first.kill('SIGKILL');
  expect(await first.exited).toBe(137);
  const killedAt = Date.now();
  hold.answerAll();

  const second = await startHeraldProcess({ role: 'worker', env: childEnv(api, { HERALD_LEASE: LEASE }) });
  workers.push(second);
  await waitAllSucceeded(api.databaseUrl, EVENTS, 40_000, () => problems(second.lines));
  const recoveryMs = Date.now() - killedAt;
  console.log(
    `worker crash: all ${EVENTS} deliveries SUCCEEDED ${recoveryMs} ms after the kill (lease ${LEASE}); ${receiver.requests.length} requests for ${EVENTS} events`,
  );

  expect(webhookIds(receiver)).toEqual(new Set(eventIds));
  const rows = await deliveryRows(api.databaseUrl);
  expect(rows.filter((r) => r.locked_by !== null)).toEqual([]);
});
