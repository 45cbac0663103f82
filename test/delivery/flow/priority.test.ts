// Priority (issue 15): a HIGH event type's delivery overtakes a backlog of NORMAL ones to the
// same endpoint, across two `--role worker` processes, without breaking maxInFlight.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { statusCounts } from '../../helpers/db.ts';
import { createWebhook, publish, publishEvents } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { type Split, startSplit } from '../../helpers/process.ts';
import { answerAfter, concurrencyMeter, type Receiver, startReceiver } from '../../helpers/receiver.ts';

let api: TestHerald;
let tenant: Tenant;
let split: Split;
let receiver: Receiver;
const meter = concurrencyMeter(answerAfter(200));

beforeAll(async () => {
  receiver = await startReceiver({ handler: meter.handler });
  split = await startSplit(2);
  ({ api, tenant } = split);
}, 180_000);
afterAll(() => split?.stop(receiver), 60_000);

test('200 ms endpoint, maxInFlight 2, 2 000 message.sent waiting: a message.optout published next arrives within 2 s', {
  timeout: 60_000,
}, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/busy`, maxInFlight: 2 });
  for (let i = 0; i < 2000; i += 1000) {
    await publishEvents(
      api,
      tenant.key,
      Array.from({ length: 1000 }, (_, n) => ({ type: 'message.sent', data: { n: i + n } })),
    );
  }
  await receiver.waitFor(6, 10_000); // the backlog is being worked through, two at a time

  const published = Date.now();
  const { eventId } = await publish(api, tenant.key, { type: 'message.optout', data: { from: '+14155550123' } });
  const [arrival] = await Promise.all([
    (async () => {
      for (;;) {
        const hit = receiver.requests.find((r) => r.headers['webhook-id'] === eventId);
        if (hit) return hit.receivedAt.getTime() - published;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
  ]);
  const ahead = receiver.requests.findIndex((r) => r.headers['webhook-id'] === eventId);
  const counts = await statusCounts(api.databaseUrl, hook.id);
  console.log(
    `[priority] the opt-out arrived ${arrival} ms after publishing, request ${ahead + 1}; ${counts.PENDING} message.sent still waiting`,
  );
  expect(arrival).toBeLessThan(2000);
  expect(counts.PENDING).toBeGreaterThan(1900);
  expect(meter.peak).toBeLessThanOrEqual(2);
  const delivery = await api.ok(
    `query($id: ID!) { deliveries(first: 1, filter: { eventId: $id }) { edges { node { priority } } } }`,
    { id: eventId },
    tenant.key,
  );
  expect(delivery.deliveries.edges[0].node.priority).toBe('HIGH');
});
