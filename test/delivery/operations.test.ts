import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  createWebhook,
  DELIVERY_FIELDS,
  type DeliveryView,
  deliveryOf,
  getWebhookStatus,
  listDeliveries,
  publish,
  sleep,
  waitForDelivery,
} from '../helpers/deliveries.ts';
import { createTenant, expectError, startTestHerald, startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import { scrape } from '../helpers/ops.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const ok = (_req: unknown, res: import('node:http').ServerResponse) => res.writeHead(200).end('ok');
const fail = (_req: unknown, res: import('node:http').ServerResponse) => res.writeHead(500).end('down');

describe('operating deliveries', () => {
  let h: TestHerald;
  let receiver: Receiver;
  let tenant: Tenant;

  beforeAll(async () => {
    ({ h, tenant, receiver } = await startWithReceiver());
  });
  afterEach(() => receiver.setHandler(ok));
  afterAll(() => stopAll(h, receiver));

  const on = (path: string) => receiver.requests.filter((r) => r.url === path);

  async function retry(id: string, key = tenant.key) {
    return h.gql<{ retryDelivery: DeliveryView }>(`mutation($id: ID!) { retryDelivery(id: $id) { ${DELIVERY_FIELDS} } }`, { id }, key);
  }

  test('sendTestEvent sends a webhook.test event to one webhook, whatever it subscribes to (trigger TEST)', async () => {
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/test-event`, events: ['campaign.started'] });
    const { sendTestEvent } = await h.ok(
      `mutation($id: ID!) { sendTestEvent(webhookId: $id) { ${DELIVERY_FIELDS} } }`,
      { id: webhook.id },
      tenant.key,
    );
    expect(sendTestEvent).toMatchObject({ eventType: 'webhook.test', webhookId: webhook.id });

    const delivery = await waitForDelivery(h, tenant.key, sendTestEvent.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
    expect(delivery.attempts.map((a) => [a.number, a.trigger, a.responseStatus])).toEqual([[1, 'TEST', 200]]);
    const [request] = on('/test-event');
    expect(request.headers).toMatchObject({ 'herald-event-type': 'webhook.test', 'webhook-id': delivery.eventId });
    expect(JSON.parse(request.body)).toMatchObject({ id: delivery.eventId, type: 'webhook.test', tenantId: tenant.id });
  });

  test('a failed test event is one try, FAILED, not retried on the schedule', async () => {
    receiver.setHandler(fail);
    const webhook = await createWebhook(h, tenant.key, {
      url: `${receiver.url}/test-fail`,
      events: ['campaign.started'],
      retrySchedule: [1],
    });
    const { sendTestEvent } = await h.ok('mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }', { id: webhook.id }, tenant.key);
    const delivery = await waitForDelivery(h, tenant.key, sendTestEvent.id);
    expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 1 });
    expect(delivery.attempts.map((a) => a.trigger)).toEqual(['TEST']);
    await sleep(1500);
    expect(on('/test-fail')).toHaveLength(1);
  });

  test('retryDelivery on a FAILED delivery makes one MANUAL attempt; it SUCCEEDS once the endpoint answers 200', async () => {
    receiver.setHandler(fail);
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/retry`, events: ['message.failed'], retrySchedule: [] });
    const { eventId } = await publish(h, tenant.key, { type: 'message.failed' });
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    expect(await waitForDelivery(h, tenant.key, id)).toMatchObject({ status: 'FAILED', attemptCount: 1 });

    // Still failing: the manual attempt is recorded and the delivery stays FAILED.
    expect((await retry(id)).errors).toBeUndefined();
    await expect.poll(async () => (await waitForDelivery(h, tenant.key, id)).attemptCount).toBe(2);
    expect(await waitForDelivery(h, tenant.key, id)).toMatchObject({ status: 'FAILED' });

    receiver.setHandler(ok);
    const result = await retry(id);
    expect(result.errors).toBeUndefined();
    expect(result.data!.retryDelivery.id).toBe(id);
    await expect.poll(async () => (await waitForDelivery(h, tenant.key, id)).status).toBe('SUCCEEDED');
    const delivery = await waitForDelivery(h, tenant.key, id);
    expect(delivery.attempts.map((a) => [a.number, a.trigger, a.responseStatus])).toEqual([
      [1, 'SCHEDULED', 500],
      [2, 'MANUAL', 500],
      [3, 'MANUAL', 200],
    ]);
    expect(on('/retry').map((r) => [r.headers['herald-attempt'], r.headers['webhook-id']])).toEqual([
      ['1', eventId],
      ['2', eventId],
      ['3', eventId],
    ]);
  });

  test('retryDelivery works whatever the status: a SUCCEEDED delivery is sent again', async () => {
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/resend`, events: ['message.undeliverable'] });
    const { eventId } = await publish(h, tenant.key, { type: 'message.undeliverable' });
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    expect(await waitForDelivery(h, tenant.key, id)).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
    expect((await retry(id)).errors).toBeUndefined();
    await expect.poll(() => on('/resend').length).toBe(2);
    await expect.poll(async () => (await waitForDelivery(h, tenant.key, id)).attemptCount).toBe(2);
    const delivery = await waitForDelivery(h, tenant.key, id);
    expect(delivery.status).toBe('SUCCEEDED');
    expect(delivery.attempts.map((a) => a.trigger)).toEqual(['SCHEDULED', 'MANUAL']);
  });

  test('retryDelivery of a deleted webhook’s delivery is CONFLICT, changes nothing and counts no second completion', async () => {
    const cancelled = async () => (await scrape(h.herald.opsUrl)).value('herald_deliveries_completed_total', { status: 'CANCELLED' }) ?? 0;
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/deleted`, events: ['message.read'] });
    // Paused, so its delivery waits until the webhook is deleted, and is CANCELLED then.
    await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { id } }', { id: webhook.id }, tenant.key);
    const { eventId } = await publish(h, tenant.key, { type: 'message.read' });
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    const before = await cancelled();
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhook.id }, tenant.key);
    const ended = await waitForDelivery(h, tenant.key, id);
    expect(ended.status).toBe('CANCELLED');
    expect(await cancelled()).toBe(before + 1);

    const error = expectError(await retry(id), 'CONFLICT');
    expect(error.message).toMatch(/webhook was deleted/);
    // Anything the retry had queued would be claimed within a second or two (the test event shows the worker is at work).
    const probe = await createWebhook(h, tenant.key, { url: `${receiver.url}/probe`, events: ['message.read'] });
    const test = await h.ok<{ sendTestEvent: { id: string } }>(
      'mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }',
      { id: probe.id },
      tenant.key,
    );
    await waitForDelivery(h, tenant.key, test.sendTestEvent.id);
    await sleep(1000);
    expect(await waitForDelivery(h, tenant.key, id)).toEqual(ended);
    expect(await cancelled()).toBe(before + 1);
    expect(on('/deleted')).toHaveLength(0);
  });

  test('retryDelivery while an attempt is in flight is kept: one more MANUAL attempt follows at once', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    receiver.setHandler(async (_req, res) => {
      await held;
      res.writeHead(200).end('ok');
    });
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/in-flight`, events: ['template.rejected'] });
    const { eventId } = await publish(h, tenant.key, { type: 'template.rejected' });
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    await expect.poll(() => on('/in-flight').length).toBe(1);

    expect((await retry(id)).errors).toBeUndefined();
    receiver.setHandler(ok);
    release();
    // Well within the lease: the request was re-queued when the first attempt was recorded, not swept later.
    await expect.poll(() => on('/in-flight').length, { timeout: 5000 }).toBe(2);
    await expect.poll(async () => (await waitForDelivery(h, tenant.key, id)).attemptCount).toBe(2);
    const delivery = await waitForDelivery(h, tenant.key, id);
    expect(delivery.status).toBe('SUCCEEDED');
    expect(delivery.attempts.map((a) => a.trigger)).toEqual(['SCHEDULED', 'MANUAL']);
  });

  test('replayFailedDeliveries re-queues exactly the FAILED deliveries of the webhook in the window', async () => {
    // Events whose data says { ok: true } succeed; the rest fail.
    receiver.setHandler((_req, res, received) => (JSON.parse(received.body).data.ok ? ok(_req, res) : fail(_req, res)));
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/replay`, events: ['message.blocked'], retrySchedule: [] });
    const other = await createWebhook(h, tenant.key, {
      url: `${receiver.url}/replay-other`,
      events: ['message.blocked'],
      retrySchedule: [],
    });
    const send = async (ok: boolean) => (await publish(h, tenant.key, { type: 'message.blocked', data: { ok } })).eventId;

    const before = await send(false);
    await sleep(50);
    const since = new Date();
    const inside = [await send(false), await send(true), await send(false), await send(false)];
    await sleep(50);
    const until = new Date();
    await sleep(50);
    const after = await send(false);

    const all = await listDeliveries(h, tenant.key, { webhookId: webhook.id });
    for (const d of all) await waitForDelivery(h, tenant.key, d.id);
    const { id: stillFailingId } = await deliveryOf(h, tenant.key, inside[0], other.id);

    receiver.setHandler(ok);
    const { replayFailedDeliveries } = await h.ok(
      'mutation($id: ID!, $since: DateTime!, $until: DateTime) { replayFailedDeliveries(webhookId: $id, since: $since, until: $until) { count } }',
      { id: webhook.id, since: since.toISOString(), until: until.toISOString() },
      tenant.key,
    );
    expect(replayFailedDeliveries.count).toBe(3);

    const byEvent = async (eventId: string) => {
      const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
      return id;
    };
    for (const eventId of [inside[0], inside[2], inside[3]]) {
      const id = await byEvent(eventId);
      await expect.poll(async () => (await waitForDelivery(h, tenant.key, id)).status).toBe('SUCCEEDED');
      expect((await waitForDelivery(h, tenant.key, id)).attempts.map((a) => [a.trigger, a.responseStatus])).toEqual([
        ['SCHEDULED', 500],
        ['MANUAL', 200],
      ]);
    }
    await sleep(500);
    // Outside the window, already succeeded, or another webhook's: untouched.
    for (const eventId of [before, after]) {
      expect(await waitForDelivery(h, tenant.key, await byEvent(eventId))).toMatchObject({ status: 'FAILED', attemptCount: 1 });
    }
    expect(await waitForDelivery(h, tenant.key, await byEvent(inside[1]))).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
    expect(await waitForDelivery(h, tenant.key, stillFailingId)).toMatchObject({ status: 'FAILED', attemptCount: 1 });
  });

  test('replayFailedDeliveries counts only what this call re-queued: a second call while the attempt is in flight counts 0', async () => {
    receiver.setHandler(fail);
    const webhook = await createWebhook(h, tenant.key, {
      url: `${receiver.url}/replay-twice`,
      events: ['campaign.sent'],
      retrySchedule: [],
    });
    const since = new Date(Date.now() - 1000).toISOString();
    const { eventId } = await publish(h, tenant.key, { type: 'campaign.sent' });
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    expect(await waitForDelivery(h, tenant.key, id)).toMatchObject({ status: 'FAILED', attemptCount: 1 });

    // The endpoint is now slow: the replayed attempt is still in flight when the second call comes.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    receiver.setHandler(async (_req, res) => {
      await held;
      res.writeHead(500).end('still down');
    });
    const replay = async () =>
      (
        await h.ok<{ replayFailedDeliveries: { count: number } }>(
          'mutation($id: ID!, $since: DateTime!) { replayFailedDeliveries(webhookId: $id, since: $since) { count } }',
          { id: webhook.id, since },
          tenant.key,
        )
      ).replayFailedDeliveries.count;
    expect(await replay()).toBe(1);
    expect(await replay()).toBe(0); // queued already, not re-queued by this call
    await expect.poll(() => on('/replay-twice').length).toBe(2);
    expect(await replay()).toBe(0); // in flight
    release();
    await expect.poll(async () => (await waitForDelivery(h, tenant.key, id)).attemptCount).toBe(2);
    await sleep(500);
    expect(on('/replay-twice')).toHaveLength(2);

    // FAILED again and no longer queued: the next replay re-queues it.
    receiver.setHandler(ok);
    expect(await replay()).toBe(1);
    await expect.poll(async () => (await waitForDelivery(h, tenant.key, id)).status).toBe('SUCCEEDED');
    expect(on('/replay-twice')).toHaveLength(3);
  });

  test('a tenant cannot retry, replay or test another tenant’s deliveries and webhooks (NOT_FOUND)', async () => {
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/private`, events: ['template.approved'] });
    const { eventId } = await publish(h, tenant.key, { type: 'template.approved' });
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
    await waitForDelivery(h, tenant.key, id);
    const intruder = await createTenant(h, 'intruder');

    expectError(await retry(id, intruder.key), 'NOT_FOUND');
    expectError(await h.gql('mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }', { id: webhook.id }, intruder.key), 'NOT_FOUND');
    expectError(
      await h.gql(
        'mutation($id: ID!, $since: DateTime!) { replayFailedDeliveries(webhookId: $id, since: $since) { count } }',
        {
          id: webhook.id,
          since: new Date(0).toISOString(),
        },
        intruder.key,
      ),
      'NOT_FOUND',
    );
    expect((await h.ok('query($id: ID!) { delivery(id: $id) { id } }', { id }, intruder.key)).delivery).toBeNull();
    await sleep(300);
    expect(on('/private')).toHaveLength(1);
    expect((await waitForDelivery(h, tenant.key, id)).attemptCount).toBe(1);
  });
});

describe('auto-disable', () => {
  let h: TestHerald;
  let receiver: Receiver;
  let tenant: { id: string; key: string };

  beforeAll(async () => {
    receiver = await startReceiver({ handler: fail });
    h = await startTestHerald({ HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_ALLOW_HTTP: 'true', HERALD_DISABLE_AFTER: '2s' });
    tenant = await createTenant(h);
  });
  afterAll(async () => {
    await h?.stop();
    await receiver?.close();
  });

  test('a webhook failing for HERALD_DISABLE_AFTER is DISABLED with a reason and gets no more deliveries', async () => {
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/always-down`, retrySchedule: [1, 1, 1, 1] });
    const { eventId } = await publish(h, tenant.key);
    const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);

    await expect.poll(async () => (await getWebhookStatus(h, tenant.key, webhook.id)).status, { timeout: 10_000 }).toBe('DISABLED');
    const { disabledReason } = await getWebhookStatus(h, tenant.key, webhook.id);
    expect(disabledReason).toMatch(/failed for 2 s/);
    // The delivery ends FAILED (replayable), before its schedule ran out.
    const delivery = await waitForDelivery(h, tenant.key, id);
    expect(delivery.status).toBe('FAILED');
    expect(delivery.attemptCount).toBeGreaterThanOrEqual(3);
    expect(delivery.attemptCount).toBeLessThan(5);
    const sent = receiver.requests.length;

    expect((await publish(h, tenant.key)).deliveryCount).toBe(0);
    await sleep(1500);
    expect(receiver.requests).toHaveLength(sent);
  });
});
