// A webhook's rateLimit changed while deliveries wait for it (issue 15, README "Flow control"):
// raised, it applies at once, not after the send times reserved at the old rate. One API process
// and one `--role worker` process.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { statusCounts } from '../../helpers/db.ts';
import { createWebhook, publishEvents, updateWebhook } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { type Split, startSplit } from '../../helpers/process.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';

let api: TestHerald;
let tenant: Tenant;
let split: Split;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  split = await startSplit(1);
  ({ api, tenant } = split);
}, 180_000);
afterAll(() => split?.stop(receiver), 60_000);

test('rateLimit 0.1 raised to 50 while 4 deliveries wait: they are sent within 2 s, not 10 s apart', { timeout: 60_000 }, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/raised`, rateLimit: 0.1 });
  await publishEvents(
    api,
    tenant.key,
    Array.from({ length: 5 }, (_, n) => ({ type: 'message.sent', data: { n } })),
  );
  // The first goes at once; the next waits 10 s for its turn.
  await expect.poll(() => receiver.requests.length, { timeout: 20_000 }).toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(receiver.requests).toHaveLength(1);
  const raisedAt = Date.now();
  await updateWebhook(api, tenant.key, hook.id, { rateLimit: 50 });
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 30_000, interval: 100 }).toEqual({ SUCCEEDED: 5 });
  const lastAt = Math.max(...receiver.requests.map((r) => r.receivedAt.getTime()));
  expect(lastAt - raisedAt).toBeLessThan(2000);
});
