// Zavu's contract (CONTRACTS.md, "Zavu"): a receiver written from it, not from Herald's code.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { listDeliveries, publish, waitForDelivery } from '../../helpers/deliveries.ts';
import { type ContractReceiver, type PlatformSetup, pressTestButton, runContractScenario, startPlatform } from '../../helpers/platforms.ts';
import type { ReceivedRequest } from '../../helpers/receiver.ts';

const EVENTS = [
  'message.queued',
  'message.sent',
  'message.delivered',
  'message.failed',
  'message.inbound',
  'template.approved',
  'template.rejected',
];
const PROJECT = 'proj_7Hq2';

/**
 * Zavu's receiver, as its sample does it: parse the JSON body, re-serialise it, and compare
 * X-Zavu-Signature `sha256=<lowercase hex>` with HMAC-SHA256 of that under the webhook secret
 * (keyed by the secret string's bytes: CONTRACTS.md is silent, Herald documents its choice).
 * Body {id: evt_<unix ms>_<random>, type, timestamp: unix ms, projectId, data}; the event id is
 * the idempotency key.
 */
const receive: ContractReceiver = (request: ReceivedRequest, secret: string) => {
  const payload = JSON.parse(request.body);
  const expected = `sha256=${createHmac('sha256', secret).update(JSON.stringify(payload)).digest('hex')}`;
  const header = String(request.headers['x-zavu-signature'] ?? '');
  if (header.length !== expected.length || !timingSafeEqual(Buffer.from(header), Buffer.from(expected)))
    throw new Error('bad X-Zavu-Signature');
  expect(Object.keys(payload)).toEqual(['id', 'type', 'timestamp', 'projectId', 'data']);
  expect(payload.id).toMatch(/^evt_\d{13}_[0-9a-z]+$/);
  expect(payload.id.split('_')[1]).toBe(String(payload.timestamp));
  expect(typeof payload.timestamp).toBe('number');
  expect(Math.abs(payload.timestamp - Date.now())).toBeLessThan(120_000);
  expect(payload.projectId).toBe(PROJECT);
  return { type: payload.type, idempotencyKey: payload.id, data: payload.data };
};

let platform: PlatformSetup;
beforeAll(async () => {
  platform = await startPlatform('zavu', EVENTS, { name: 'zavu-customer', externalId: PROJECT });
});
afterAll(() => platform?.close());

const secret = () => randomBytes(32).toString('base64url');

test('every Zavu event verifies and parses on the first attempt, on retries and across a rotation (newest secret signs)', async () => {
  await runContractScenario({
    setup: platform,
    profile: 'zavu',
    events: EVENTS,
    data: (type) => ({
      messageId: `msg_${type}`,
      to: '+5511999990000',
      from: '+15550100',
      channel: 'whatsapp',
      status: type.split('.')[1],
    }),
    receive,
    secrets: [secret(), secret()],
    listsEverySecret: false,
    path: '/zavu',
  });
});

test('the body is compact JSON that re-serialises to the signed bytes, even for data JSON may write differently', async () => {
  const { h, receiver, tenant } = platform;
  const key = secret();
  const { createWebhook } = await h.ok(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id timeoutMs retrySchedule } } }',
    { input: { url: `${receiver.url}/zavu-bytes`, events: ['message.inbound'], profile: 'zavu', secret: key } },
    tenant.key,
  );
  // Zavu: 5 s to answer; attempts at once, after 1 min, 5 min, 30 min and 2 h.
  expect(createWebhook.webhook).toMatchObject({ timeoutMs: 5000, retrySchedule: [60, 300, 1800, 7200] });
  receiver.setHandler((_req, res) => res.writeHead(200).end());
  const data = {
    text: 'Olá 👋 <b>&</b> "quoted" \\ \u2028 \u0007',
    '10': 'integer-like keys',
    b: 1,
    '2': 2,
    numbers: [0.1, 1e21, -0, 1.5e-7, 2 ** 60],
    nested: { empty: {}, list: [], nothing: null },
  };
  const { eventId } = await publish(h, tenant.key, { type: 'message.inbound', data });
  const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: createWebhook.webhook.id });
  expect(await waitForDelivery(h, tenant.key, delivery.id)).toMatchObject({ status: 'SUCCEEDED' });
  const request = receiver.requests.find((r) => r.url === '/zavu-bytes')!;
  expect(JSON.stringify(JSON.parse(request.body))).toBe(request.body);
  expect(() => receive(request, key)).not.toThrow();
  expect(JSON.parse(request.body).data).toEqual(JSON.parse(JSON.stringify(data)));
});

test('the dashboard’s test button: sendTestEvent arrives in Zavu’s shape, signed', async () => {
  const key = secret();
  expect(receive(await pressTestButton(platform, 'zavu', key), key).type).toBe('webhook.test');
});
