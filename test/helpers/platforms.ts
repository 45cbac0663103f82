// A platform's contract, end to end: Herald under the platform's example profile delivers to a
// receiver written from that platform's contract (CONTRACTS.md), on first attempts, on retries
// and across a secret rotation. Each test/delivery/profiles/<platform>.test.ts brings its
// receiver's `verify`; this file only drives Herald and the endpoint.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { isBuiltInEventType } from '../../src/core/event-types.ts';
import { createWebhook, type DeliveryView, listDeliveries, publish, waitForDelivery } from './deliveries.ts';
import { startTestHerald, type TestHerald } from './herald.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from './receiver.ts';
import { createTestCa } from './tls.ts';

/** An example profile file of examples/profiles/: what upsertDeliveryProfile takes. */
export interface ExampleProfile {
  name: string;
  description: string;
  definition: Record<string, unknown>;
}

export function exampleProfile(file: string): ExampleProfile {
  return JSON.parse(readFileSync(new URL(`../../examples/profiles/${file}.json`, import.meta.url), 'utf8'));
}

export async function upsertProfile(h: TestHerald, profile: ExampleProfile): Promise<void> {
  await h.ok('mutation($input: UpsertDeliveryProfileInput!) { upsertDeliveryProfile(input: $input) { name version } }', { input: profile });
}

/** Adds the platform's event types that are not built in to the platform-wide catalog (admin key, no tenant). */
export async function addPlatformEventTypes(h: TestHerald, names: readonly string[]): Promise<void> {
  for (const name of names.filter((n) => !isBuiltInEventType(n))) {
    await h.ok('mutation($name: String!) { createEventType(input: { name: $name }) { name } }', { name });
  }
}

export interface PlatformSetup {
  h: TestHerald;
  receiver: Receiver;
  tenant: { id: string; key: string };
  close(): Promise<void>;
}

/** A Herald (with the platform's profile and event types) and an HTTPS endpoint on 127.0.0.1. */
export async function startPlatform(
  profileFile: string,
  eventTypes: readonly string[],
  tenant: { name: string; externalId?: string },
): Promise<PlatformSetup> {
  const ca = createTestCa();
  const receiver = await startReceiver({ tls: ca });
  const h = await startTestHerald({ HERALD_ALLOWED_CIDRS: '127.0.0.0/8' }, { ca: ca.caPem });
  await upsertProfile(h, exampleProfile(profileFile));
  await addPlatformEventTypes(h, eventTypes);
  const data = await h.ok('mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } apiKey } }', {
    input: tenant,
  });
  return {
    h,
    receiver,
    tenant: { id: data.createTenant.tenant.id, key: data.createTenant.apiKey },
    close: async () => {
      await h.stop();
      await receiver.close();
    },
  };
}

/**
 * A receiver written from a platform's contract: checks one request with `secret` as that
 * platform's customers do, and returns the event type, the idempotency key the contract names
 * and the platform's own data as it finds them in the body; throws if anything does not hold.
 */
export type ContractReceiver = (
  request: ReceivedRequest,
  secret: string,
) => { type: string; idempotencyKey: string; data: Record<string, unknown> };

const verifies = (receive: ContractReceiver, request: ReceivedRequest, secret: string) => {
  try {
    receive(request, secret);
    return true;
  } catch {
    return false;
  }
};

export interface ScenarioOptions {
  setup: PlatformSetup;
  profile: string;
  /** Every event type of the platform's contract; one event of each is published. */
  events: readonly string[];
  /** The data the platform publishes for an event of `type` (the harness adds `scenario`). */
  data(type: string): Record<string, unknown>;
  receive: ContractReceiver;
  /** Two secrets in the profile's format: imported on createWebhook, then on rotateWebhookSecret. */
  secrets: [string, string];
  /** Whether the signature lists every live secret during a rotation (else: the newest only). */
  listsEverySecret: boolean;
  /** Extra input for createWebhook (auth, …). */
  webhook?: Record<string, unknown>;
  /** The channel events are published on (default none). */
  channel?: string;
  path: string;
}

export interface ScenarioResult {
  webhookId: string;
  /** Every request the endpoint got, with what the receiver parsed (with either secret). */
  received: { request: ReceivedRequest; parsed: ReturnType<ContractReceiver> }[];
}

/**
 * Registers a webhook under the profile with an imported secret and proves that the receiver
 * verifies and parses every delivery: (1) one event of every type, accepted at the first
 * attempt; (2) events whose first attempt is refused, retried with the same bytes and
 * idempotency key; (3) an event whose first attempt, signed with the old secret, triggers a
 * rotation to the new one before it is refused: the retry verifies with the new secret — and
 * with the old one only where the format lists every live secret — as does a later event.
 */
export async function runContractScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const { h, receiver, tenant } = o.setup;
  const [oldSecret, newSecret] = o.secrets;
  const webhook = await createWebhook(h, tenant.key, {
    url: `${receiver.url}${o.path}`,
    events: [...o.events],
    profile: o.profile,
    secret: oldSecret,
    retrySchedule: [1, 1],
    ...o.webhook,
  });

  const received: ScenarioResult['received'] = [];
  const seen = new Set<string>();
  receiver.setHandler(async (_req, res, request) => {
    if (request.url !== o.path) return res.writeHead(404).end();
    // During a rotation a receiver accepts either secret it holds.
    const secret = verifies(o.receive, request, oldSecret) ? oldSecret : newSecret;
    const parsed = o.receive(request, secret); // throws → 500: the delivery would not succeed
    received.push({ request, parsed });
    const first = !seen.has(parsed.idempotencyKey);
    seen.add(parsed.idempotencyKey);
    if (first && parsed.data.scenario === 'rotate') {
      await h.ok(
        'mutation($id: ID!, $secret: String) { rotateWebhookSecret(id: $id, secret: $secret, graceSeconds: 3600) { secret } }',
        { id: webhook.id, secret: newSecret },
        tenant.key,
      );
    }
    res.writeHead(first && parsed.data.scenario !== 'first' && parsed.data.scenario !== 'after' ? 500 : 200).end('ok');
  });

  const publishAll = async (scenario: string, types: readonly string[]) => {
    const ids = [];
    for (const type of types) {
      const { eventId, deliveryCount } = await publish(h, tenant.key, {
        type,
        data: { ...o.data(type), scenario },
        channel: o.channel ?? null,
      });
      expect(deliveryCount, type).toBe(1);
      ids.push(eventId);
    }
    const done: DeliveryView[] = [];
    for (const eventId of ids) {
      const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: webhook.id });
      done.push(await waitForDelivery(h, tenant.key, delivery.id, { timeout: 20_000 }));
    }
    return done;
  };
  const requestsOf = (scenario: string) => received.filter((r) => r.parsed.data.scenario === scenario);

  // 1. One event of every type, each accepted at its first attempt and verified with the imported secret.
  for (const d of await publishAll('first', o.events)) expect(d, d.eventType).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
  expect(
    requestsOf('first')
      .map((r) => r.parsed.type)
      .sort(),
  ).toEqual([...o.events].sort());
  for (const { request } of requestsOf('first')) expect(verifies(o.receive, request, oldSecret)).toBe(true);

  // 2. Retries: two attempts each, both verified, with the same body bytes and idempotency key.
  for (const d of await publishAll('retry', o.events.slice(0, 2))) expect(d).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2 });
  const retries = requestsOf('retry');
  expect(retries).toHaveLength(4);
  for (const key of new Set(retries.map((r) => r.parsed.idempotencyKey))) {
    const attempts = retries.filter((r) => r.parsed.idempotencyKey === key);
    expect(attempts).toHaveLength(2);
    expect(attempts[1].request.body).toBe(attempts[0].request.body);
    for (const { request } of attempts) expect(verifies(o.receive, request, oldSecret)).toBe(true);
  }

  // 3. A rotation between an attempt and its retry.
  const [rotated] = await publishAll('rotate', o.events.slice(0, 1));
  expect(rotated).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2 });
  const [before, after] = requestsOf('rotate').map((r) => r.request);
  expect(verifies(o.receive, before, oldSecret)).toBe(true);
  expect(verifies(o.receive, before, newSecret)).toBe(false);
  expect(verifies(o.receive, after, newSecret)).toBe(true);
  expect(verifies(o.receive, after, oldSecret)).toBe(o.listsEverySecret);
  await publishAll('after', o.events.slice(0, 1));
  const [later] = requestsOf('after').map((r) => r.request);
  expect(verifies(o.receive, later, newSecret)).toBe(true);
  expect(verifies(o.receive, later, oldSecret)).toBe(o.listsEverySecret);

  return { webhookId: webhook.id, received };
}

/** Whether `signature` is the lowercase hex HMAC-SHA256 of `content` keyed by the secret string's bytes (compared in constant time). */
export function hexHmacMatches(signature: unknown, secret: string, content: string): boolean {
  const given = Buffer.from(String(signature ?? ''), 'hex');
  const expected = createHmac('sha256', secret).update(content).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The platform's "Test" button: a new webhook under `profile` with `secret` imported, sent
 * `webhook.test` with sendTestEvent; returns the request its endpoint received.
 */
export async function pressTestButton(setup: PlatformSetup, profile: string, secret: string): Promise<ReceivedRequest> {
  const { h, receiver, tenant } = setup;
  const path = `/${profile}-test-button`;
  const { createWebhook } = await h.ok(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }',
    { input: { url: `${receiver.url}${path}`, events: ['message.sent'], profile, secret } },
    tenant.key,
  );
  receiver.setHandler((_req, res) => res.writeHead(200).end());
  await h.ok('mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }', { id: createWebhook.webhook.id }, tenant.key);
  await expect.poll(() => receiver.requests.filter((r) => r.url === path).length).toBe(1);
  return receiver.requests.find((r) => r.url === path)!;
}
