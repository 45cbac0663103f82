// Zautic's contract (CONTRACTS.md, "Zautic"): a receiver written from it, not from Herald's code.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ContractReceiver, type PlatformSetup, pressTestButton, runContractScenario, startPlatform } from '../../helpers/platforms.ts';
import type { ReceivedRequest } from '../../helpers/receiver.ts';

const EVENTS = [
  'message.sent',
  'message.delivered',
  'message.read',
  'message.failed',
  'message.received',
  'device.connected',
  'device.disconnected',
  ...['contact', 'group', 'template'].flatMap((o) => ['created', 'updated', 'deleted'].map((a) => `${o}.${a}`)),
  ...['started', 'paused', 'resumed', 'stopped', 'cancelled', 'completed'].map((a) => `campaign.${a}`),
  'webhook.test',
];

/**
 * Zautic's receiver: X-Zautic-Event, X-Zautic-Delivery-Id (the idempotency key),
 * X-Zautic-Timestamp (unix seconds), X-Zautic-Signature `t=<unix s>,v1=<hex>` where v1 is
 * HMAC-SHA256 of `<t>.<raw body>`; body {id: evt_<32 hex>, type, created, created_at, livemode, data: {object}}.
 */
const receive: ContractReceiver = (request: ReceivedRequest, secret: string) => {
  const header = (name: string) => {
    const value = request.headers[name.toLowerCase()];
    if (typeof value !== 'string' || value === '') throw new Error(`missing ${name}`);
    return value;
  };
  const event = header('X-Zautic-Event');
  const idempotencyKey = header('X-Zautic-Delivery-Id');
  const timestamp = header('X-Zautic-Timestamp');
  if (!/^\d+$/.test(timestamp) || Math.abs(Number(timestamp) - Date.now() / 1000) > 300) throw new Error('stale or bad timestamp');
  const parts = header('X-Zautic-Signature').split(',');
  const t = parts.find((p) => p.startsWith('t='))?.slice(2);
  if (t !== timestamp) throw new Error('t= is not X-Zautic-Timestamp');
  const expected = createHmac('sha256', secret).update(`${t}.${request.body}`).digest();
  const matches = parts
    .filter((p) => p.startsWith('v1='))
    .map((p) => Buffer.from(p.slice(3), 'hex'))
    .some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected));
  if (!matches) throw new Error('no v1 signature matches');
  const body = JSON.parse(request.body);
  expect(Object.keys(body)).toEqual(['id', 'type', 'created', 'created_at', 'livemode', 'data']);
  expect(body.id).toMatch(/^evt_[0-9a-f]{32}$/);
  expect(body.type).toBe(event);
  expect(Number.isInteger(body.created)).toBe(true);
  expect(new Date(body.created_at).toISOString()).toBe(body.created_at);
  expect(Math.floor(Date.parse(body.created_at) / 1000)).toBe(body.created);
  expect(body.livemode).toBe(true);
  expect(Object.keys(body.data)).toEqual(['object']);
  return { type: event, idempotencyKey, data: body.data.object };
};

let platform: PlatformSetup;
beforeAll(async () => {
  platform = await startPlatform('zautic', EVENTS, { name: 'zautic-customer' });
});
afterAll(() => platform?.close());

const secret = () => `whsec_${randomBytes(24).toString('base64')}`;

test('every Zautic event verifies and parses on the first attempt, on retries and across a rotation (t=,v1= lists both secrets)', async () => {
  const { received } = await runContractScenario({
    setup: platform,
    profile: 'zautic',
    events: EVENTS,
    data: (type) => ({ id: `obj_${type}`, device: 'dev_1', to: '+5511999990000' }),
    receive,
    secrets: [secret(), secret()],
    listsEverySecret: true,
    path: '/zautic',
  });
  // The delivery id is per delivery: distinct events have distinct keys; a retry keeps its key.
  const firsts = received.filter((r) => r.parsed.data.scenario === 'first');
  expect(new Set(firsts.map((r) => r.parsed.idempotencyKey)).size).toBe(EVENTS.length);
  expect(new Set(firsts.map((r) => JSON.parse(r.request.body).id)).size).toBe(EVENTS.length);
  // No Herald headers: the profile turns them off.
  for (const { request } of received)
    expect(Object.keys(request.headers).filter((h) => h.startsWith('herald-') || h.startsWith('webhook-'))).toEqual([]);
});

test('a webhook.test from the Test button arrives in Zautic’s shape', async () => {
  const key = secret();
  expect(receive(await pressTestButton(platform, 'zautic', key), key).type).toBe('webhook.test');
});

test('the webhook reads its profile, and signatureScheme null (not a built-in)', async () => {
  const { h, tenant } = platform;
  const { createWebhook } = await h.ok(
    'mutation { createWebhook(input: { url: "https://zautic.example.com/x", events: ["*"], profile: "zautic" }) { webhook { profile deliveryProfile signatureScheme } } }',
    {},
    tenant.key,
  );
  expect(createWebhook.webhook).toEqual({ profile: 'zautic', deliveryProfile: 'zautic', signatureScheme: null });
});
