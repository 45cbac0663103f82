import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { OPERATIONAL_EVENT_TYPES } from '../../src/core/operational-events.ts';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, deliveryOf, listDeliveries, PUBLISH_ONE, publish, publishEvents, updateWebhook } from '../helpers/deliveries.ts';
import { createTenant, expectError, LOCAL_RECEIVERS, startTestHerald, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import { type ReceivedEvent, type Receiver, type ReceiverHandler, startReceiver, verifiedEvents } from '../helpers/receiver.ts';

// Fold windows of 3 s, closed by the sweep every 2 s (lease/2), so a follow-up comes 3–5 s after its window opened.
const WINDOW_MS = 3000;

let h: TestHerald;
let tenant: Tenant;
const receivers: Receiver[] = [];
/** An operator webhook taking every operational event: it sees every tenant's. */
let operator: { id: string; secret: string; inbox: Receiver };

beforeAll(async () => {
  h = await startTestHerald({ ...LOCAL_RECEIVERS, HERALD_EXHAUSTED_WINDOW: `${WINDOW_MS}ms`, HERALD_LEASE: '4s' });
  tenant = await createTenant(h);
  const inbox = await receiver();
  operator = { ...(await createWebhook(h, h.adminKey, { url: `${inbox.url}/operator`, events: ['*'], operator: true })), inbox };
});
afterAll(() => stopAll(h, ...receivers));

async function receiver(handler?: ReceiverHandler): Promise<Receiver> {
  const r = await startReceiver({ handler });
  receivers.push(r);
  return r;
}

const answer = (status: () => number) => (_req: unknown, res: ServerResponse) => res.writeHead(status()).end();

/** The verified operational events of `type` an inbox got about `webhookId`, in order of arrival. */
function noticesAbout(inbox: Receiver, secret: string, type: string, webhookId: string): (ReceivedEvent & { receivedAt: Date })[] {
  return verifiedEvents(inbox, secret).filter((e) => e.type === type && e.data.webhookId === webhookId);
}

/** Waits for the first operational event of `type` about `webhookId` at an inbox. */
async function firstNotice(inbox: Receiver, secret: string, type: string, webhookId: string): Promise<ReceivedEvent> {
  await expect.poll(() => noticesAbout(inbox, secret, type, webhookId).length, { timeout: 15_000 }).toBeGreaterThan(0);
  return noticesAbout(inbox, secret, type, webhookId)[0];
}

test('each operational event reaches a tenant webhook and an operator webhook, signed; "*" gets none', async () => {
  let status = 500;
  const endpoint = await receiver(answer(() => status));
  const tenantInbox = await receiver();
  const everything = await receiver();
  const url = `${endpoint.url}/hook`;
  // It names webhook.disabled itself: its own notice must go to the others, never to it.
  const failing = await createWebhook(h, tenant.key, { url, events: ['message.sent', 'webhook.disabled'], retrySchedule: [] });
  // Its channel filter does not apply to operational events, which have no channel.
  const notices = await createWebhook(h, tenant.key, {
    url: `${tenantInbox.url}/ops`,
    events: [...OPERATIONAL_EVENT_TYPES],
    channels: ['sms'],
  });
  const all = await createWebhook(h, tenant.key, { url: `${everything.url}/all`, events: ['*'] });
  const both = async (type: string) => {
    const [own, operators] = await Promise.all([
      firstNotice(tenantInbox, notices.secret, type, failing.id),
      firstNotice(operator.inbox, operator.secret, type, failing.id),
    ]);
    // Two events, the tenant's and the operator's, with the same body but for their ids.
    for (const event of [own, operators]) expect(event).toMatchObject({ type, tenantId: tenant.id, channel: null });
    expect(own.id).not.toBe(operators.id);
    expect(operators.data).toEqual(own.data);
    return own;
  };

  // 1. Its only attempt fails: delivery.exhausted.
  const first = await publish(h, tenant.key, { type: 'message.sent', data: { messageId: 'm-1' } });
  const exhausted = await both('delivery.exhausted');
  const failed = await deliveryOf(h, tenant.key, first.eventId, failing.id);
  expect(failed.status).toBe('FAILED');
  expect(exhausted.data).toEqual({
    webhookId: failing.id,
    url,
    deliveryId: failed.id,
    eventId: first.eventId,
    eventType: 'message.sent',
    attemptCount: 1,
    lastResponseStatus: 500,
    lastError: null,
    failedAt: expect.any(String),
    count: 1,
    since: exhausted.data.failedAt,
  });
  expect(Date.parse(exhausted.data.failedAt)).toBe(Date.parse(failed.attempts[0].startedAt) + failed.attempts[0].durationMs);

  // 2. The next succeeds: delivery.recovered, the streak it ended.
  status = 200;
  const second = await publish(h, tenant.key, { type: 'message.sent', data: { messageId: 'm-2' } });
  const recovered = await both('delivery.recovered');
  const succeeded = await deliveryOf(h, tenant.key, second.eventId, failing.id);
  expect(recovered.data).toEqual({
    webhookId: failing.id,
    url,
    deliveryId: succeeded.id,
    eventId: second.eventId,
    eventType: 'message.sent',
    failedAttempts: 1,
    failingSince: exhausted.data.failedAt,
    recoveredAt: expect.any(String),
  });

  // 3. 410 Gone disables it: webhook.disabled, to the others only.
  status = 410;
  await publish(h, tenant.key, { type: 'message.sent', data: { messageId: 'm-3' } });
  const disabled = await both('webhook.disabled');
  expect(disabled.data).toEqual({ webhookId: failing.id, url, reason: 'The endpoint answered 410 Gone', disabledAt: expect.any(String) });

  // 4. Set back to ACTIVE: webhook.enabled.
  const enabledAt = Date.now();
  await updateWebhook(h, tenant.key, failing.id, { status: 'ACTIVE' });
  const enabled = await both('webhook.enabled');
  expect(enabled.data).toEqual({ webhookId: failing.id, url, enabledAt: expect.any(String) });
  expect(Date.parse(enabled.data.enabledAt)).toBeGreaterThanOrEqual(enabledAt - 1000);

  // The disabled webhook never received a notice; "*" received the three messages and nothing else.
  expect(endpoint.requests.map((r) => r.headers['herald-event-type'])).toEqual(['message.sent', 'message.sent', 'message.sent']);
  const allDeliveries = await listDeliveries(h, tenant.key, { webhookId: all.id });
  expect(allDeliveries.map((d) => d.eventType)).toEqual(['message.sent', 'message.sent', 'message.sent']);
  await expect.poll(() => verifiedEvents(everything, all.secret).length).toBe(3);
  // The tenant's own copies are its events, like any other.
  const events = await h.ok(`{ events(first: 50, type: "delivery.exhausted") { edges { node { id tenantId } } } }`, {}, tenant.key);
  expect(events.events.edges.map((e: any) => e.node)).toContainEqual({ id: exhausted.id, tenantId: tenant.id });
});

test('delivery.exhausted: the first of a webhook in its window goes at once, the rest in one follow-up with their count', async () => {
  const fold = await createTenant(h, 'fold');
  const endpoint = await receiver(answer(() => 503));
  const inbox = await receiver();
  const failing = await createWebhook(h, fold.key, { url: `${endpoint.url}/hook`, events: ['message.failed'], retrySchedule: [] });
  const notices = await createWebhook(h, fold.key, { url: `${inbox.url}/ops`, events: ['delivery.exhausted'] });

  const burst = Array.from({ length: 6 }, (_, i) => ({ type: 'message.failed', data: { messageId: `f-${i}` } }));
  const published = await publishEvents(h, fold.key, burst);
  const exhausted = () => noticesAbout(inbox, notices.secret, 'delivery.exhausted', failing.id);
  await expect.poll(() => exhausted().length, { timeout: 15_000 }).toBe(2);
  const [atOnce, followUp] = exhausted();
  expect(atOnce.data.count).toBe(1);
  // At once: well before its window closed. The follow-up: after it closed, counting the other five.
  expect(atOnce.receivedAt.getTime() - Date.parse(atOnce.data.failedAt)).toBeLessThan(WINDOW_MS);
  expect(followUp.data).toMatchObject({ webhookId: failing.id, count: 5, since: atOnce.data.failedAt, lastResponseStatus: 503 });
  expect(Object.keys(followUp.data)).toEqual(Object.keys(atOnce.data));
  expect(followUp.receivedAt.getTime()).toBeGreaterThanOrEqual(Date.parse(followUp.data.since) + WINDOW_MS);
  // The ids are those of one of the burst's other deliveries (the last folded).
  const ids = published.map((p) => p.event.id);
  expect(ids).toContain(followUp.data.eventId);
  expect(followUp.data.eventId).not.toBe(atOnce.data.eventId);
  // The operator got the same two.
  await expect
    .poll(() => noticesAbout(operator.inbox, operator.secret, 'delivery.exhausted', failing.id).map((e) => e.data.count), {
      timeout: 10_000,
    })
    .toEqual([1, 5]);

  // Nothing more for that window: it is closed (its row went with the follow-up, in one
  // transaction), so the next failure opens a new one and goes at once.
  const openWindows = await withPgClient(h.databaseUrl, (client) =>
    client.query('select 1 from exhausted_fold where webhook_id = $1', [failing.id]),
  );
  expect(openWindows.rows).toEqual([]);
  expect(exhausted()).toHaveLength(2);
  const late = await publish(h, fold.key, { type: 'message.failed', data: { messageId: 'late' } });
  await expect.poll(() => exhausted().length, { timeout: 10_000 }).toBe(3);
  expect(exhausted()[2].data).toMatchObject({ eventId: late.eventId, count: 1 });
  expect(exhausted()[2].receivedAt.getTime() - Date.parse(exhausted()[2].data.failedAt)).toBeLessThan(WINDOW_MS);
});

test('operational events are named beside "*" to be received with everything else, and nobody may publish one', async () => {
  const inbox = await receiver();
  const both = await createWebhook(h, tenant.key, { url: `${inbox.url}/both`, events: ['*', 'webhook.enabled'] });
  expect(both.id).toMatch(/^wh_/);
  for (const type of OPERATIONAL_EVENT_TYPES) {
    const result = await h.gql(PUBLISH_ONE, { input: { type, data: { webhookId: both.id } } }, tenant.key);
    expectError(result, 'VALIDATION_ERROR', 'type');
    expect(JSON.stringify(result.errors)).toContain('sent by Herald itself');
  }
});
