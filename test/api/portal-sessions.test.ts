// Customer portal sessions through the public API: made by the platform, opened once with the
// link's code, scoped to one tenant, read-only on request, refused what only keys may do, and
// ended by revocation or expiry.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { collect, connectLive, DELIVERY_UPDATED, type DeliveryUpdate, subscriptionsRunning, wsUrlOf } from '../helpers/live.ts';
import { CREATE_PORTAL_SESSION, exchange, portalLink } from '../helpers/portal.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let a: { id: string; key: string };
let b: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  a = await createTenant(h, 'portal-a');
  b = await createTenant(h, 'portal-b');
});
afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const codeOf = (url: string) => decodeURIComponent(new URL(url).hash.replace(/^#code=/, ''));
const REVOKE = 'mutation($id: ID!) { revokePortalSession(id: $id) { id tenantId readOnly revokedAt openedAt } }';
const TENANT = '{ tenant { id name } }';

const refused: Client[] = [];
afterAll(() => Promise.all(refused.map((c) => c.dispose())));

/** Connects with `token` in connection_init; resolves to the close event of the refused connection. */
function refusedConnection(token: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    const client = createClient({
      url: wsUrlOf(h.url),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => {}, // the close event is what the test checks
      on: { closed: (event) => resolve(event as { code: number; reason: string }) },
    });
    refused.push(client);
  });
}

/** Opens a session for tenant `t` (optionally read-only); returns its id, bearer token and expiry. */
async function session(t: { id: string }, input: { readOnly?: boolean; expiresInSeconds?: number } = {}) {
  const link = await portalLink(h, { tenantId: t.id, ...input });
  const opened = await exchange(link.url);
  expect(opened.status).toBe(200);
  return { id: link.id, token: opened.body.token as string, expiresAt: Date.parse(opened.body.expiresAt) };
}

describe('createPortalSession', () => {
  test('the admin key opens a link for a tenant: { id, url, expiresAt } with a one-time code in the fragment, stored hashed', async () => {
    const before = Date.now();
    const link = await portalLink(h, { tenantId: a.id });
    expect(link).toEqual({
      id: expect.stringMatching(/^ps_[0-9a-z]{26}$/),
      url: expect.any(String),
      expiresAt: expect.any(String),
      readOnly: false,
    });
    const url = new URL(link.url);
    expect(`${url.origin}${url.pathname}`).toBe(h.url.replace(/\/graphql$/, '/portal'));
    expect(url.search).toBe('');
    expect(url.hash).toMatch(/^#code=hrldc_[A-Za-z0-9_-]{43}$/);
    // One hour by default.
    const expiresIn = new Date(link.expiresAt).getTime() - before;
    expect(expiresIn).toBeGreaterThan(3595_000);
    expect(expiresIn).toBeLessThan(3605_000);

    const [row] = await withPgClient(
      h.databaseUrl,
      async (c) => (await c.query('select * from portal_session where id = $1', [link.id])).rows,
    );
    expect(row).toMatchObject({
      tenant_id: a.id,
      read_only: false,
      code_hash: sha256(codeOf(link.url)),
      token_hash: null,
      opened_at: null,
    });
    expect(JSON.stringify(row)).not.toContain(codeOf(link.url));
  });

  test('a tenant key opens a link for its own tenant; naming another tenant is NOT_FOUND', async () => {
    const link = await portalLink(h, { expiresInSeconds: 600, readOnly: true }, a.key);
    expect(link.readOnly).toBe(true);
    const opened = await exchange(link.url);
    expect(opened.body.tenant).toEqual({ id: a.id, name: 'portal-a' });
    expectError(await h.gql(CREATE_PORTAL_SESSION, { input: { tenantId: b.id } }, a.key), 'NOT_FOUND');
  });

  test.each([0, -5, 86_401, 1.5])('expiresInSeconds %s is a VALIDATION_ERROR (1 s to 24 h)', async (expiresInSeconds) => {
    const result = await h.gql(CREATE_PORTAL_SESSION, { input: { tenantId: a.id, expiresInSeconds } });
    // 1.5 is not an Int: GraphQL itself refuses the variable.
    if (Number.isInteger(expiresInSeconds)) expectError(result, 'VALIDATION_ERROR', 'expiresInSeconds');
    else expect(result.errors?.length).toBe(1);
  });

  test('24 h is the longest; the admin key must name a tenant', async () => {
    const before = Date.now();
    const link = await portalLink(h, { tenantId: a.id, expiresInSeconds: 86_400 });
    expect(new Date(link.expiresAt).getTime() - before).toBeGreaterThan(86_395_000);
    expectError(await h.gql(CREATE_PORTAL_SESSION, { input: {} }), 'VALIDATION_ERROR', 'tenantId');
  });
});

describe('opening a link', () => {
  test('the code is spent once for a session token (stored hashed) that acts as its tenant', async () => {
    const link = await portalLink(h, { tenantId: a.id });
    const opened = await exchange(link.url);
    expect(opened).toEqual({
      status: 200,
      retryAfter: null,
      body: {
        token: expect.stringMatching(/^hrldp_[A-Za-z0-9_-]{43}$/),
        sessionId: link.id,
        expiresAt: link.expiresAt,
        readOnly: false,
        tenant: { id: a.id, name: 'portal-a' },
      },
    });
    expect((await h.ok(TENANT, {}, opened.body.token)).tenant).toEqual({ id: a.id, name: 'portal-a' });
    const [row] = await withPgClient(
      h.databaseUrl,
      async (c) => (await c.query('select * from portal_session where id = $1', [link.id])).rows,
    );
    expect(row.token_hash).toBe(sha256(opened.body.token));
    expect(row.opened_at).toBeInstanceOf(Date);

    // A second use of the link is refused, and does not disturb the session it opened.
    const again = await exchange(link.url);
    expect(again).toEqual({
      status: 401,
      retryAfter: null,
      body: {
        errors: [{ message: expect.stringMatching(/expired, was revoked or was already used/), extensions: { code: 'UNAUTHORIZED' } }],
      },
    });
    expect((await h.ok(TENANT, {}, opened.body.token)).tenant.id).toBe(a.id);
  });

  test('two pages racing to open one link: exactly one gets a session', async () => {
    const link = await portalLink(h, { tenantId: a.id });
    const results = await Promise.all(Array.from({ length: 5 }, () => exchange(link.url)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
  });

  test('an unused link expires with its session; an opened session stops working when it expires', async () => {
    const unused = await portalLink(h, { tenantId: a.id, expiresInSeconds: 1 });
    // Long enough to be opened and used first on a loaded machine; then past both expiries.
    const opened = await session(a, { expiresInSeconds: 4 });
    expect((await h.ok(TENANT, {}, opened.token)).tenant.id).toBe(a.id);
    await sleep(Math.max(Date.parse(unused.expiresAt), opened.expiresAt) + 200 - Date.now());
    expect((await exchange(unused.url)).status).toBe(401);
    const refused = expectError(await h.gql(TENANT, {}, opened.token), 'UNAUTHORIZED');
    expect(refused.message).toBe('Unknown, revoked or expired portal session');
  });

  test('revokePortalSession ends an opened session and spoils an unused link; another tenant cannot revoke it', async () => {
    const opened = await session(a);
    expectError(await h.gql(REVOKE, { id: opened.id }, b.key), 'NOT_FOUND');
    const revoked = (await h.ok(REVOKE, { id: opened.id }, a.key)).revokePortalSession;
    expect(revoked).toMatchObject({ id: opened.id, tenantId: a.id, revokedAt: expect.any(String), openedAt: expect.any(String) });
    expectError(await h.gql(TENANT, {}, opened.token), 'UNAUTHORIZED');
    // Revoking again keeps the first time.
    expect((await h.ok(REVOKE, { id: opened.id })).revokePortalSession.revokedAt).toBe(revoked.revokedAt);

    const unused = await portalLink(h, { tenantId: a.id });
    await h.ok(REVOKE, { id: unused.id });
    expect((await exchange(unused.url)).status).toBe(401);
  });

  test('a session revoked behind Herald’s back (no notification) still has its connection closed within 5 s', async () => {
    const opened = await session(a);
    let acknowledged!: () => void;
    const connected = new Promise<void>((resolve) => (acknowledged = resolve));
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
      const client = createClient({
        url: wsUrlOf(h.url),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${opened.token}` },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: () => {},
        on: {
          connected: () => acknowledged(),
          closed: (event) => {
            const { code, reason } = event as { code: number; reason: string };
            resolve({ code, reason, at: Date.now() });
          },
        },
      });
      refused.push(client);
    });
    // Open (and so watched) before the revocation.
    await connected;
    const revokedAt = Date.now();
    await withPgClient(h.databaseUrl, (c) => c.query('update portal_session set revoked_at = now() where id = $1', [opened.id]));
    const event = await closed;
    expect(event).toMatchObject({ code: 4401, reason: expect.stringMatching(/revoked/) });
    expect(event.at - revokedAt).toBeLessThan(5000);
  });

  test('a WebSocket with a revoked or expired session token is refused with 4401', async () => {
    const revoked = await session(a);
    const expired = await session(a, { expiresInSeconds: 1 });
    await h.ok(REVOKE, { id: revoked.id });
    await sleep(1100);
    for (const token of [revoked.token, expired.token]) {
      expect(await refusedConnection(token)).toMatchObject({
        code: 4401,
        reason: 'Unauthorized: Unknown, revoked or expired portal session',
      });
    }
  });
});

describe('what a session may do', () => {
  let webhookId: string;
  beforeAll(async () => {
    webhookId = (await createWebhook(h, a.key, { url: `${receiver.url}/a` })).id;
  });

  test('never create or revoke API keys, open or revoke portal sessions, publish events, or list API keys: FORBIDDEN', async () => {
    const { token } = await session(a);
    const forbidden = [
      ['createApiKey', 'mutation { createApiKey(input: { name: "x" }) { secret } }'],
      ['revokeApiKey', 'mutation { revokeApiKey(id: "key_00000000000000000000000000") { id } }'],
      ['createPortalSession', 'mutation { createPortalSession(input: {}) { url } }'],
      ['revokePortalSession', 'mutation { revokePortalSession(id: "ps_00000000000000000000000000") { id } }'],
      ['publishEvent', 'mutation { publishEvent(input: { type: "message.sent", data: {} }) { event { id } } }'],
      ['publishEvents', 'mutation { publishEvents(inputs: [{ type: "message.sent", data: {} }]) { event { id } } }'],
      ['tenant.apiKeys', '{ tenant { apiKeys { id } } }'],
    ];
    for (const [what, query] of forbidden) {
      const error = expectError(await h.gql(query, {}, token), 'FORBIDDEN');
      expect(error.message, what).toMatch(/needs an API key: portal sessions cannot/);
    }
    // Nothing was published.
    const { events } = await h.ok('query($t: ID) { events(tenantId: $t) { edges { node { id } } } }', { t: a.id });
    expect(events.edges).toEqual([]);
  });

  test('a writable session manages endpoints and deliveries like the tenant key', async () => {
    const { token } = await session(a);
    const created = await createWebhook(h, token, { url: `${receiver.url}/by-session` });
    expect(created.secret).toMatch(/^whsec_/);
    const { sendTestEvent } = await h.ok('mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }', { id: created.id }, token);
    expect((await waitForDelivery(h, token, sendTestEvent.id)).status).toBe('SUCCEEDED');
    await h.ok('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: sendTestEvent.id }, token);
    await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { status } }', { id: created.id }, token);
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: created.id }, token);
  });

  test('a read-only session reads everything and every mutation is FORBIDDEN', async () => {
    const { eventId } = await publish(h, a.key);
    const { token } = await session(a, { readOnly: true });
    const read = await h.ok(
      `query($id: ID!) { tenant { id } eventTypes { name } webhook(id: $id) { id url stats { deliveries24h } }
        webhooks { edges { node { id } } } deliveries { edges { node { id eventId } } } events { edges { node { id } } } }`,
      { id: webhookId },
      token,
    );
    expect(read.webhook.id).toBe(webhookId);
    expect(read.deliveries.edges.map((e: any) => e.node.eventId)).toContain(eventId);
    const deliveryId = read.deliveries.edges[0].node.id;

    const mutations = [
      `mutation { createWebhook(input: { url: "${receiver.url}/ro", events: ["*"] }) { secret } }`,
      `mutation { updateWebhook(id: "${webhookId}", input: { status: PAUSED }) { id } }`,
      `mutation { deleteWebhook(id: "${webhookId}") { id } }`,
      `mutation { rotateWebhookSecret(id: "${webhookId}") { secret } }`,
      `mutation { sendTestEvent(webhookId: "${webhookId}") { id } }`,
      `mutation { retryDelivery(id: "${deliveryId}") { id } }`,
      `mutation { replayFailedDeliveries(webhookId: "${webhookId}", since: "2020-01-01T00:00:00Z") { count } }`,
      'mutation { createEventType(input: { name: "ro.thing" }) { name } }',
    ];
    for (const query of mutations) {
      expect(expectError(await h.gql(query, {}, token), 'FORBIDDEN').message, query).toBe('This portal session is read-only');
    }
    // Nothing changed.
    const after = await h.ok(
      'query($id: ID!) { webhook(id: $id) { status secretCount } webhooks { edges { node { id } } } }',
      { id: webhookId },
      a.key,
    );
    expect(after.webhook).toEqual({ status: 'ACTIVE', secretCount: 1 });
    expect(after.webhooks.edges).toHaveLength(1);
  });

  test('a session sees only its tenant: another tenant’s objects are NOT_FOUND or absent, and its live updates never arrive', async () => {
    const bWebhook = (await createWebhook(h, b.key, { url: `${receiver.url}/b` })).id;
    const bEvent = await publish(h, b.key);
    const { token } = await session(a);
    const read = await h.ok(
      `query($id: ID!, $e: ID!) { webhook(id: $id) { id } event(id: $e) { id } webhooks { edges { node { id } } }
        deliveries(first: 100) { edges { node { tenantId } } } }`,
      { id: bWebhook, e: bEvent.eventId },
      token,
    );
    expect(read.webhook).toBeNull();
    expect(read.event).toBeNull();
    expect(read.webhooks.edges.map((e: any) => e.node.id)).not.toContain(bWebhook);
    expect(new Set(read.deliveries.edges.map((e: any) => e.node.tenantId))).toEqual(new Set([a.id]));
    expectError(await h.gql(`mutation { updateWebhook(id: "${bWebhook}", input: { status: PAUSED }) { id } }`, {}, token), 'NOT_FOUND');
    expectError(await h.gql('query($t: ID) { webhooks(tenantId: $t) { edges { node { id } } } }', { t: b.id }, token), 'NOT_FOUND');

    const client = await connectLive(h.url, token);
    try {
      const updates = collect<DeliveryUpdate>(client, DELIVERY_UPDATED);
      const asAdmin = collect<DeliveryUpdate>(client, DELIVERY_UPDATED, { tenantId: b.id });
      // asAdmin is refused (NOT_FOUND): one runs.
      await subscriptionsRunning(h.url, 1);
      const fromB = await publish(h, b.key);
      const fromA = await publish(h, a.key);
      await updates.waitFor((u) => u.delivery.eventId === fromA.eventId && u.phase === 'SUCCEEDED', 15_000);
      expect(updates.items.every((u) => u.delivery.tenantId === a.id)).toBe(true);
      expect(updates.items.some((u) => u.delivery.eventId === fromB.eventId)).toBe(false);
      // Naming another tenant, as an admin may, gives nothing either.
      expect(asAdmin.items.filter((u) => u.delivery.tenantId === b.id)).toEqual([]);
    } finally {
      await client.dispose();
    }
  });
});
