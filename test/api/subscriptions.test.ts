import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createWebhook } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { collect, liveClients, subscribeOverSse, wsUrlOf } from '../helpers/live.ts';

const STATUS_CHANGED = 'subscription($id: ID) { webhookStatusChanged(webhookId: $id) { id tenantId status } }';
const SET_STATUS = 'mutation($id: ID!, $status: WebhookStatus!) { updateWebhook(id: $id, input: { status: $status }) { id } }';

let h: TestHerald;
let a: { id: string; key: string };
let b: { id: string; key: string };
const clients = liveClients(() => h.url);
beforeAll(async () => {
  h = await startTestHerald();
  a = await createTenant(h, 'sub-a');
  b = await createTenant(h, 'sub-b');
});
afterEach(() => clients.disposeAll());
afterAll(() => h?.stop());

const connect = (key: string) => clients.connect(key);
const subscribe = collect;
const newWebhook = async (key: string) => (await createWebhook(h, key, { url: 'https://example.com/hook' })).id;

test('an authenticated subscriber receives the change when its webhook is paused and resumed over HTTP', async () => {
  const webhook = await newWebhook(a.key);
  const sub = subscribe(await connect(a.key), STATUS_CHANGED);
  await clients.running(1);
  await h.ok(SET_STATUS, { id: webhook, status: 'PAUSED' }, a.key);
  expect(await sub.next()).toEqual({ data: { webhookStatusChanged: { id: webhook, tenantId: a.id, status: 'PAUSED' } } });
  await h.ok(SET_STATUS, { id: webhook, status: 'ACTIVE' }, a.key);
  expect(await sub.next()).toEqual({ data: { webhookStatusChanged: { id: webhook, tenantId: a.id, status: 'ACTIVE' } } });
});

test('tenant B’s subscribers receive nothing of tenant A’s webhooks', async () => {
  const aWebhook = await newWebhook(a.key);
  const bWebhook = await newWebhook(b.key);
  const bClient = await connect(b.key);
  const bAll = subscribe(bClient, STATUS_CHANGED);
  // Naming A's webhook is NOT_FOUND, as it is over HTTP: nothing of A's is streamed.
  const bOnA = subscribe(bClient, STATUS_CHANGED, { id: aWebhook });
  const aAll = subscribe(await connect(a.key), STATUS_CHANGED);
  // bOnA is refused (NOT_FOUND): two run.
  await clients.running(2);

  await h.ok(SET_STATUS, { id: aWebhook, status: 'PAUSED' }, a.key);
  expect((await aAll.next()).data.webhookStatusChanged.id).toBe(aWebhook);
  await sleep(300);
  expect(bAll.results).toEqual([]);
  expect(bOnA.results.map((r) => r.errors?.map((e: any) => e.extensions.code))).toEqual([['NOT_FOUND']]);

  // B's subscription is live: its own webhook's change is the first thing it gets.
  await h.ok(SET_STATUS, { id: bWebhook, status: 'PAUSED' }, b.key);
  expect(await bAll.next()).toEqual({ data: { webhookStatusChanged: { id: bWebhook, tenantId: b.id, status: 'PAUSED' } } });
  expect(bOnA.results).toHaveLength(1);
});

test('webhookId narrows the subscription to one webhook', async () => {
  const [one, two] = [await newWebhook(a.key), await newWebhook(a.key)];
  const sub = subscribe(await connect(a.key), STATUS_CHANGED, { id: two });
  await clients.running(1);
  await h.ok(SET_STATUS, { id: one, status: 'PAUSED' }, a.key);
  await h.ok(SET_STATUS, { id: two, status: 'PAUSED' }, a.key);
  expect((await sub.next()).data.webhookStatusChanged.id).toBe(two);
  expect(sub.results).toHaveLength(1);
});

test('deleting a webhook is announced to its subscribers', async () => {
  const webhook = await newWebhook(a.key);
  const sub = subscribe(await connect(a.key), STATUS_CHANGED, { id: webhook });
  await clients.running(1);
  await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhook }, a.key);
  expect((await sub.next()).data.webhookStatusChanged).toMatchObject({ id: webhook, tenantId: a.id });
});

/** Opens a connection that the server is expected to refuse; resolves to its close event. */
function refusedConnection(connectionParams: Record<string, unknown>): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    clients.track(
      createClient({
        url: wsUrlOf(h.url),
        webSocketImpl: WebSocket,
        connectionParams,
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: () => {}, // the close event below is what the test checks
        on: { closed: (event) => resolve(event as { code: number; reason: string }) },
      }),
    );
  });
}

test.each([
  ['an unknown key', { authorization: 'Bearer hrld_not_a_real_key_at_all_0000000000000000' }],
  ['a malformed authorization', { authorization: 'Token x' }],
  ['an empty authorization', { authorization: '' }],
])('a connection with %s in connection_init is closed with 4401 Unauthorized', async (_case, connectionParams) => {
  const event = await refusedConnection(connectionParams);
  expect(event.code).toBe(4401);
  expect(event.reason).toMatch(/^Unauthorized/);
});

/**
 * A graphql-ws client whose connection_init carries no key (as GraphiQL's); resolves once the
 * server acknowledged it. `closed` resolves with the close event if the server closes it.
 */
async function connectWithoutKey(): Promise<{ client: Client; closed: Promise<{ code: number; reason: string }>; isClosed(): boolean }> {
  let acked!: () => void;
  let failed!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    acked = resolve;
    failed = reject;
  });
  let closedEvent: { code: number; reason: string } | undefined;
  let onClosed!: (event: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (onClosed = resolve));
  const client = createClient({
    url: wsUrlOf(h.url),
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {}, // the close event is what the tests check
    on: {
      connected: () => acked(),
      closed: (event) => {
        closedEvent = event as { code: number; reason: string };
        onClosed(closedEvent);
        failed(new Error(`closed: ${JSON.stringify({ code: closedEvent.code, reason: closedEvent.reason })}`));
      },
    },
  });
  clients.track(client);
  await ready;
  return { client, closed, isClosed: () => closedEvent !== undefined };
}

test('a connection without authorization is acknowledged, and its first subscription without a key closes it with 4401', async () => {
  const conn = await connectWithoutKey();
  // Acknowledged and left open while it does nothing…
  await sleep(300);
  expect(conn.isClosed()).toBe(false);

  // …until it subscribes without a key.
  const sub = collect(conn.client, STATUS_CHANGED, {});
  const event = await conn.closed;
  expect(event.code).toBe(4401);
  expect(event.reason).toMatch(/^Unauthorized/);
  expect(event.reason).toContain('Missing authorization');
  // The subscription itself ends with that close event, having received nothing.
  await expect.poll(() => sub.errors.length).toBe(1);
  expect(sub.errors[0]).toMatchObject({ code: 4401 });
  expect(sub.results).toEqual([{ error: expect.objectContaining({ code: 4401 }) }]);
});

test.each(['authorization', 'Authorization'])(
  'a subscription carrying a tenant key in extensions.headers.%s works on a connection without authorization',
  async (header) => {
    const aWebhook = await newWebhook(a.key);
    const bWebhook = await newWebhook(b.key);
    const conn = await connectWithoutKey();
    const sub = collect(conn.client, STATUS_CHANGED, {}, { headers: { [header]: `Bearer ${a.key}` } });
    await clients.running(1);

    // The key authenticates the subscription as tenant A: B's change is not seen, A's is.
    await h.ok(SET_STATUS, { id: bWebhook, status: 'PAUSED' }, b.key);
    await h.ok(SET_STATUS, { id: aWebhook, status: 'PAUSED' }, a.key);
    await expect.poll(() => sub.results.length, { timeout: 5000 }).toBeGreaterThan(0);
    await sleep(200);
    expect(sub.results).toEqual([{ data: { webhookStatusChanged: { id: aWebhook, tenantId: a.id, status: 'PAUSED' } } }]);
    expect(sub.errors).toEqual([]);
    expect(conn.isClosed()).toBe(false);
  },
);

test('a key in one subscribe does not authenticate the connection: a later subscribe without one closes it with 4401', async () => {
  const webhook = await newWebhook(a.key);
  const conn = await connectWithoutKey();
  const keyed = collect(conn.client, STATUS_CHANGED, { id: webhook }, { headers: { authorization: `Bearer ${a.key}` } });
  await clients.running(1);
  await h.ok(SET_STATUS, { id: webhook, status: 'PAUSED' }, a.key);
  await expect.poll(() => keyed.results).toEqual([{ data: { webhookStatusChanged: { id: webhook, tenantId: a.id, status: 'PAUSED' } } }]);

  const keyless = collect(conn.client, STATUS_CHANGED, {});
  const event = await conn.closed;
  expect(event).toMatchObject({ code: 4401, reason: expect.stringMatching(/^Unauthorized: Missing authorization/) });
  await expect.poll(() => keyless.errors.length).toBe(1);
  expect(keyless.results).toEqual([{ error: expect.objectContaining({ code: 4401 }) }]);
});

test.each([
  ['an unknown key', 'Bearer hrld_not_a_real_key_at_all_0000000000000000', 'Unknown or revoked API key'],
  ['a malformed authorization', 'Token x', 'Malformed authorization'],
])('a subscription carrying %s in extensions.headers is closed with 4401 Unauthorized', async (_case, authorization, why) => {
  const webhook = await newWebhook(a.key);
  const conn = await connectWithoutKey();
  const sub = collect(conn.client, STATUS_CHANGED, {}, { headers: { authorization } });
  const event = await conn.closed;
  expect(event.code).toBe(4401);
  expect(event.reason).toMatch(/^Unauthorized/);
  expect(event.reason).toContain(why);

  // Nothing reaches it afterwards.
  await h.ok(SET_STATUS, { id: webhook, status: 'PAUSED' }, a.key);
  await sleep(300);
  expect(sub.errors).toHaveLength(1);
  expect(sub.errors[0]).toMatchObject({ code: 4401 });
  expect(sub.results).toEqual([{ error: expect.objectContaining({ code: 4401 }) }]);
});

test('a connection with a revoked key is closed with 4401 Unauthorized', async () => {
  const { createApiKey } = await h.ok('mutation { createApiKey(input: { name: "ws" }) { apiKey { id } secret } }', {}, a.key);
  await h.ok('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: createApiKey.apiKey.id }, a.key);
  const event = await refusedConnection({ authorization: `Bearer ${createApiKey.secret}` });
  expect(event).toMatchObject({ code: 4401, reason: expect.stringMatching(/^Unauthorized/) });
});

/** A subscription over HTTP (GraphQL over SSE): every `next` payload, and whether it completed. */
async function overSse(query: string, variables: Record<string, unknown>, key: string) {
  const payloads: any[] = [];
  const completed = await subscribeOverSse(h.url, key, { query, variables }, (payload) => {
    payloads.push(payload);
  });
  return { payloads, completed };
}

/** A subscription over graphql-ws: its results until it completes or errs. */
async function overWs(query: string, variables: Record<string, unknown>, key: string) {
  const client = await connect(key);
  const results: any[] = [];
  const ended = new Promise<string>((resolve) =>
    client.subscribe(
      { query, variables },
      { next: (r) => results.push(r), error: (e) => resolve(`error ${JSON.stringify(e)}`), complete: () => resolve('complete') },
    ),
  );
  return { results, end: await ended };
}

const codes = (errors: { extensions?: { code?: string } }[] | undefined) => errors?.map((e) => e.extensions?.code);

describe('every subscription argument is checked as a query checks it, with the same answer on every transport', () => {
  const DELIVERY_UPDATED =
    'subscription($tenantId: ID, $webhookId: ID, $eventId: ID) { deliveryUpdated(tenantId: $tenantId, webhookId: $webhookId, eventId: $eventId) { phase } }';
  const WEBHOOK_STATUS =
    'subscription($tenantId: ID, $webhookId: ID) { webhookStatusChanged(tenantId: $tenantId, webhookId: $webhookId) { id } }';
  let aWebhook: string;
  let aEvent: string;
  beforeAll(async () => {
    aWebhook = await newWebhook(a.key);
    aEvent = (await h.ok('mutation { publishEvent(input: { type: "message.sent", data: {} }) { event { id } } }', {}, a.key)).publishEvent
      .event.id;
  });

  test('over HTTP, a tenant naming another tenant is NOT_FOUND', async () => {
    const result = await h.gql('query($t: ID) { deliveries(filter: { tenantId: $t }) { edges { cursor } } }', { t: a.id }, b.key);
    expect(codes(result.errors)).toEqual(['NOT_FOUND']);
  });

  test.each([
    ['deliveryUpdated', 'another tenant', () => ({ query: DELIVERY_UPDATED, variables: { tenantId: a.id } })],
    ['deliveryUpdated', 'another tenant’s webhook', () => ({ query: DELIVERY_UPDATED, variables: { webhookId: aWebhook } })],
    ['deliveryUpdated', 'another tenant’s event', () => ({ query: DELIVERY_UPDATED, variables: { eventId: aEvent } })],
    ['webhookStatusChanged', 'another tenant', () => ({ query: WEBHOOK_STATUS, variables: { tenantId: a.id } })],
    ['webhookStatusChanged', 'another tenant’s webhook', () => ({ query: WEBHOOK_STATUS, variables: { webhookId: aWebhook } })],
  ])('%s naming %s with B’s key is NOT_FOUND over graphql-ws and over SSE, and streams nothing', async (_field, _case, operation) => {
    const { query, variables } = operation();
    const ws = await overWs(query, variables, b.key);
    expect(ws.results.map((r) => codes(r.errors))).toEqual([['NOT_FOUND']]);
    expect(ws.results[0].data ?? null).toBeNull();
    expect(ws.end).toBe('complete');

    const sse = await overSse(query, variables, b.key);
    expect(sse.payloads.map((p) => codes(p.errors))).toEqual([['NOT_FOUND']]);
    expect(sse.completed).toBe(true);
  });

  test.each([
    ['a tenant that does not exist', () => ({ tenantId: 'ten_00000000000000000000000000' })],
    ['a webhook outside the tenant it names', () => ({ tenantId: b.id, webhookId: aWebhook })],
    ['an event outside the tenant it names', () => ({ tenantId: b.id, eventId: aEvent })],
    ['a webhook that does not exist', () => ({ webhookId: 'wh_00000000000000000000000000' })],
  ])('the admin key naming %s is NOT_FOUND', async (_case, variables) => {
    const ws = await overWs(DELIVERY_UPDATED, variables(), h.adminKey);
    expect(ws.results.map((r) => codes(r.errors))).toEqual([['NOT_FOUND']]);
  });

  test('a tenant naming its own tenant, webhook and event gets its stream', async () => {
    const webhook = await newWebhook(b.key);
    const sub = subscribe(await connect(b.key), WEBHOOK_STATUS, { tenantId: b.id, webhookId: webhook });
    await clients.running(1);
    await h.ok(SET_STATUS, { id: webhook, status: 'PAUSED' }, b.key);
    expect(await sub.next()).toEqual({ data: { webhookStatusChanged: { id: webhook } } });
  });
});
