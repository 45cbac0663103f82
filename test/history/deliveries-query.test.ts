import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  createWebhook,
  type DeliveryView,
  getDelivery,
  listDeliveries,
  publish,
  sleep,
  updateWebhook,
  waitForDelivery,
  waitUntil,
} from '../helpers/deliveries.ts';
import { createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

/**
 * The delivery log through GraphQL, after real deliveries to a real receiver:
 *
 *   tenant A  okHook     (*, answers 201)            ← e1 delivered, e2 inbound, e3 optout, e4 delivered, e5 inbound
 *             failHook   (message.inbound, 500, no retries) ← e2, e5
 *             pausedHook (message.optout, PAUSED)    ← e3 (stays PENDING)
 *   tenant B  bHook      (*)                         ← eB
 *
 * e1–e3 form batch 1 and e4–e5 batch 2, published after a pause: the time-window filters
 * split exactly there.
 */

let h: TestHerald;
let receiver: Receiver;
let a: { id: string; key: string };
let b: { id: string; key: string };
const hooks = { ok: '', fail: '', paused: '', b: '' };
const ev: Record<'e1' | 'e2' | 'e3' | 'e4' | 'e5' | 'eB', string> = { e1: '', e2: '', e3: '', e4: '', e5: '', eB: '' };
/** Every delivery of tenant A, as read once everything settled (newest first). */
let all: DeliveryView[];
let batch2Start: string;
const BEARER_TOKEN = 'tok_history_secret_123';

const NODE = 'id status eventId eventType webhookId createdAt';
const PAGE = `query($first: Int, $after: String, $filter: DeliveryFilter) {
  deliveries(first: $first, after: $after, filter: $filter) {
    edges { cursor node { ${NODE} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

type Page = {
  edges: { cursor: string; node: Pick<DeliveryView, 'id' | 'status' | 'eventId' | 'eventType' | 'webhookId' | 'createdAt'> }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
};

async function page(variables: Record<string, unknown>, key = a.key): Promise<Page> {
  return (await h.ok<{ deliveries: Page }>(PAGE, variables, key)).deliveries;
}

/** Ids of every delivery matching `filter`, walking every page `size` at a time. */
async function idsOf(filter: Record<string, unknown>, key = a.key, size = 100): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const p: Page = await page({ first: size, after, filter }, key);
    ids.push(...p.edges.map((e) => e.node.id));
    if (!p.pageInfo.hasNextPage) return ids;
    after = p.pageInfo.endCursor;
  }
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

const idsWhere = (predicate: (d: DeliveryView) => boolean) => all.filter(predicate).map((d) => d.id);

async function settle(eventIds: string[]): Promise<void> {
  for (const eventId of eventIds) {
    for (const d of await listDeliveries(h, a.key, { eventId })) {
      // (waitUntil, not waitForDelivery: this also runs in beforeAll, where expect.poll is not allowed)
      if (d.webhookId !== hooks.paused) {
        await waitUntil(async () => FINAL.has((await getDelivery(h, a.key, d.id)).status), {
          timeout: 10_000,
          message: `delivery ${d.id}`,
        });
      }
    }
  }
}

beforeAll(async () => {
  receiver = await startReceiver({
    handler: (req, res) => {
      if (req.url?.startsWith('/fail')) res.writeHead(500, { 'content-type': 'text/plain' }).end('nope');
      else res.writeHead(201, { 'content-type': 'application/json', 'x-receiver': 'history' }).end('{"ok":true}');
    },
  });
  h = await startTestHerald({ HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_ALLOW_HTTP: 'true' });
  a = await createTenant(h, 'acme');
  b = await createTenant(h, 'globex');
  hooks.ok = (await createWebhook(h, a.key, { url: `${receiver.url}/ok`, auth: { type: 'BEARER', token: BEARER_TOKEN } })).id;
  hooks.fail = (await createWebhook(h, a.key, { url: `${receiver.url}/fail`, events: ['message.inbound'], retrySchedule: [] })).id;
  hooks.paused = (await createWebhook(h, a.key, { url: `${receiver.url}/ok`, events: ['message.optout'] })).id;
  await updateWebhook(h, a.key, hooks.paused, { status: 'PAUSED' });
  hooks.b = (await createWebhook(h, b.key, { url: `${receiver.url}/b` })).id;

  ev.e1 = (await publish(h, a.key, { type: 'message.delivered' })).eventId;
  ev.e2 = (await publish(h, a.key, { type: 'message.inbound' })).eventId;
  ev.e3 = (await publish(h, a.key, { type: 'message.optout' })).eventId;
  await settle([ev.e1, ev.e2, ev.e3]);
  await sleep(20);
  ev.e4 = (await publish(h, a.key, { type: 'message.delivered' })).eventId;
  ev.e5 = (await publish(h, a.key, { type: 'message.inbound' })).eventId;
  await settle([ev.e4, ev.e5]);
  ev.eB = (await publish(h, b.key, { type: 'message.delivered' })).eventId;
  await waitUntil(async () => (await listDeliveries(h, b.key, {}))[0]?.status === 'SUCCEEDED', {
    timeout: 10_000,
    message: 'B’s delivery',
  });

  all = await listDeliveries(h, a.key, {});
  batch2Start = all
    .filter((d) => d.eventId === ev.e4 || d.eventId === ev.e5)
    .map((d) => d.createdAt)
    .sort()[0];
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

test('the setup produced the deliveries described above', () => {
  const summary = all.map((d) => [
    Object.entries(ev).find(([, id]) => id === d.eventId)![0],
    Object.entries(hooks).find(([, id]) => id === d.webhookId)![0],
    d.status,
  ]);
  expect(summary.sort()).toEqual(
    [
      ['e1', 'ok', 'SUCCEEDED'],
      ['e2', 'fail', 'FAILED'],
      ['e2', 'ok', 'SUCCEEDED'],
      ['e3', 'ok', 'SUCCEEDED'],
      ['e3', 'paused', 'PENDING'],
      ['e4', 'ok', 'SUCCEEDED'],
      ['e5', 'fail', 'FAILED'],
      ['e5', 'ok', 'SUCCEEDED'],
    ].sort(),
  );
});

test('deliveries come newest first, with cursors that walk every page exactly once', async () => {
  const ids = all.map((d) => d.id);
  expect(ids).toEqual([...ids].sort().reverse());
  const created = all.map((d) => Date.parse(d.createdAt));
  expect(created).toEqual([...created].sort((x, y) => y - x));
  // Batch 2 before batch 1.
  expect(
    all
      .slice(0, 3)
      .map((d) => d.eventId)
      .sort(),
  ).toEqual([ev.e4, ev.e5, ev.e5].sort());

  // Small pages give the same sequence.
  expect(await idsOf({}, a.key, 3)).toEqual(ids);
  const first = await page({ first: 3 });
  expect(first.pageInfo.hasNextPage).toBe(true);
  expect(first.edges.map((e) => e.node.id)).toEqual(ids.slice(0, 3));
  expect(first.pageInfo.endCursor).toBe(first.edges[2].cursor);
  const last = await page({ first: 5, after: first.pageInfo.endCursor });
  expect(last.edges.map((e) => e.node.id)).toEqual(ids.slice(3));
  expect(last.pageInfo.hasNextPage).toBe(false);
});

test('every DeliveryFilter field narrows the list, alone and combined', async () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['webhookId', { webhookId: hooks.fail }, idsWhere((d) => d.webhookId === hooks.fail)],
    ['eventId', { eventId: ev.e2 }, idsWhere((d) => d.eventId === ev.e2)],
    ['status SUCCEEDED', { status: 'SUCCEEDED' }, idsWhere((d) => d.status === 'SUCCEEDED')],
    ['status FAILED', { status: 'FAILED' }, idsWhere((d) => d.status === 'FAILED')],
    ['status PENDING', { status: 'PENDING' }, idsWhere((d) => d.status === 'PENDING')],
    ['status CANCELLED', { status: 'CANCELLED' }, []],
    ['eventType', { eventType: 'message.inbound' }, idsWhere((d) => d.eventType === 'message.inbound')],
    ['eventType (none)', { eventType: 'campaign.completed' }, []],
    ['since (inclusive)', { since: batch2Start }, idsWhere((d) => d.createdAt >= batch2Start)],
    ['until (exclusive)', { until: batch2Start }, idsWhere((d) => d.createdAt < batch2Start)],
    ['since + until', { since: all.at(-1)!.createdAt, until: batch2Start }, idsWhere((d) => d.createdAt < batch2Start)],
    ['empty window', { since: batch2Start, until: batch2Start }, []],
    ['webhookId + status', { webhookId: hooks.ok, status: 'SUCCEEDED' }, idsWhere((d) => d.webhookId === hooks.ok)],
    [
      'webhookId + eventType + since',
      { webhookId: hooks.ok, eventType: 'message.delivered', since: batch2Start },
      idsWhere((d) => d.eventId === ev.e4),
    ],
    ['eventId + webhookId', { eventId: ev.e5, webhookId: hooks.fail }, idsWhere((d) => d.eventId === ev.e5 && d.webhookId === hooks.fail)],
  ];
  for (const [name, filter, expected] of cases) {
    expect(await idsOf(filter, a.key, 2), name).toEqual(expected);
  }
  // Sanity of the expectations themselves: each field really narrows.
  expect(idsWhere((d) => d.webhookId === hooks.fail)).toHaveLength(2);
  expect(idsWhere((d) => d.eventId === ev.e2)).toHaveLength(2);
  expect(idsWhere((d) => d.status === 'SUCCEEDED')).toHaveLength(5);
  expect(idsWhere((d) => d.status === 'PENDING')).toHaveLength(1);
  expect(idsWhere((d) => d.eventType === 'message.inbound')).toHaveLength(4);
  expect(idsWhere((d) => d.createdAt >= batch2Start)).toHaveLength(3);
});

test('bad paging arguments are validation errors', async () => {
  expectError(await h.gql(PAGE, { first: 0 }, a.key), 'VALIDATION_ERROR', 'first');
  expectError(await h.gql(PAGE, { first: 101 }, a.key), 'VALIDATION_ERROR', 'first');
  expectError(await h.gql(PAGE, { after: 'not-a-cursor' }, a.key), 'VALIDATION_ERROR', 'after');
});

test('an admin reads one tenant with tenantId, or every tenant without it', async () => {
  expect(await idsOf({ tenantId: a.id }, h.adminKey)).toEqual(all.map((d) => d.id));
  const bIds = await idsOf({ tenantId: b.id }, h.adminKey);
  expect(bIds).toEqual(await idsOf({}, b.key));
  expect(bIds).toHaveLength(1);
  // Without tenantId: everything, still newest first.
  const everything = await idsOf({}, h.adminKey, 4);
  expect([...everything].sort()).toEqual([...all.map((d) => d.id), ...bIds].sort());
  expect(everything).toEqual([...everything].sort().reverse());
  // Filters combine with tenantId.
  expect(await idsOf({ tenantId: a.id, status: 'FAILED' }, h.adminKey)).toEqual(idsWhere((d) => d.status === 'FAILED'));
  expectError(await h.gql(PAGE, { filter: { tenantId: 'ten_00000000000000000000000000' } }, h.adminKey), 'NOT_FOUND');
});

test('cursors stay stable while new deliveries arrive', async () => {
  const original = (await idsOf({})).slice();
  const first = await page({ first: 3 });
  expect(first.edges.map((e) => e.node.id)).toEqual(original.slice(0, 3));

  // New deliveries arrive between page 1 and page 2.
  const fresh = [
    (await publish(h, a.key, { type: 'message.delivered' })).eventId,
    (await publish(h, a.key, { type: 'message.inbound' })).eventId,
  ];

  const rest: string[] = [];
  let after = first.pageInfo.endCursor;
  for (;;) {
    const next = await page({ first: 3, after });
    rest.push(...next.edges.map((e) => e.node.id));
    if (!next.pageInfo.hasNextPage) break;
    after = next.pageInfo.endCursor;
  }
  // No duplicates, no gaps, nothing new: exactly the original sequence.
  expect([...first.edges.map((e) => e.node.id), ...rest]).toEqual(original);

  // A fresh read starts with the newcomers (3: ok ← both, fail ← inbound).
  const now = await page({ first: 3 });
  expect(now.edges.map((e) => e.node.eventId).sort()).toEqual([fresh[0], fresh[1], fresh[1]].sort());
  expect(now.edges.every((e) => e.node.id > original[0])).toBe(true);
  await settle(fresh);
});

const ATTEMPT_FIELDS = `id deliveryId webhookId number trigger startedAt durationMs requestUrl requestHeaders
  responseStatus responseHeaders responseBody error errorMessage`;
const DELIVERY = `query($id: ID!) { delivery(id: $id) {
  id status attemptCount lastAttemptAt completedAt lastResponseStatus lastError eventId webhookId
  webhook { id url } event { id type }
  attempts { ${ATTEMPT_FIELDS} }
} }`;

test('delivery(id) { attempts } shows every field of a real attempt', async () => {
  const before = Date.now();
  const { eventId } = await publish(h, a.key, { type: 'message.sent', data: { messageId: 'm-attempt' } });
  const [listed] = await listDeliveries(h, a.key, { eventId });
  await waitForDelivery(h, a.key, listed.id);
  const request = receiver.requests.find((r) => r.headers['herald-delivery-id'] === listed.id)!;
  expect(request).toBeDefined();

  const { delivery } = await h.ok(DELIVERY, { id: listed.id }, a.key);
  expect(delivery).toMatchObject({
    id: listed.id,
    status: 'SUCCEEDED',
    attemptCount: 1,
    lastResponseStatus: 201,
    lastError: null,
    eventId,
    webhookId: hooks.ok,
    webhook: { id: hooks.ok, url: `${receiver.url}/ok` },
    event: { id: eventId, type: 'message.sent' },
  });
  expect(delivery.attempts).toHaveLength(1);
  const [attempt] = delivery.attempts;
  expect(attempt.id).toMatch(/^att_[0-9a-z]{26}$/);
  expect(attempt).toMatchObject({
    deliveryId: listed.id,
    webhookId: hooks.ok,
    number: 1,
    trigger: 'SCHEDULED',
    requestUrl: `${receiver.url}/ok`,
    responseStatus: 201,
    responseBody: '{"ok":true}',
    error: null,
    errorMessage: null,
  });
  // startedAt: an ISO timestamp during this test, before the receiver saw the request.
  expect(attempt.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  expect(Date.parse(attempt.startedAt)).toBeGreaterThanOrEqual(before - 1000);
  expect(Date.parse(attempt.startedAt)).toBeLessThanOrEqual(request.receivedAt.getTime());
  expect(Number.isInteger(attempt.durationMs)).toBe(true);
  expect(attempt.durationMs).toBeGreaterThanOrEqual(0);
  expect(attempt.durationMs).toBeLessThan(5000);
  expect(delivery.lastAttemptAt).toBe(attempt.startedAt);
  // What was sent, as sent, with the signature and the auth token redacted.
  expect(attempt.requestHeaders).toMatchObject({
    'content-type': 'application/json',
    'webhook-id': eventId,
    'herald-delivery-id': listed.id,
    'herald-event-type': 'message.sent',
    'herald-attempt': '1',
    'webhook-timestamp': request.headers['webhook-timestamp'],
    'user-agent': request.headers['user-agent'],
  });
  expect(attempt.requestHeaders['user-agent']).toMatch(/^Herald\//);
  const authKey = Object.keys(attempt.requestHeaders).find((k) => k.toLowerCase() === 'authorization');
  expect(authKey).toBeDefined();
  expect(request.headers.authorization).toBe(`Bearer ${BEARER_TOKEN}`);
  expect(JSON.stringify(attempt.requestHeaders)).not.toContain(BEARER_TOKEN);
  expect(attempt.requestHeaders['webhook-signature']).toBeDefined();
  expect(attempt.requestHeaders['webhook-signature']).not.toBe(request.headers['webhook-signature']);
  // What came back.
  expect(attempt.responseHeaders).toMatchObject({ 'content-type': 'application/json', 'x-receiver': 'history' });

  // A manual retry adds attempt 2 (trigger MANUAL); attempts stay oldest first.
  await h.ok('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: listed.id }, a.key);
  await expect.poll(async () => (await h.ok(DELIVERY, { id: listed.id }, a.key)).delivery.attempts.length, { timeout: 10_000 }).toBe(2);
  const again = (await h.ok(DELIVERY, { id: listed.id }, a.key)).delivery;
  expect(again.attempts.map((x: { number: number; trigger: string }) => [x.number, x.trigger])).toEqual([
    [1, 'SCHEDULED'],
    [2, 'MANUAL'],
  ]);
  expect(again.attempts[1].startedAt > again.attempts[0].startedAt).toBe(true);
});

test('a failed attempt records the response, and a connection failure records the error', async () => {
  const failed = all.find((d) => d.eventId === ev.e2 && d.webhookId === hooks.fail)!;
  const { delivery } = await h.ok(DELIVERY, { id: failed.id }, a.key);
  expect(delivery.status).toBe('FAILED');
  expect(delivery.attempts).toHaveLength(1);
  expect(delivery.attempts[0]).toMatchObject({
    number: 1,
    trigger: 'SCHEDULED',
    responseStatus: 500,
    responseBody: 'nope',
    requestUrl: `${receiver.url}/fail`,
  });

  // An endpoint that refuses connections: no response at all.
  const closed = await startReceiver();
  const deadUrl = `${closed.url}/gone`;
  await closed.close();
  const dead = (await createWebhook(h, a.key, { url: deadUrl, events: ['device.disconnected'], retrySchedule: [] })).id;
  const { eventId } = await publish(h, a.key, { type: 'device.disconnected' });
  const [listed] = await listDeliveries(h, a.key, { eventId, webhookId: dead });
  const done = await waitForDelivery(h, a.key, listed.id);
  expect(done.status).toBe('FAILED');
  expect(done.attempts).toHaveLength(1);
  expect(done.attempts[0]).toMatchObject({
    number: 1,
    responseStatus: null,
    responseHeaders: null,
    responseBody: null,
    error: 'CONNECTION',
    requestUrl: deadUrl,
  });
  expect(done.attempts[0].errorMessage).toEqual(expect.any(String));
  expect(done.lastError).toBe('CONNECTION');
});

const EVENT_DELIVERIES = `query($id: ID!, $first: Int, $after: String) { event(id: $id) { id type
  deliveries(first: $first, after: $after) { edges { node { id webhookId status eventId } } pageInfo { hasNextPage endCursor } }
} }`;

test('event(id) { deliveries } lists the deliveries of that event, newest first, paged', async () => {
  const expected = idsWhere((d) => d.eventId === ev.e2);
  const { event } = await h.ok(EVENT_DELIVERIES, { id: ev.e2 }, a.key);
  expect(event.type).toBe('message.inbound');
  expect(event.deliveries.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(expected);
  expect(event.deliveries.edges.map((e: { node: { webhookId: string } }) => e.node.webhookId).sort()).toEqual(
    [hooks.ok, hooks.fail].sort(),
  );
  const one = (await h.ok(EVENT_DELIVERIES, { id: ev.e2, first: 1 }, a.key)).event.deliveries;
  expect(one.pageInfo.hasNextPage).toBe(true);
  const two = (await h.ok(EVENT_DELIVERIES, { id: ev.e2, first: 1, after: one.pageInfo.endCursor }, a.key)).event.deliveries;
  expect([...one.edges, ...two.edges].map((e: { node: { id: string } }) => e.node.id)).toEqual(expected);
  expect(two.pageInfo.hasNextPage).toBe(false);
  // The admin sees the same.
  expect((await h.ok(EVENT_DELIVERIES, { id: ev.e2 }, h.adminKey)).event.deliveries.edges).toEqual(event.deliveries.edges);
});

const WEBHOOK_DELIVERIES = `query($id: ID!, $status: DeliveryStatus, $eventType: String, $since: DateTime, $until: DateTime, $first: Int) {
  webhook(id: $id) { id deliveries(status: $status, eventType: $eventType, since: $since, until: $until, first: $first) {
    edges { node { id status webhookId eventType } } pageInfo { hasNextPage }
  } }
}`;

test('webhook(id) { deliveries(…) } lists that webhook’s deliveries, filtered', async () => {
  // The cursor and attempt tests above added deliveries: compare with the log as it is now.
  const now = await listDeliveries(h, a.key, {});
  const idsNow = (predicate: (d: DeliveryView) => boolean) => now.filter(predicate).map((d) => d.id);
  const run = async (variables: Record<string, unknown>) =>
    (await h.ok(WEBHOOK_DELIVERIES, variables, a.key)).webhook.deliveries.edges.map((e: { node: DeliveryView }) => e.node);
  const failed = await run({ id: hooks.fail, status: 'FAILED' });
  expect(failed.map((d: DeliveryView) => d.id)).toEqual(idsNow((d) => d.webhookId === hooks.fail));
  expect(failed.every((d: DeliveryView) => d.webhookId === hooks.fail && d.status === 'FAILED')).toBe(true);
  expect(await run({ id: hooks.fail, status: 'SUCCEEDED' })).toEqual([]);
  expect((await run({ id: hooks.paused, status: 'PENDING' })).map((d: DeliveryView) => d.id)).toEqual(
    idsNow((d) => d.webhookId === hooks.paused),
  );
  expect(idsNow((d) => d.webhookId === hooks.fail)).toHaveLength(3);
  // Status is per webhook: the ok hook's deliveries of e2/e5 succeeded although the fail hook's failed.
  const inbound = await run({ id: hooks.ok, eventType: 'message.inbound' });
  expect(inbound.map((d: DeliveryView) => d.id)).toEqual(idsNow((d) => d.webhookId === hooks.ok && d.eventType === 'message.inbound'));
  expect(inbound.every((d: DeliveryView) => d.status === 'SUCCEEDED')).toBe(true);
  // Time window and page size.
  expect((await run({ id: hooks.ok, until: batch2Start })).map((d: DeliveryView) => d.id)).toEqual(
    idsNow((d) => d.webhookId === hooks.ok && d.createdAt < batch2Start),
  );
  const firstTwo = await h.ok(WEBHOOK_DELIVERIES, { id: hooks.ok, first: 2 }, a.key);
  expect(firstTwo.webhook.deliveries.edges).toHaveLength(2);
  expect(firstTwo.webhook.deliveries.pageInfo.hasNextPage).toBe(true);
});

test('tenant isolation: B sees none of A’s deliveries, events or attempts', async () => {
  const aDelivery = all[0];
  // Lists: only B's own, whatever filter names A's objects.
  const bOwn = await idsOf({}, b.key);
  expect(bOwn).toHaveLength(1);
  expect(bOwn).not.toContain(aDelivery.id);
  expect(await idsOf({ webhookId: hooks.ok }, b.key)).toEqual([]);
  expect(await idsOf({ eventId: ev.e1 }, b.key)).toEqual([]);
  expect(await idsOf({ eventType: 'message.inbound' }, b.key)).toEqual([]);
  // An A cursor in B's hands pages through B's own deliveries only.
  const cursor = Buffer.from(all.at(-1)!.id).toString('base64url');
  for (const e of (await page({ first: 100, after: cursor }, b.key)).edges) expect(e.node.webhookId).toBe(hooks.b);
  // Naming A as the tenant is NOT_FOUND, as everywhere else.
  expectError(await h.gql(PAGE, { filter: { tenantId: a.id } }, b.key), 'NOT_FOUND');

  // Single objects: null.
  const single = await h.gql(
    `query($d: ID!, $e: ID!, $w: ID!) { delivery(id: $d) { id attempts { id } } event(id: $e) { id deliveries { edges { node { id } } } } webhook(id: $w) { id } }`,
    { d: aDelivery.id, e: ev.e1, w: hooks.ok },
    b.key,
  );
  expect(single.errors).toBeUndefined();
  expect(single.data).toEqual({ delivery: null, event: null, webhook: null });
  const events = await h.ok('{ events(first: 100) { edges { node { id } } } }', {}, b.key);
  expect(events.events.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([ev.eB]);

  // And the other way round.
  const reverse = await h.gql('query($d: ID!) { delivery(id: $d) { id } }', { d: (await listDeliveries(h, b.key, {}))[0].id }, a.key);
  expect(reverse.data).toEqual({ delivery: null });
});
