// Revoking an API key ends, within 5 s and on every API process, everything it opened: a
// graphql-ws connection authenticated in connection_init (an `error` with UNAUTHORIZED for each
// of its subscriptions, then close 4401), a subscription authenticated by the key in its own
// subscribe message (an `error`; the connection stays), and a subscription over HTTP (SSE).
// Two `--role api` processes against one database; the key is revoked through the first. The
// same holds for customer portal sessions, which also end when they expire.
import { randomBytes } from 'node:crypto';
import { type Client, createClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, withPgClient } from '../helpers/db.ts';
import { createWebhook, publish } from '../helpers/deliveries.ts';
import { createTenant, type GqlClient, gqlClient } from '../helpers/herald.ts';
import { subscribeOverSse, subscriptionsRunning, wsUrlOf } from '../helpers/live.ts';
import { CREATE_PORTAL_SESSION, exchange } from '../helpers/portal.ts';
import { type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';

const SUBSCRIPTION = 'subscription { deliveryUpdated { phase delivery { eventId } } }';
const CREATE_KEY = 'mutation($name: String!) { createApiKey(input: { name: $name }) { apiKey { id } secret } }';
const REVOKE = 'mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }';

const apis: HeraldProcess[] = [];
let adminKey: string;
let databaseUrl: string;
let tenantKey: string;
let api: GqlClient;
const clients: Client[] = [];
const aborts: AbortController[] = [];

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;
  const env = {
    DATABASE_URL: databaseUrl,
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HERALD_ADMIN_KEY: adminKey,
  };
  // The first applies the migrations; then the second.
  apis.push(await startHeraldProcess({ env, role: 'api', readyTimeoutMs: 60_000 }));
  apis.push(await startHeraldProcess({ env, role: 'api', readyTimeoutMs: 60_000 }));
  api = gqlClient(apis[0].url!, adminKey);
  tenantKey = (await createTenant(api, 'revocation')).key;
  // A webhook, so every publish is a QUEUED update on every subscription that still streams.
  await createWebhook(api, tenantKey, { url: 'https://example.com/hook' });
}, 150_000);

afterEach(async () => {
  for (const abort of aborts.splice(0)) abort.abort();
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
  // Each test counts the subscriptions it starts from 0 (subscriptionsRunning).
  await Promise.all(apis.map((p) => subscriptionsRunning(p.url!, 0)));
});

/** Resolves once each API process runs `count` live subscriptions: what was just subscribed sees what happens next. */
const runningOnEach = (count: number) => Promise.all(apis.map((p) => subscriptionsRunning(p.url!, count)));

afterAll(async () => {
  for (const p of apis) p.kill('SIGTERM');
  await Promise.all(apis.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 20_000))]).then(() => p.dispose())));
}, 60_000);

async function newKey(name: string): Promise<{ id: string; secret: string }> {
  const { createApiKey } = await api.ok(CREATE_KEY, { name }, tenantKey);
  return { id: createApiKey.apiKey.id, secret: createApiKey.secret };
}

const publishOne = async () => (await publish(api, tenantKey, { type: 'message.sent', data: {} })).eventId;

interface Watched {
  /** Event ids of the updates received. */
  events: string[];
  /** The error that ended the subscription: graphql-ws errors, or the SSE stream's last result's errors. */
  error: unknown;
  /** When it ended (Date.now()), or null while it runs. */
  endedAt: number | null;
}

/** A graphql-ws connection; `connectionKey` goes in connection_init. Records its close event. */
async function connect(url: string, connectionKey?: string) {
  const state: { closed: { code: number; reason: string; at: number } | null } = { closed: null };
  let acked!: () => void;
  const ready = new Promise<void>((resolve) => (acked = resolve));
  const client = createClient({
    url: wsUrlOf(url),
    webSocketImpl: WebSocket,
    ...(connectionKey ? { connectionParams: { authorization: `Bearer ${connectionKey}` } } : {}),
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    on: {
      connected: () => acked(),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        state.closed = { code, reason, at: Date.now() };
      },
    },
  });
  clients.push(client);
  await ready;
  return { client, state };
}

/** Subscribes over graphql-ws; `key` (if any) goes in the subscribe message, as GraphiQL sends it. */
function watchWs(client: Client, key?: string): Watched {
  const watched: Watched = { events: [], error: null, endedAt: null };
  client.subscribe(
    { query: SUBSCRIPTION, ...(key ? { extensions: { headers: { authorization: `Bearer ${key}` } } } : {}) },
    {
      next: (result) => {
        const update = result.data?.deliveryUpdated as { delivery: { eventId: string } } | undefined;
        if (update) watched.events.push(update.delivery.eventId);
      },
      error: (error) => {
        watched.error = error;
        watched.endedAt = Date.now();
      },
      complete: () => {
        watched.endedAt ??= Date.now();
      },
    },
  );
  return watched;
}

/** Subscribes over HTTP (GraphQL over SSE) with `key` in the authorization header. */
function watchSse(url: string, key: string): Watched {
  const watched: Watched = { events: [], error: null, endedAt: null };
  const abort = new AbortController();
  aborts.push(abort);
  void subscribeOverSse(
    url,
    key,
    { query: SUBSCRIPTION },
    (result) => {
      if (result.errors) watched.error = result.errors;
      else watched.events.push(result.data.deliveryUpdated.delivery.eventId);
    },
    abort.signal,
  )
    .then((completed) => {
      if (completed) watched.endedAt = Date.now();
    })
    .catch(() => {});
  return watched;
}

const codes = (error: unknown) => (error as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code);

test('revoking a key ends, within 5 s on both API processes, every subscription and connection it opened; other keys stream on', async () => {
  const doomed = await newKey('doomed');
  const other = await newKey('other');

  const perProcess = await Promise.all(
    apis.map(async (api) => {
      const initConnection = await connect(api.url!, doomed.secret);
      const idleConnection = await connect(api.url!, doomed.secret);
      const keylessConnection = await connect(api.url!);
      const otherConnection = await connect(api.url!, other.secret);
      return {
        initConnection,
        idleConnection,
        keylessConnection,
        byConnectionInit: [watchWs(initConnection.client), watchWs(initConnection.client)],
        bySubscribeMessage: watchWs(keylessConnection.client, doomed.secret),
        otherOnSameConnection: watchWs(keylessConnection.client, other.secret),
        overSse: watchSse(api.url!, doomed.secret),
        otherKey: watchWs(otherConnection.client),
      };
    }),
  );
  await runningOnEach(6);

  // Every subscription streams before the revocation.
  const before = await publishOne();
  for (const p of perProcess) {
    const all = [...p.byConnectionInit, p.bySubscribeMessage, p.otherOnSameConnection, p.overSse, p.otherKey];
    await expect.poll(() => all.every((w) => w.events.includes(before)), { timeout: 10_000 }).toBe(true);
  }

  const revokedAt = Date.now();
  await api.ok(REVOKE, { id: doomed.id }, tenantKey);

  for (const [i, p] of perProcess.entries()) {
    const doomedOnes = [...p.byConnectionInit, p.bySubscribeMessage, p.overSse];
    await expect
      .poll(
        () =>
          doomedOnes.every((w) => w.endedAt !== null) && p.idleConnection.state.closed !== null && p.initConnection.state.closed !== null,
        { timeout: 5000 },
      )
      .toBe(true);
    for (const w of doomedOnes) {
      expect(codes(w.error), `process ${i}`).toEqual(['UNAUTHORIZED']);
      expect(w.endedAt! - revokedAt, `process ${i}`).toBeLessThan(5000);
    }
    // connection_init: each subscription had its error, then the connection closed with 4401.
    expect(p.initConnection.state.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/^Unauthorized: .*revoked/) });
    expect(p.idleConnection.state.closed).toMatchObject({ code: 4401 });
    // Authenticated per subscription: only that subscription ended.
    expect(p.keylessConnection.state.closed).toBeNull();
  }

  const after = await publishOne();
  for (const p of perProcess) {
    await expect.poll(() => p.otherKey.events.includes(after) && p.otherOnSameConnection.events.includes(after)).toBe(true);
    for (const w of [...p.byConnectionInit, p.bySubscribeMessage, p.overSse]) expect(w.events).toEqual([before]);
  }

  // Each process learnt it from the notification, not from its periodic check.
  for (const api of apis) {
    const line = JSON.parse(await api.waitForLog(new RegExp(`"credentialId":"${doomed.id}"`)));
    expect(line).toMatchObject({ msg: 'credential ended: closing what it opened', why: 'revoked', via: 'notification' });
  }

  // The revoked key cannot open anything again.
  const again = await connect(apis[1].url!).then(({ client }) => watchWs(client, doomed.secret));
  await expect.poll(() => again.endedAt !== null).toBe(true);
}, 60_000);

test('a revocation whose notification never came (written behind Herald’s back) still ends the subscriptions within 5 s', async () => {
  const key = await newKey('quiet');
  const connections = await Promise.all(apis.map((api) => connect(api.url!, key.secret)));
  const watched = connections.map(({ client }) => watchWs(client));
  await runningOnEach(1);

  // No NOTIFY: only the periodic check can see this.
  const revokedAt = Date.now();
  await withPgClient(databaseUrl, (db) => db.query('update api_key set revoked_at = now() where id = $1', [key.id]));

  await expect.poll(() => watched.every((w) => w.endedAt !== null), { timeout: 5000 }).toBe(true);
  for (const [i, w] of watched.entries()) {
    expect(codes(w.error), `process ${i}`).toEqual(['UNAUTHORIZED']);
    expect(w.endedAt! - revokedAt).toBeLessThan(5000);
    // The subscription's error comes first, the close frame after it (CI once read it in between).
    await expect.poll(() => connections[i].state.closed).toMatchObject({ code: 4401 });
    expect(JSON.parse(await apis[i].waitForLog(new RegExp(`"credentialId":"${key.id}"`)))).toMatchObject({ via: 'check' });
  }
}, 30_000);

/** A customer portal session of the tenant, opened as the page opens it; its bearer token and id. */
async function portalSession(expiresInSeconds?: number): Promise<{ id: string; token: string; expiresAt: number }> {
  const { createPortalSession } = await api.ok(CREATE_PORTAL_SESSION, { input: { expiresInSeconds } }, tenantKey);
  const opened = await exchange(createPortalSession.url);
  expect(opened.status).toBe(200);
  return { id: createPortalSession.id, token: opened.body.token, expiresAt: new Date(opened.body.expiresAt).getTime() };
}

test('revoking a portal session ends, within 5 s on both API processes, what it opened; the tenant key streams on', async () => {
  const session = await portalSession();
  const perProcess = await Promise.all(
    apis.map(async (api) => {
      const connection = await connect(api.url!, session.token);
      const tenantConnection = await connect(api.url!, tenantKey);
      return {
        connection,
        watched: [watchWs(connection.client), watchSse(api.url!, session.token)],
        tenant: watchWs(tenantConnection.client),
      };
    }),
  );
  await runningOnEach(3);
  const before = await publishOne();
  for (const p of perProcess) await expect.poll(() => [...p.watched, p.tenant].every((w) => w.events.includes(before))).toBe(true);

  const revokedAt = Date.now();
  await api.ok('mutation($id: ID!) { revokePortalSession(id: $id) { id } }', { id: session.id }, tenantKey);
  for (const [i, p] of perProcess.entries()) {
    await expect.poll(() => p.watched.every((w) => w.endedAt !== null) && p.connection.state.closed !== null, { timeout: 5000 }).toBe(true);
    for (const w of p.watched) {
      expect(codes(w.error), `process ${i}`).toEqual(['UNAUTHORIZED']);
      expect(w.endedAt! - revokedAt).toBeLessThan(5000);
    }
    expect(p.connection.state.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/revoked/) });
    expect(JSON.parse(await apis[i].waitForLog(new RegExp(`"credentialId":"${session.id}"`)))).toMatchObject({ via: 'notification' });
  }
  const after = await publishOne();
  for (const p of perProcess) await expect.poll(() => p.tenant.events.includes(after)).toBe(true);
}, 60_000);

test('a portal session’s subscriptions end when it expires, on both API processes', async () => {
  // Time enough to open everything on a loaded machine before it expires.
  const session = await portalSession(6);
  const perProcess = await Promise.all(
    apis.map(async (api) => {
      const connection = await connect(api.url!, session.token);
      return { connection, watched: [watchWs(connection.client), watchSse(api.url!, session.token)] };
    }),
  );
  await runningOnEach(2);
  const runningAt = Date.now();
  expect(runningAt).toBeLessThan(session.expiresAt);
  for (const p of perProcess) expect(p.watched.every((w) => w.endedAt === null)).toBe(true);
  for (const [i, p] of perProcess.entries()) {
    // The errors come first, then the close frame: wait for both.
    await expect
      .poll(() => p.watched.every((w) => w.endedAt !== null) && p.connection.state.closed !== null, { timeout: 15_000 })
      .toBe(true);
    for (const w of p.watched) {
      expect(codes(w.error), `process ${i}`).toEqual(['UNAUTHORIZED']);
      expect(w.endedAt! - session.expiresAt).toBeGreaterThan(-500);
      expect(w.endedAt! - session.expiresAt).toBeLessThan(5000);
    }
    expect(p.connection.state.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/expired/) });
    expect(p.connection.state.closed!.at - session.expiresAt).toBeGreaterThan(-500);
    expect(p.connection.state.closed!.at - session.expiresAt).toBeLessThan(5000);
  }
}, 30_000);
