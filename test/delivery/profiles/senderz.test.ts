// senderZ's contract (CONTRACTS.md, "senderZ"): a receiver written from it, not from Herald's code.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { listDeliveries, publish, waitForDelivery } from '../../helpers/deliveries.ts';
import { countWebhookRows, expectError } from '../../helpers/herald.ts';
import { type ContractReceiver, hexHmacMatches, type PlatformSetup, runContractScenario, startPlatform } from '../../helpers/platforms.ts';
import type { ReceivedRequest } from '../../helpers/receiver.ts';

const EVENTS = ['message.sent', 'message.delivered', 'message.failed', 'message.inbound', 'message.read', 'message.blocked'];

/**
 * senderZ's receiver, as its SDK's one-call verify helper does it: X-Senderz-Signature is
 * HMAC-SHA256 of the raw body under the tenant's secret (lowercase hex keyed by the secret
 * string's bytes: CONTRACTS.md is silent, Herald documents its choice). Each event carries the
 * message id, channel, recipient, timestamp and status reason (Herald's envelope, data as
 * published); the event id is the idempotency key.
 */
const receive: ContractReceiver = (request: ReceivedRequest, secret: string) => {
  if (!hexHmacMatches(request.headers['x-senderz-signature'], secret, request.body)) throw new Error('bad X-Senderz-Signature');
  const event = JSON.parse(request.body);
  expect(event).toMatchObject({
    id: expect.stringMatching(/^evt_/),
    type: expect.any(String),
    timestamp: expect.stringMatching(/Z$/),
    channel: 'sms',
    data: { messageId: expect.any(String), recipient: expect.any(String), statusReason: expect.any(String) },
  });
  return { type: event.type, idempotencyKey: event.id, data: event.data };
};

let platform: PlatformSetup;
let webhookId: string;
const secrets: [string, string] = [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')];
const data = (type: string) => ({
  messageId: `msg_${type}`,
  recipient: '+15550100',
  statusReason: type === 'message.blocked' ? 'OPT_OUT_STOP' : 'OK',
});

beforeAll(async () => {
  platform = await startPlatform('senderz', EVENTS, { name: 'senderz-customer' });
});
afterAll(() => platform?.close());

test('every senderZ event verifies and parses on the first attempt, on retries and across a rotation (newest secret signs)', async () => {
  const result = await runContractScenario({
    setup: platform,
    profile: 'senderz',
    events: EVENTS,
    data,
    receive,
    secrets,
    listsEverySecret: false,
    path: '/senderz',
    webhook: { channels: ['sms'] },
    channel: 'sms',
  });
  webhookId = result.webhookId;
});

/** Publishes one sms event and returns the request each of `paths` received for it. */
async function deliverTo(paths: string[]) {
  const { h, receiver, tenant } = platform;
  receiver.setHandler((_req, res) => res.writeHead(200).end());
  const { eventId } = await publish(h, tenant.key, { type: 'message.sent', channel: 'sms', data: data('message.sent') });
  for (const d of await listDeliveries(h, tenant.key, { eventId })) {
    expect(await waitForDelivery(h, tenant.key, d.id)).toMatchObject({ status: 'SUCCEEDED' });
  }
  return paths.map((path) => receiver.requests.find((r) => r.url === path && r.body.includes(eventId))!);
}

test('the tenant’s secret signs all of its webhooks: a second webhook shows no secret and signs with the tenant’s', async () => {
  const { h, receiver, tenant } = platform;
  const second = await h.ok(
    'mutation($url: String!) { createWebhook(input: { url: $url, events: ["*"], channels: ["sms"], profile: "senderz" }) { webhook { id retrySchedule } secret } }',
    { url: `${receiver.url}/senderz-2` },
    tenant.key,
  );
  expect(second.createWebhook.secret).toBeNull();
  expect(second.createWebhook.webhook.retrySchedule).toEqual([1, 2, 4, 8, 16]);
  // The scenario rotated the tenant's secret to secrets[1].
  for (const request of await deliverTo(['/senderz', '/senderz-2'])) {
    expect(() => receive(request, secrets[1])).not.toThrow();
    expect(() => receive(request, secrets[0])).toThrow();
  }

  // Rotating from either webhook re-keys the tenant: both sign with the new secret at once.
  const { rotateWebhookSecret } = await h.ok(
    'mutation($id: ID!) { rotateWebhookSecret(id: $id, graceSeconds: 0) { secret } }',
    { id: second.createWebhook.webhook.id },
    tenant.key,
  );
  expect(rotateWebhookSecret.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  for (const request of await deliverTo(['/senderz', '/senderz-2'])) {
    expect(() => receive(request, rotateWebhookSecret.secret)).not.toThrow();
  }
  expect(webhookId).toBeDefined();
});

test('importing another secret for a tenant that has one is refused on `secret`, and nothing is stored', async () => {
  const { h, tenant } = platform;
  const before = await countWebhookRows(h, tenant.id);
  const result = await h.gql(
    'mutation($secret: String) { createWebhook(input: { url: "https://senderz.example.com/x", events: ["*"], profile: "senderz", secret: $secret }) { secret } }',
    { secret: randomBytes(32).toString('base64url') },
    tenant.key,
  );
  expectError(result, 'VALIDATION_ERROR', 'secret');
  expect(await countWebhookRows(h, tenant.id)).toBe(before);
});
