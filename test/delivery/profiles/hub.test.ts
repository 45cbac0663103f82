// Hub's contract (CONTRACTS.md, "Hub"): a receiver written from it, not from Herald's code.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { listDeliveries, publish, waitForDelivery } from '../../helpers/deliveries.ts';
import {
  type ContractReceiver,
  exampleProfile,
  hexHmacMatches,
  type PlatformSetup,
  runContractScenario,
  startPlatform,
  upsertProfile,
} from '../../helpers/platforms.ts';
import type { ReceivedRequest } from '../../helpers/receiver.ts';

const EVENTS = [
  'MESSAGE_RECEIVED',
  'MESSAGE_DELIVERY',
  'MESSAGE_STATUS',
  'RECEIVED_STATUS',
  'RECEIVED_AND_DELIVERY',
  'CONNECTED',
  'DISCONNECTED',
  'PRESENCE_CHAT',
  'INITIAL_DATA',
  'BLOCK',
];

/** The platform's own message shape (payload format DEFAULT), as its publisher sends it in `data`. */
const message = (event: string) => ({ event, channelId: 'ch_1', messageId: `m_${event}`, phone: '5511999990000', fromMe: false });

const verifySignature = (request: ReceivedRequest, secret: string) => {
  if (!hexHmacMatches(request.headers['x-hub-signature'], secret, request.body)) throw new Error('bad signature');
};

/**
 * Hub's receiver with signing on: HMAC-SHA256 of the payload under the 64-hex secret in a
 * header (CONTRACTS.md names neither the header nor the encoding: X-Hub-Signature, lowercase hex
 * keyed by the secret string's bytes, as Herald documents). The body is the platform's message
 * shape; Hub names no idempotency key: Herald's webhook-id header is the one it documents.
 */
const receive: ContractReceiver = (request, secret) => {
  verifySignature(request, secret);
  const body = JSON.parse(request.body);
  expect(EVENTS).toContain(body.event);
  expect(body).toMatchObject({ channelId: 'ch_1', messageId: `m_${body.event}` });
  return { type: body.event, idempotencyKey: String(request.headers['webhook-id']), data: body };
};

let platform: PlatformSetup;
beforeAll(async () => {
  platform = await startPlatform('hub', EVENTS, { name: 'hub-customer' });
  await upsertProfile(platform.h, exampleProfile('hub-unsigned'));
});
afterAll(() => platform?.close());

const hexSecret = () => randomBytes(32).toString('hex');

test('every Hub event verifies and parses on the first attempt, on retries and across a rotation (newest secret signs)', async () => {
  await runContractScenario({
    setup: platform,
    profile: 'hub',
    events: EVENTS,
    data: message,
    receive,
    secrets: [hexSecret(), hexSecret()],
    listsEverySecret: false,
    path: '/hub',
  });
});

const CREATE =
  'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id deliveryProfile auth { type } } secret } }';

test('an unsigned webhook with BEARER auth: Authorization: Bearer <token>, no signature; signing on later returns a 64-hex secret once', async () => {
  const { h, receiver, tenant } = platform;
  const { createWebhook } = await h.ok(
    CREATE,
    {
      input: {
        url: `${receiver.url}/hub-bearer`,
        events: ['MESSAGE_RECEIVED'],
        profile: 'hub-unsigned',
        auth: { type: 'BEARER', token: 'tok_customer_1' },
        retrySchedule: [1],
      },
    },
    tenant.key,
  );
  expect(createWebhook).toMatchObject({ webhook: { deliveryProfile: 'hub-unsigned', auth: { type: 'BEARER' } }, secret: null });
  const id = createWebhook.webhook.id;
  // Hub's receiver with signing off checks only the customer's own token.
  receiver.setHandler((req, res) => res.writeHead(req.headers.authorization === 'Bearer tok_customer_1' ? 200 : 401).end());
  const deliver = async () => {
    const { eventId } = await publish(h, tenant.key, { type: 'MESSAGE_RECEIVED', data: message('MESSAGE_RECEIVED') });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: id });
    expect(await waitForDelivery(h, tenant.key, delivery.id)).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
    return receiver.requests.find((r) => r.url === '/hub-bearer' && r.headers['webhook-id'] === eventId)!;
  };
  const unsigned = await deliver();
  expect(unsigned.headers['x-hub-signature']).toBeUndefined();
  expect(JSON.parse(unsigned.body)).toEqual(message('MESSAGE_RECEIVED'));

  // The customer turns signing on: the webhook moves to the signed profile and gets a new secret, shown once.
  await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { profile: "hub" }) { id } }', { id }, tenant.key);
  const { rotateWebhookSecret } = await h.ok(
    'mutation($id: ID!) { rotateWebhookSecret(id: $id, graceSeconds: 0) { secret } }',
    { id },
    tenant.key,
  );
  expect(rotateWebhookSecret.secret).toMatch(/^[0-9a-f]{64}$/);
  const signed = await deliver();
  expect(signed.headers.authorization).toBe('Bearer tok_customer_1');
  expect(() => verifySignature(signed, rotateWebhookSecret.secret)).not.toThrow();
});

test('with signing on and no secret given, Herald generates the 64-hex secret and returns it once', async () => {
  const { h, tenant } = platform;
  const { createWebhook } = await h.ok(CREATE, { input: { url: 'https://hub.example.com/a', events: ['*'], profile: 'hub' } }, tenant.key);
  expect(createWebhook.secret).toMatch(/^[0-9a-f]{64}$/);
  const { webhook } = await h.ok('query($id: ID!) { webhook(id: $id) { secretCount } }', { id: createWebhook.webhook.id }, tenant.key);
  expect(webhook.secretCount).toBe(1);
});
