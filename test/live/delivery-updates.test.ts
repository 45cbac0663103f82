// Live status over graphql-ws with the real client: every phase of a delivery, webhook status
// changes, filters and tenant scope. Herald runs in-process (API + worker); updates still
// travel worker → NOTIFY → the API's LISTEN connection → subscribers.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createWebhook, publish, sleep, type WebhookInput } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { collect, DELIVERY_UPDATED, type DeliveryUpdate, liveClients } from '../helpers/live.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const STATUS_CHANGED = `subscription($webhookId: ID, $tenantId: ID) {
  webhookStatusChanged(webhookId: $webhookId, tenantId: $tenantId) { id tenantId status disabledReason deletedAt }
}`;
interface WebhookChange {
  id: string;
  tenantId: string;
  status: string;
  disabledReason: string | null;
  deletedAt: string | null;
}

let h: TestHerald;
/** Answers 200. */
let ok: Receiver;
/** Answers 500 to the first try of each event (webhook-id), 200 afterwards. */
let flaky: Receiver;
/** Always 500. */
let failing: Receiver;
const clients = liveClients(() => h.url);

beforeAll(async () => {
  [ok, flaky, failing] = await Promise.all([startReceiver(), startReceiver(), startReceiver()]);
  const tries = new Map<string, number>();
  flaky.setHandler((_req, res, received) => {
    const id = String(received.headers['webhook-id']);
    const n = (tries.get(id) ?? 0) + 1;
    tries.set(id, n);
    res.writeHead(n === 1 ? 500 : 200).end(n === 1 ? 'not yet' : 'ok');
  });
  failing.setHandler((_req, res) => res.writeHead(500).end('down'));
  h = await startTestHerald({
    HERALD_ALLOW_HTTP: 'true',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    // Auto-disable after 1 s of failures, so the test can watch it happen.
    HERALD_DISABLE_AFTER: '1s',
  });
});
afterEach(() => clients.disposeAll());
afterAll(async () => {
  await h?.stop();
  await Promise.all([ok, flaky, failing].map((r) => r?.close()));
});

const live = (key: string) => clients.connect(key);
const webhook = async (key: string, input: WebhookInput) => (await createWebhook(h, key, input)).id;
const publishData = async (key: string, data?: unknown) => (await publish(h, key, data === undefined ? {} : { data })).eventId;

const phasesOf = (items: DeliveryUpdate[], eventId: string) => items.filter((u) => u.delivery.eventId === eventId).map((u) => u.phase);
const phaseOf = (eventId: string, phase: DeliveryUpdate['phase']) => (u: DeliveryUpdate) =>
  u.delivery.eventId === eventId && u.phase === phase;

describe('deliveryUpdated', () => {
  test('a successful delivery: QUEUED, ATTEMPT_STARTED, ATTEMPT_FINISHED with status and duration, SUCCEEDED', async () => {
    const a = await createTenant(h, 'live-1');
    const wh = await webhook(a.key, { url: `${ok.url}/ok` });
    const sub = collect<DeliveryUpdate>(await live(a.key), DELIVERY_UPDATED, { webhookId: wh });
    await clients.running(1);
    const eventId = await publishData(a.key);

    await sub.waitFor(phaseOf(eventId, 'SUCCEEDED'), 15_000, 'SUCCEEDED');
    expect(phasesOf(sub.items, eventId)).toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED']);
    const [queued, started, finished, succeeded] = sub.items;
    // Each update says the status as of its phase; `delivery` is read when the update is sent and
    // may be further along (ATTEMPT_STARTED arriving in one burst with SUCCEEDED reads SUCCEEDED).
    expect(sub.items.map((u) => [u.phase, u.status])).toEqual([
      ['QUEUED', 'PENDING'],
      ['ATTEMPT_STARTED', 'PENDING'],
      ['ATTEMPT_FINISHED', 'SUCCEEDED'],
      ['SUCCEEDED', 'SUCCEEDED'],
    ]);
    expect(queued).toMatchObject({ attempt: null, nextAttemptAt: null, delivery: { eventId, webhookId: wh, tenantId: a.id } });
    // All updates are about the one delivery.
    expect(new Set(sub.items.map((u) => u.delivery.id)).size).toBe(1);
    expect(started.delivery.id).toBe(queued.delivery.id);
    // The attempt row is written when the attempt finishes: "started" never shows one.
    expect(started.attempt).toBeNull();
    expect(finished.attempt).toMatchObject({ number: 1, responseStatus: 200, error: null });
    expect(finished.attempt!.durationMs).toBeGreaterThanOrEqual(0);
    expect(succeeded).toMatchObject({ delivery: { status: 'SUCCEEDED', attemptCount: 1 }, attempt: { id: finished.attempt!.id } });
    expect(ok.requests.filter((r) => r.headers['webhook-id'] === eventId)).toHaveLength(1);
  });

  test('500 then 200 with retrySchedule [1]: RETRY_SCHEDULED with nextAttemptAt, then success on attempt 2', async () => {
    const a = await createTenant(h, 'live-2');
    const wh = await webhook(a.key, { url: `${flaky.url}/flaky`, retrySchedule: [1] });
    const sub = collect<DeliveryUpdate>(await live(a.key), DELIVERY_UPDATED, { webhookId: wh });
    await clients.running(1);
    const eventId = await publishData(a.key);

    const succeeded = await sub.waitFor(phaseOf(eventId, 'SUCCEEDED'), 20_000, 'SUCCEEDED');
    expect(phasesOf(sub.items, eventId)).toEqual([
      'QUEUED',
      'ATTEMPT_STARTED',
      'ATTEMPT_FINISHED',
      'RETRY_SCHEDULED',
      'ATTEMPT_STARTED',
      'ATTEMPT_FINISHED',
      'SUCCEEDED',
    ]);
    expect(sub.items.map((u) => u.status)).toEqual(['PENDING', 'PENDING', 'RETRYING', 'RETRYING', 'RETRYING', 'SUCCEEDED', 'SUCCEEDED']);
    const finishes = sub.items.filter((u) => u.phase === 'ATTEMPT_FINISHED');
    expect(finishes.map((u) => [u.attempt?.number, u.attempt?.responseStatus])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    const retry = sub.items.find((u) => u.phase === 'RETRY_SCHEDULED')!;
    expect(retry.attempt?.number).toBe(1);
    expect(retry.nextAttemptAt).not.toBeNull();
    // 1 s ± 20 % jitter after the first attempt finished.
    const first = flaky.requests.find((r) => r.headers['webhook-id'] === eventId)!;
    const delay = new Date(retry.nextAttemptAt!).getTime() - first.receivedAt.getTime();
    expect(delay).toBeGreaterThan(500);
    expect(delay).toBeLessThan(2_500);
    const second = flaky.requests.filter((r) => r.headers['webhook-id'] === eventId)[1];
    expect(second.receivedAt.getTime()).toBeGreaterThanOrEqual(new Date(retry.nextAttemptAt!).getTime() - 50);
    expect(succeeded.delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2 });
  });

  test('a delivery whose schedule is exhausted ends with FAILED', async () => {
    const a = await createTenant(h, 'live-3');
    const wh = await webhook(a.key, { url: `${failing.url}/exhausted`, retrySchedule: [] });
    const sub = collect<DeliveryUpdate>(await live(a.key), DELIVERY_UPDATED, { webhookId: wh });
    await clients.running(1);
    const eventId = await publishData(a.key);

    const failed = await sub.waitFor(phaseOf(eventId, 'FAILED'), 15_000, 'FAILED');
    expect(phasesOf(sub.items, eventId)).toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'FAILED']);
    expect(sub.items.map((u) => u.status)).toEqual(['PENDING', 'PENDING', 'FAILED', 'FAILED']);
    expect(failed).toMatchObject({
      delivery: { status: 'FAILED', attemptCount: 1 },
      attempt: { number: 1, responseStatus: 500 },
      nextAttemptAt: null,
    });

    // A retry by hand of the ended delivery: it stays FAILED until the new attempt is recorded,
    // and every update of it says so.
    await h.ok('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: failed.delivery.id }, a.key);
    await sub.waitUntil((items) => items.filter((u) => u.phase === 'FAILED').length === 2, 15_000, 'the retry to fail again');
    expect(sub.items.slice(4).map((u) => [u.phase, u.status])).toEqual([
      ['QUEUED', 'FAILED'],
      ['ATTEMPT_STARTED', 'FAILED'],
      ['ATTEMPT_FINISHED', 'FAILED'],
      ['FAILED', 'FAILED'],
    ]);
  });

  test('deleting a webhook with waiting deliveries announces each as CANCELLED', async () => {
    const a = await createTenant(h, 'live-4');
    const wh = await webhook(a.key, { url: `${ok.url}/deleted` });
    await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { id } }', { id: wh }, a.key);
    const sub = collect<DeliveryUpdate>(await live(a.key), DELIVERY_UPDATED, { webhookId: wh });
    await clients.running(1);
    // Deliveries to a paused webhook wait (PENDING) until it is resumed.
    const events = [await publishData(a.key), await publishData(a.key)];
    await sub.waitUntil((items) => items.length === 2, 10_000, 'two QUEUED updates');
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: wh }, a.key);

    await sub.waitUntil((items) => items.filter((u) => u.phase === 'CANCELLED').length === 2, 10_000, 'two CANCELLED updates');
    for (const eventId of events) expect(phasesOf(sub.items, eventId)).toEqual(['QUEUED', 'CANCELLED']);
    expect(sub.items.map((u) => u.status)).toEqual(['PENDING', 'PENDING', 'CANCELLED', 'CANCELLED']);
    for (const u of sub.items.slice(2)) expect(u.delivery).toMatchObject({ status: 'CANCELLED', webhookId: wh, attemptCount: 0 });
    expect(ok.requests.filter((r) => r.url === '/deleted')).toHaveLength(0);
  });

  test('webhookId narrows the stream to one webhook', async () => {
    const t = await createTenant(h, 'filter-webhook');
    const one = await webhook(t.key, { url: `${ok.url}/one` });
    const two = await webhook(t.key, { url: `${ok.url}/two` });
    const client = await live(t.key);
    const onlyTwo = collect<DeliveryUpdate>(client, DELIVERY_UPDATED, { webhookId: two });
    const all = collect<DeliveryUpdate>(client, DELIVERY_UPDATED);
    await clients.running(2);
    const events = [await publishData(t.key, { n: 1 }), await publishData(t.key, { n: 2 })];

    await all.waitUntil((items) => items.filter((u) => u.phase === 'SUCCEEDED').length === 4, 15_000, 'all four deliveries to succeed');
    await onlyTwo.waitUntil((items) => items.filter((u) => u.phase === 'SUCCEEDED').length === 2, 5_000, 'two SUCCEEDED on webhook two');
    await sleep(300); // anything that should not come would have come by now
    expect(new Set(all.items.map((u) => u.delivery.webhookId))).toEqual(new Set([one, two]));
    expect(new Set(onlyTwo.items.map((u) => u.delivery.webhookId))).toEqual(new Set([two]));
    for (const e of events) expect(phasesOf(onlyTwo.items, e)).toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED']);
    // The same updates in the same order (each subscriber loads the rows when it sends, so
    // compare what the messages say, not the rows' state at that moment).
    const key = (u: DeliveryUpdate) => `${u.phase} ${u.delivery.id} ${u.attempt?.id ?? ''}`;
    expect(onlyTwo.items.map(key)).toEqual(all.items.filter((u) => u.delivery.webhookId === two).map(key));
  });

  test('eventId narrows the stream to one event, on every webhook', async () => {
    const t = await createTenant(h, 'filter-event');
    const x = await webhook(t.key, { url: `${ok.url}/x` });
    const y = await webhook(t.key, { url: `${ok.url}/y` });
    const client = await live(t.key);
    const all = collect<DeliveryUpdate>(client, DELIVERY_UPDATED);
    await clients.running(1);
    const target = await publishData(t.key, { n: 'target' });
    await all.waitUntil(
      (items) => items.filter((u) => u.delivery.eventId === target && u.phase === 'SUCCEEDED').length === 2,
      15_000,
      'target done',
    );

    // Event ids exist only once published: subscribe to the target now, then cause updates of
    // both the target (manual retries on both webhooks) and a new event.
    const byEvent = collect<DeliveryUpdate>(client, DELIVERY_UPDATED, { eventId: target });
    await clients.running(2);
    const other = await publishData(t.key, { n: 'other' });
    for (const u of all.items.filter((u) => u.delivery.eventId === target && u.phase === 'SUCCEEDED')) {
      await h.ok('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: u.delivery.id }, t.key);
    }
    await byEvent.waitUntil((items) => items.filter((u) => u.phase === 'SUCCEEDED').length === 2, 15_000, 'both manual retries to succeed');
    await all.waitUntil(
      (items) => items.filter((u) => u.delivery.eventId === other && u.phase === 'SUCCEEDED').length === 2,
      15_000,
      'other done',
    );
    await sleep(300); // anything that should not come would have come by now

    expect(new Set(byEvent.items.map((u) => u.delivery.eventId))).toEqual(new Set([target]));
    expect(new Set(byEvent.items.map((u) => u.delivery.webhookId))).toEqual(new Set([x, y]));
    expect(byEvent.items.filter((u) => u.phase === 'ATTEMPT_FINISHED').map((u) => u.attempt?.number)).toEqual([2, 2]);
    const key = (u: DeliveryUpdate) => `${u.phase} ${u.delivery.id} ${u.attempt?.id ?? ''}`;
    expect(byEvent.items.map(key)).toEqual(
      all.items
        .filter((u) => u.delivery.eventId === target)
        .slice(-byEvent.items.length)
        .map(key),
    );
  });
});

describe('tenant scope', () => {
  test('tenant B’s subscriber receives nothing of tenant A; an admin with tenantId sees A’s only', async () => {
    const a = await createTenant(h, 'scope-a');
    const b = await createTenant(h, 'scope-b');
    const aHook = await webhook(a.key, { url: `${ok.url}/scope-a` });
    const bHook = await webhook(b.key, { url: `${ok.url}/scope-b` });
    const bClient = await live(b.key);
    const bAll = collect<DeliveryUpdate>(bClient, DELIVERY_UPDATED);
    // Naming another tenant's webhook (or tenant) is NOT_FOUND, as over HTTP: it never widens what B sees.
    const bOnAHook = collect<DeliveryUpdate>(bClient, DELIVERY_UPDATED, { webhookId: aHook });
    const bOnATenant = collect<DeliveryUpdate>(bClient, DELIVERY_UPDATED, { tenantId: a.id });
    const bStatus = collect<WebhookChange>(bClient, STATUS_CHANGED);
    const adminA = collect<DeliveryUpdate>(await live(h.adminKey), DELIVERY_UPDATED, { tenantId: a.id });
    const aAll = collect<DeliveryUpdate>(await live(a.key), DELIVERY_UPDATED, { webhookId: aHook });
    // The two refused (NOT_FOUND) never run.
    await clients.running(4);

    const aEvent = await publishData(a.key, { secret: 'tenant A only' });
    await aAll.waitFor(phaseOf(aEvent, 'SUCCEEDED'), 15_000, 'A’s delivery to succeed');
    await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { id } }', { id: aHook }, a.key);
    // The marker: B's own event, after everything of A's. Once B has its final update, anything
    // of A's would have arrived before it.
    const marker = await publishData(b.key, { marker: true });
    await bAll.waitFor(phaseOf(marker, 'SUCCEEDED'), 15_000, 'B’s marker to succeed');
    await sleep(300); // anything of A's that B should not see would have come by now

    expect(new Set(bAll.items.map((u) => u.delivery.eventId))).toEqual(new Set([marker]));
    expect(bAll.items.every((u) => u.delivery.tenantId === b.id && u.delivery.webhookId === bHook)).toBe(true);
    for (const refused of [bOnAHook, bOnATenant]) {
      expect(refused.items).toEqual([]);
      expect(refused.errors).toEqual([[expect.objectContaining({ extensions: expect.objectContaining({ code: 'NOT_FOUND' }) })]]);
      expect(refused.completed).toBe(true);
    }
    expect(bStatus.items).toEqual([]);

    expect(phasesOf(adminA.items, aEvent)).toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED']);
    expect(adminA.items.every((u) => u.delivery.tenantId === a.id)).toBe(true);
    expect(adminA.items.some((u) => u.delivery.eventId === marker)).toBe(false);
  });
});

describe('webhookStatusChanged', () => {
  test('pause, resume and delete are pushed; a delete carries deletedAt', async () => {
    const a = await createTenant(h, 'live-5');
    const wh = await webhook(a.key, { url: `${ok.url}/status` });
    const sub = collect<WebhookChange>(await live(a.key), STATUS_CHANGED, { webhookId: wh });
    await clients.running(1);
    await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { id } }', { id: wh }, a.key);
    await sub.waitUntil((items) => items.length === 1, 5_000, 'pause');
    await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: ACTIVE }) { id } }', { id: wh }, a.key);
    await sub.waitUntil((items) => items.length === 2, 5_000, 'resume');
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: wh }, a.key);
    await sub.waitUntil((items) => items.length === 3, 5_000, 'delete');

    expect(sub.items.map((w) => [w.id, w.tenantId, w.status, w.deletedAt === null])).toEqual([
      [wh, a.id, 'PAUSED', true],
      [wh, a.id, 'ACTIVE', true],
      [wh, a.id, 'ACTIVE', false],
    ]);
    expect(Number.isNaN(Date.parse(sub.items[2].deletedAt!))).toBe(false);
  });

  test('auto-disable after HERALD_DISABLE_AFTER of failures is pushed with its reason', async () => {
    const a = await createTenant(h, 'live-6');
    const wh = await webhook(a.key, { url: `${failing.url}/disable-me`, retrySchedule: [1, 1, 1, 1, 1, 1] });
    const client = await live(a.key);
    const sub = collect<WebhookChange>(client, STATUS_CHANGED, { webhookId: wh });
    const deliveries = collect<DeliveryUpdate>(client, DELIVERY_UPDATED, { webhookId: wh });
    await clients.running(2);
    await publishData(a.key);

    const disabled = await sub.waitFor((w) => w.status === 'DISABLED', 20_000, 'DISABLED');
    expect(sub.items).toHaveLength(1);
    expect(disabled).toMatchObject({ id: wh, tenantId: a.id, deletedAt: null });
    expect(disabled.disabledReason).toMatch(/failed for/i);
    // Disabled because the failures lasted longer than 1 s: at least two attempts failed.
    await deliveries.waitUntil((items) => items.filter((u) => u.phase === 'ATTEMPT_FINISHED').length >= 2, 5_000, 'two failed attempts');
    expect(deliveries.items.filter((u) => u.phase === 'ATTEMPT_FINISHED').every((u) => u.attempt?.responseStatus === 500)).toBe(true);
    // The delivery still waiting for its next retry is failed by the disable, and that is pushed too.
    const failed = await deliveries.waitFor((u) => u.phase === 'FAILED', 5_000, 'FAILED');
    expect(failed.delivery.status).toBe('FAILED');
  });
});
