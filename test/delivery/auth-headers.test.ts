import { afterAll, beforeAll, expect, test } from 'vitest';
import { createWebhook, deliveryOf, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import type { Receiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;

beforeAll(async () => {
  ({ h, tenant, receiver } = await startWithReceiver());
});
afterAll(() => stopAll(h, receiver));

const CUSTOM = [
  { name: 'X-Customer-Ref', value: 'acme-42' },
  { name: 'x-route', value: 'sms/eu' },
];

// Each case: the auth input, the header(s) the endpoint must receive, and the secret parts that
// must never show up in the attempt log.
const cases = [
  {
    type: 'BEARER',
    auth: { type: 'BEARER', token: 'bearer-token-s3cr3t' },
    expected: { authorization: 'Bearer bearer-token-s3cr3t' },
    secrets: ['bearer-token-s3cr3t'],
  },
  {
    type: 'BASIC',
    auth: { type: 'BASIC', username: 'herald', password: 'basic-pa55word' },
    expected: { authorization: `Basic ${Buffer.from('herald:basic-pa55word').toString('base64')}` },
    secrets: ['basic-pa55word', Buffer.from('herald:basic-pa55word').toString('base64')],
  },
  {
    type: 'API_KEY',
    auth: { type: 'API_KEY', token: 'api-key-s3cr3t' },
    expected: { 'x-api-key': 'api-key-s3cr3t' },
    secrets: ['api-key-s3cr3t'],
  },
  {
    type: 'CUSTOM_HEADER',
    auth: { type: 'CUSTOM_HEADER', headerName: 'X-Signature-Token', headerValue: 'custom-header-s3cr3t' },
    expected: { 'x-signature-token': 'custom-header-s3cr3t' },
    secrets: ['custom-header-s3cr3t'],
  },
] as const;

test.each(cases)(
  '$type auth and custom headers arrive; the attempt log redacts auth and signature',
  async ({ type, auth, expected, secrets }) => {
    const path = `/auth/${type.toLowerCase()}`;
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}${path}`, events: ['message.sent'], auth, headers: CUSTOM });
    const { eventId } = await publish(h, tenant.key, { type: 'message.sent', data: { messageId: `m-${type}` } });
    await expect.poll(() => receiver.requests.some((r) => r.url === path), { timeout: 10_000 }).toBe(true);
    const request = receiver.requests.find((r) => r.url === path)!;

    expect(request.headers).toMatchObject({ ...expected, 'x-customer-ref': 'acme-42', 'x-route': 'sms/eu' });
    expect(request.headers['webhook-signature']).toMatch(/^v1,/);

    const delivery = await waitForDelivery(h, tenant.key, (await deliveryOf(h, tenant.key, eventId, webhook.id)).id);
    expect(delivery.status).toBe('SUCCEEDED');
    const [attempt] = delivery.attempts;
    const logged = attempt.requestHeaders;
    for (const name of Object.keys(expected)) expect(logged[name], name).toBe('[redacted]');
    expect(logged['webhook-signature']).toBe('[redacted]');
    // The non-secret headers are shown as sent.
    expect(logged).toMatchObject({
      'x-customer-ref': 'acme-42',
      'x-route': 'sms/eu',
      'webhook-id': eventId,
      'herald-attempt': '1',
      'content-type': 'application/json',
    });
    const everything = JSON.stringify(delivery);
    for (const secret of [
      ...secrets,
      webhook.secret,
      webhook.secret.slice('whsec_'.length),
      String(request.headers['webhook-signature']),
    ]) {
      expect(everything).not.toContain(secret);
    }
    // Nor does the webhook itself give the auth secret back.
    const { webhook: shown } = await h.ok(
      'query($id: ID!) { webhook(id: $id) { auth { type username headerName } headers { name value } } }',
      { id: webhook.id },
      tenant.key,
    );
    expect(shown.auth.type).toBe(type);
    for (const secret of secrets) expect(JSON.stringify(shown)).not.toContain(secret);
  },
);

test('no auth: no authorization or x-api-key header is sent', async () => {
  const path = '/auth/none';
  await createWebhook(h, tenant.key, { url: `${receiver.url}${path}`, events: ['message.read'] });
  await publish(h, tenant.key, { type: 'message.read' });
  await expect.poll(() => receiver.requests.some((r) => r.url === path), { timeout: 10_000 }).toBe(true);
  const request = receiver.requests.find((r) => r.url === path)!;
  expect(request.headers.authorization).toBeUndefined();
  expect(request.headers['x-api-key']).toBeUndefined();
});
