import { afterAll, beforeAll, expect, test } from 'vitest';
import { createWebhook, deliveryOf, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { countWebhookRows, createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

// The URL stored, shown, checked by the SSRF guard, requested and recorded as `requestUrl` is
// one string: the normalised one.
let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  tenant = await createTenant(h);
});
afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

const CREATE = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id url } } }';

test.each([
  ['a tab', '/a\tb'],
  ['CR LF', '/a\r\nb'],
  ['a trailing LF', '/ab\n'],
])('a URL with %s is refused on url and nothing is stored or sent (it used to be requested as /ab)', async (_case, path) => {
  const before = await countWebhookRows(h, tenant.id);
  const result = await h.gql(CREATE, { input: { url: `http://127.0.0.1:${receiver.port}${path}`, events: ['*'] } }, tenant.key);
  expectError(result, 'VALIDATION_ERROR', 'url');
  expect(await countWebhookRows(h, tenant.id)).toBe(before);
});

test('the endpoint is requested at the URL shown, and the attempt records that same URL', async () => {
  const typed = `HTTP://127.0.0.1:${receiver.port}/Hooks/./sms/../inbound?tenant=ü`;
  const shown = `http://127.0.0.1:${receiver.port}/Hooks/inbound?tenant=%C3%BC`;
  const { createWebhook: created } = await h.ok(CREATE, { input: { url: typed, events: ['message.inbound'] } }, tenant.key);
  expect(created.webhook.url).toBe(shown);

  const { eventId } = await publish(h, tenant.key, { type: 'message.inbound' });
  const { id } = await deliveryOf(h, tenant.key, eventId, created.webhook.id);
  const delivery = await waitForDelivery(h, tenant.key, id);
  expect(delivery.status).toBe('SUCCEEDED');
  expect(delivery.attempts.map((a) => a.requestUrl)).toEqual([shown]);
  const request = receiver.requests.find((r) => r.headers['webhook-id'] === eventId)!;
  expect(`http://127.0.0.1:${receiver.port}${request.url}`).toBe(shown);
});

test('updateWebhook stores the normalised URL too, and refuses a URL with whitespace', async () => {
  const webhook = await createWebhook(h, tenant.key, { url: `http://127.0.0.1:${receiver.port}/first` });
  const UPDATE = 'mutation($id: ID!, $url: String!) { updateWebhook(id: $id, input: { url: $url }) { url } }';
  const updated = await h.ok(UPDATE, { id: webhook.id, url: `http://127.0.0.1:${receiver.port}/a/../second` }, tenant.key);
  expect(updated.updateWebhook.url).toBe(`http://127.0.0.1:${receiver.port}/second`);
  expectError(
    await h.gql(UPDATE, { id: webhook.id, url: `http://127.0.0.1:${receiver.port}/se\tcond` }, tenant.key),
    'VALIDATION_ERROR',
    'url',
  );
});
