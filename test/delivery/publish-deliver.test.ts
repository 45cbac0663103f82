import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { createTestCa } from '../helpers/tls.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;
const ca = createTestCa();

beforeAll(async () => {
  ({ h, tenant, receiver } = await startWithReceiver({ env: { HERALD_ALLOW_HTTP: 'false' }, receiver: { tls: ca }, ca: ca.caPem }));
});
afterAll(() => stopAll(h, receiver));

test('a published event reaches a subscribed HTTPS endpoint, signed per Standard Webhooks', async () => {
  const created = await h.ok(
    `mutation($url: String!) { createWebhook(input: { url: $url, events: ["message.delivered"] }) { webhook { id } secret } }`,
    { url: `${receiver.url}/hook` },
    tenant.key,
  );
  const { data } = await h.gql(
    `mutation { publishEvent(input: { type: "message.delivered", channel: "sms", data: { messageId: "m1" } }) { event { id } deliveryCount } }`,
    {},
    tenant.key,
  );
  expect(data.publishEvent.deliveryCount).toBe(1);
  await receiver.waitFor(1, 10_000);
  const req = receiver.requests[0];
  const wh = new StandardWebhook(created.createWebhook.secret);
  const payload = wh.verify(req.body, req.headers as Record<string, string>) as { id: string; data: unknown };
  expect(payload.id).toBe(data.publishEvent.event.id);
  expect(payload.data).toEqual({ messageId: 'm1' });
  await expect
    .poll(
      async () =>
        (
          await h.ok(
            `query($id: ID!) { event(id: $id) { deliveries { edges { node { status attempts { responseStatus } } } } } }`,
            { id: payload.id },
            tenant.key,
          )
        ).event.deliveries.edges[0].node.status,
    )
    .toBe('SUCCEEDED');
});
