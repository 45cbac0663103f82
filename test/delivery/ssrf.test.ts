import { afterAll, beforeAll, expect, test } from 'vitest';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, deliveryOf, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { countWebhookRows, createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

// No HERALD_ALLOWED_CIDRS: the SSRF guard is fully on. Every URL below must be refused before a
// socket opens. They point at a live receiver's port where a port applies, so a guard that let
// a loopback form through would show up as a connection.
let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true' });
  tenant = await createTenant(h);
});
afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

// IP literals: refused when the webhook is created; the guard still stands at send time for
// URLs stored before that check existed, and for hostnames (localhost), judged once resolved.
const literals = (port: number) => [
  `http://127.0.0.1:${port}/hook`,
  `http://127.0.0.2:${port}/hook`,
  `http://[::1]:${port}/hook`,
  `http://[::ffff:127.0.0.1]:${port}/hook`,
  `http://169.254.169.254:${port}/latest/meta-data/`,
  `http://10.0.0.1:${port}/hook`,
  `http://0.0.0.0:${port}/hook`,
  `http://2130706433:${port}/hook`,
  `http://0177.0.0.1:${port}/hook`,
  `https://127.0.0.1:${port}/hook`,
  `https://0x7f000001:${port}/hook`,
];

const CREATE = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }';
const UPDATE = 'mutation($id: ID!, $url: String!) { updateWebhook(id: $id, input: { url: $url }) { url } }';

test('a URL whose host is an address the guard blocks is refused at create and update, naming why and HERALD_ALLOWED_CIDRS', async () => {
  const own = await createTenant(h, 'refused'); // its webhooks get none of the deliveries below
  const before = await countWebhookRows(h, own.id);
  const reasons = [
    ['https://10.0.0.1/x', /10\.0\.0\.1, a private address/],
    ['https://169.254.169.254/latest', /169\.254\.169\.254, a link-local address/],
    ['https://[::1]/x', /::1, a loopback address/],
    ['https://0x7f000001/x', /127\.0\.0\.1, a loopback address/],
    ['https://[::ffff:10.1.2.3]/x', /a private address \(10\.1\.2\.3\)/],
    ['https://0.0.0.0/x', /the unspecified address/],
  ] as const;
  for (const url of [...literals(receiver.port), ...reasons.map(([u]) => u)]) {
    const error = expectError(await h.gql(CREATE, { input: { url, events: ['*'] } }, own.key), 'VALIDATION_ERROR', 'url');
    const message = error.extensions!.fields![0].message;
    expect(message, url).toMatch(/HERALD_ALLOWED_CIDRS/);
    const reason = reasons.find(([u]) => u === url)?.[1];
    if (reason) expect(message, url).toMatch(reason);
  }
  expect(await countWebhookRows(h, own.id)).toBe(before);

  const { id } = await createWebhook(h, own.key, { url: 'https://example.com/hook', events: ['*'] });
  expectError(await h.gql(UPDATE, { id, url: 'https://10.0.0.1/x' }, own.key), 'VALIDATION_ERROR', 'url');
  // Public addresses and hostnames are accepted; a hostname is judged when it resolves.
  expect((await h.ok(UPDATE, { id, url: 'https://93.184.215.14/x' }, own.key)).updateWebhook.url).toBe('https://93.184.215.14/x');
  expect((await h.ok(UPDATE, { id, url: 'https://localhost/x' }, own.key)).updateWebhook.url).toBe('https://localhost/x');
});

test('http:// without HERALD_ALLOW_HTTP: the message names the setting', async () => {
  const strict = await startTestHerald();
  try {
    const other = await createTenant(strict, 'strict');
    const error = expectError(
      await strict.gql(CREATE, { input: { url: 'http://example.com/x', events: ['*'] } }, other.key),
      'VALIDATION_ERROR',
      'url',
    );
    expect(error.extensions!.fields![0].message).toMatch(/https:\/\/.*HERALD_ALLOW_HTTP/);
  } finally {
    await strict.stop();
  }
});

test('the guard at send time: loopback, private, link-local, unspecified, mapped, decimal, octal and hex forms and localhost → BLOCKED_ADDRESS, no connection made', async () => {
  const urls = [...literals(receiver.port), `http://localhost:${receiver.port}/hook`];
  const webhooks = [];
  for (const url of urls) {
    // Stored as a URL from before create refused IP literals: written under the webhook's back.
    const placeholder = `http://localhost:${receiver.port}/hook`;
    const created = await createWebhook(h, tenant.key, { url: placeholder, events: ['message.queued'], retrySchedule: [] });
    await withPgClient(h.databaseUrl, (db) => db.query('update webhook set url = $1 where id = $2', [new URL(url).href, created.id]));
    webhooks.push({ url, ...created });
  }
  const { eventId, deliveryCount } = await publish(h, tenant.key, { type: 'message.queued' });
  expect(deliveryCount).toBe(urls.length);

  for (const webhook of webhooks) {
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    const delivery = await waitForDelivery(h, tenant.key, id);
    expect(delivery.status, webhook.url).toBe('FAILED');
    expect(delivery.lastError, webhook.url).toBe('BLOCKED_ADDRESS');
    expect(delivery.attempts, webhook.url).toHaveLength(1);
    expect(delivery.attempts[0], webhook.url).toMatchObject({
      error: 'BLOCKED_ADDRESS',
      responseStatus: null,
      requestUrl: new URL(webhook.url).href,
    });
    expect(delivery.attempts[0].errorMessage, webhook.url).toMatch(/not allowed.*HERALD_ALLOWED_CIDRS can allow its range/);
  }
  expect(receiver.requests).toHaveLength(0);
  expect(receiver.connections).toBe(0);
});

test('a refused address is retried on schedule like any failure, and still never connects', async () => {
  const { id: webhookId } = await createWebhook(h, tenant.key, {
    url: `http://localhost:${receiver.port}/retry`,
    events: ['message.optout'],
    retrySchedule: [1],
  });
  const { eventId } = await publish(h, tenant.key, { type: 'message.optout' });
  const { id } = await deliveryOf(h, tenant.key, eventId, webhookId);
  const delivery = await waitForDelivery(h, tenant.key, id, { timeout: 10_000 });
  expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 2, lastError: 'BLOCKED_ADDRESS' });
  expect(delivery.attempts.map((a) => a.error)).toEqual(['BLOCKED_ADDRESS', 'BLOCKED_ADDRESS']);
  expect(receiver.connections).toBe(0);
});
