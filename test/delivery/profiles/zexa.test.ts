// Zexa's contract (CONTRACTS.md, "Zexa"): a receiver written from it, not from Herald's code.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ContractReceiver, hexHmacMatches, type PlatformSetup, runContractScenario, startPlatform } from '../../helpers/platforms.ts';
import type { ReceivedRequest } from '../../helpers/receiver.ts';

const EVENTS = ['message.delivered', 'message.failed', 'message.undeliverable', 'message.optout', 'campaign.sent', 'campaign.completed'];

/**
 * Zexa's receiver: X-Zexa-Signature is HMAC-SHA256 of the raw body under the webhook's secret
 * (CONTRACTS.md is silent on the key and the encoding: the secret string's bytes, lowercase
 * hex, as Herald documents); the body is {event, timestamp (ISO 8601 UTC), data}. Zexa names no
 * idempotency key: Herald's webhook-id header is the one it documents.
 */
const receive: ContractReceiver = (request: ReceivedRequest, secret: string) => {
  if (!hexHmacMatches(request.headers['x-zexa-signature'], secret, request.body)) throw new Error('bad X-Zexa-Signature');
  const body = JSON.parse(request.body);
  expect(Object.keys(body)).toEqual(['event', 'timestamp', 'data']);
  expect(EVENTS).toContain(body.event);
  expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  return { type: body.event, idempotencyKey: String(request.headers['webhook-id']), data: body.data };
};

let platform: PlatformSetup;
beforeAll(async () => {
  platform = await startPlatform('zexa', EVENTS, { name: 'zexa-customer' });
});
afterAll(() => platform?.close());

test('every Zexa event verifies and parses on the first attempt, on retries and across a rotation (newest secret signs)', async () => {
  await runContractScenario({
    setup: platform,
    profile: 'zexa',
    events: EVENTS,
    data: (type) => ({ messageId: `msg_${type}`, to: '+15550100', status: type.split('.')[1] }),
    receive,
    // Zexa's secrets are shown again in its settings: the platform keeps them and imports them here.
    secrets: [randomBytes(24).toString('hex'), randomBytes(24).toString('hex')],
    listsEverySecret: false,
    path: '/zexa',
  });
});

test('a webhook created under zexa takes its retries (3, about 1, 5 and 30 min apart) and its 10 s timeout', async () => {
  const { h, tenant } = platform;
  const { createWebhook } = await h.ok(
    'mutation { createWebhook(input: { url: "https://zexa.example.com/hook", events: ["*"], profile: "zexa" }) { webhook { retrySchedule timeoutMs } secret } }',
    {},
    tenant.key,
  );
  expect(createWebhook.webhook).toEqual({ retrySchedule: [60, 300, 1800], timeoutMs: 10_000 });
  expect(createWebhook.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
});
