// Rate limits across two `--role api` processes sharing one PostgreSQL, tested with bursts (not
// rates): a tenant's bucket (rate 1/s, burst 10) holds whichever process each request reaches
// and whichever of the tenant's keys it carries; the admin key has its own; publishEvents and a
// WebSocket subscribe are one request each; failed authentications from one address are limited
// (the address from X-Forwarded-For, the test being a trusted proxy on loopback). Customer portal
// sessions spend their tenant's tokens, and a portal link's code that opens nothing is a failed
// authentication.
import { randomBytes } from 'node:crypto';
import { type Client, createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, withPgClient } from '../helpers/db.ts';
import { createWebhook, publish, sleep } from '../helpers/deliveries.ts';
import { createTenant, gqlClient } from '../helpers/herald.ts';
import { collect, connectLive, subscriptionsRunning, wsUrlOf } from '../helpers/live.ts';
import { exchange } from '../helpers/portal.ts';
import { type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';

const BURST = 10;
/** HERALD_RATE_LIMIT: tokens a second. */
const RATE = 1;
let apis: HeraldProcess[] = [];
let adminKey: string;
let databaseUrl: string;
const clients: Client[] = [];

beforeAll(async () => {
  adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;
  databaseUrl = await createTestDatabase();
  const env = {
    DATABASE_URL: databaseUrl,
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HERALD_ADMIN_KEY: adminKey,
    HERALD_RATE_LIMIT: String(RATE),
    HERALD_RATE_BURST: String(BURST),
    HERALD_ADMIN_RATE_LIMIT: '1',
    HERALD_ADMIN_RATE_BURST: '100',
    HERALD_AUTH_FAILURE_RATE_LIMIT: '0.1',
    HERALD_AUTH_FAILURE_BURST: '5',
    HERALD_TRUSTED_PROXIES: 'loopback',
  };
  // The first applies the migrations; then the second.
  apis = [await startHeraldProcess({ env, role: 'api', readyTimeoutMs: 60_000 })];
  apis.push(await startHeraldProcess({ env, role: 'api', readyTimeoutMs: 60_000 }));
}, 180_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  for (const p of apis) p.kill('SIGTERM');
  await Promise.all(apis.map((p) => Promise.race([p.exited, sleep(20_000)]).then(() => p.dispose())));
}, 60_000);

interface Answer {
  status: number;
  retryAfter: string | null;
  data?: any;
  errors?: { message: string; extensions: { code: string; retryAfter?: number } }[];
}

/** POSTs an operation to API process `n` (0 or 1). */
async function gql(n: number, key: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await fetch(apis[n].url!, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), ...((await res.json()) as object) } as Answer;
}

const newTenant = (name: string) => createTenant(gqlClient(apis[0].url!, adminKey), name);

/**
 * `count` requests at once, spread over both processes and over `keys` (request i: process
 * i % 2, key ⌊i / 2⌋ % keys.length); resolves to the answers, each with its key, and how long
 * the burst lasted (ms).
 */
async function burst(count: number, keys: string | string[], query = '{ tenant { id } }') {
  const all = [keys].flat();
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const key = all[Math.floor(i / 2) % all.length];
      return { ...(await gql(i % 2, key, query)), key };
    }),
  );
  return Object.assign(answers, { ms: performance.now() - started });
}

/**
 * The most requests that may get through from `tokens` left in a bucket when a burst lasts
 * `ms`: those, plus one per token refilled meanwhile (none on a quiet machine, where a burst
 * lasts well under a second; a loaded one stretches bursts, and the refill is not a fault).
 */
const atMost = (tokens: number, ms: number) => tokens + Math.floor((ms / 1000) * RATE);

function expectRateLimited(answer: Answer) {
  expect(answer.status).toBe(429);
  expect(answer.errors).toMatchObject([{ extensions: { code: 'RATE_LIMITED' } }]);
  const seconds = Number(answer.retryAfter);
  expect(Number.isInteger(seconds) && seconds >= 1, `retry-after: ${answer.retryAfter}`).toBe(true);
  expect(answer.errors![0].extensions.retryAfter).toBe(seconds);
}

describe('a tenant’s bucket, shared by both processes and by all its keys', () => {
  test('40 simultaneous requests over two processes with rate 1/s, burst 10: 10 ± 1 succeed, the rest get 429 with Retry-After', async () => {
    const tenant = await newTenant('burst');
    // A second key of the same tenant, minted (by the admin) before the burst.
    const { data } = await gql(0, adminKey, 'mutation($t: ID!) { createApiKey(input: { name: "second", tenantId: $t }) { secret } }', {
      t: tenant.id,
    });
    const secondKey: string = data.createApiKey.secret;

    // Both keys, both processes: a bucket per key or per process would let 20 or more through.
    const answers = await burst(40, [tenant.key, secondKey]);
    const ok = answers.filter((a) => a.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(BURST);
    expect(ok.length).toBeLessThanOrEqual(atMost(BURST, answers.ms));
    for (const a of ok) expect(a.data).toEqual({ tenant: { id: tenant.id } });
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused.length).toBe(40 - ok.length);
    for (const a of refused) expectRateLimited(a);
    expect(refused[0].errors![0].message).toMatch(/^Over the rate limit of 1 requests\/s \(burst 10\) for this tenant: retry in \d+ s$/);
    // Both processes refused, and both keys were refused.
    for (const n of [0, 1]) expect(answers.filter((a, i) => i % 2 === n && a.status === 429).length).toBeGreaterThan(0);
    for (const key of [tenant.key, secondKey]) expect(refused.filter((a) => a.key === key).length).toBeGreaterThan(0);

    // The admin key is not in the tenant's bucket.
    expect((await gql(1, adminKey, '{ tenant(id: $t) { id } }'.replace('$t', `"${tenant.id}"`))).status).toBe(200);

    // After Retry-After, the tenant gets through again.
    const wait = Number(refused.at(-1)!.retryAfter);
    await sleep(wait * 1000 + 200);
    expect((await gql(0, secondKey, '{ tenant { id } }')).status).toBe(200);
  }, 60_000);

  test('publishEvents of 50 events is one request', async () => {
    const tenant = await newTenant('batch');
    const inputs = Array.from({ length: 50 }, (_, i) => ({ type: 'message.sent', data: { i } }));
    const started = performance.now();
    const published = await gql(
      0,
      tenant.key,
      'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { deliveryCount } }',
      {
        inputs,
      },
    );
    expect(published.status).toBe(200);
    expect(published.data.publishEvents).toHaveLength(50);
    // 9 tokens left (a token per event would have left none), and what refilled since the publish.
    const ok = (await burst(20, tenant.key)).filter((a) => a.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(BURST - 1);
    expect(ok).toBeLessThanOrEqual(atMost(BURST - 1, performance.now() - started));
  }, 60_000);

  test('the admin key has its own, larger bucket', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => gql(i % 2, adminKey, '{ eventTypes(tenantId: null) { name } }')),
    );
    expect(answers.filter((a) => a.status === 200).length).toBe(40);
  });

  test('a customer portal session spends its tenant’s tokens: opening it is one request, and it is refused with the tenant', async () => {
    const tenant = await newTenant('portal');
    const started = performance.now();
    const { data } = await gql(0, tenant.key, 'mutation { createPortalSession(input: {}) { url } }');
    const opened = await exchange(data.createPortalSession.url);
    expect(opened.status).toBe(200);
    // Two tokens spent (the link, the opening): 8 requests left for the session and the key together.
    const answers = await burst(20, [opened.body.token, tenant.key]);
    const ok = answers.filter((a) => a.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(BURST - 2);
    expect(ok).toBeLessThanOrEqual(atMost(BURST - 2, performance.now() - started));
    const refused = answers.filter((a) => a.status !== 200);
    for (const a of refused) expectRateLimited(a);
    for (const key of [opened.body.token, tenant.key]) expect(refused.filter((a) => a.key === key).length).toBeGreaterThan(0);

    // Opening another link of that tenant while its bucket is empty is refused too, and leaves
    // the link unspent. The link costs a token: wait for one.
    await sleep(Number(refused.at(-1)!.retryAfter) * 1000 + 200);
    const { data: again } = await gql(0, tenant.key, 'mutation { createPortalSession(input: {}) { url } }');
    expect(again.createPortalSession.url).toEqual(expect.any(String));
    // Empty, its next token 3 s away, as the tenant's other requests could leave it (here set
    // in the database: emptied by a burst, the bucket may refill before the next request when
    // a loaded machine holds that request up).
    await withPgClient(databaseUrl, (c) =>
      c.query(`update rate_limit_bucket set full_at = now() + $2 * interval '1 second' where key = $1`, [
        `tenant:${tenant.id}`,
        (BURST - 1) / RATE + 3,
      ]),
    );
    const spent = await exchange(again.createPortalSession.url);
    expect(spent.status).toBe(429);
    expect(spent.body.errors).toMatchObject([{ extensions: { code: 'RATE_LIMITED', retryAfter: expect.any(Number) } }]);
    expect(Number(spent.retryAfter)).toBeGreaterThanOrEqual(2);
    await sleep(Number(spent.retryAfter) * 1000 + 200);
    expect((await exchange(again.createPortalSession.url)).status).toBe(200);
  }, 60_000);

  test('each WebSocket subscribe takes a token of the connection’s caller: past the burst, a subscribe gets RATE_LIMITED and the connection stays', async () => {
    const tenant = await newTenant('ws');
    // A webhook, so that an event is an update on every subscription that runs (made and
    // published with the admin key: not from the tenant's bucket).
    const admin = gqlClient(apis[0].url!, adminKey);
    await createWebhook(admin, adminKey, { url: 'https://example.com/hook', tenantId: tenant.id });
    const started = performance.now();
    const client = await connectLive(apis[1].url!, tenant.key); // connection_init: one token
    clients.push(client);
    const subs = Array.from({ length: 15 }, () => collect(client, 'subscription { deliveryUpdated { phase } }'));
    const refused = () => subs.filter((s) => s.errors.length > 0);
    // Every subscribe has been answered once the refused have their error and the others run.
    await expect.poll(() => refused().length, { timeout: 15_000 }).toBeGreaterThanOrEqual(15 - (BURST - 1));
    await subscriptionsRunning(apis[1].url!, 15 - refused().length);
    const ms = performance.now() - started;
    // The accepted ones run: each receives the next event.
    await publish(admin, adminKey, { type: 'message.sent', tenantId: tenant.id });
    const accepted = subs.filter((s) => s.errors.length === 0);
    for (const s of accepted) await s.waitUntil((items) => items.length > 0, 15_000, 'the QUEUED update');
    expect(accepted.length).toBeGreaterThanOrEqual(BURST - 1);
    expect(accepted.length).toBeLessThanOrEqual(atMost(BURST - 1, ms));
    for (const s of refused()) expect(s.errors[0]).toMatchObject([{ extensions: { code: 'RATE_LIMITED' } }]);
    // The connection is still open: the accepted subscriptions did not complete or fail.
    expect(accepted.filter((s) => !s.completed).length).toBe(accepted.length);
    expect(refused().length).toBe(15 - accepted.length);
  }, 30_000);
});

describe('failed authentications per address', () => {
  const from = (address: string) => ({ 'x-forwarded-for': address });

  test('5 failures (burst 5) from one address over both processes, then 429 for that address even with a valid key; other addresses unaffected', async () => {
    const tenant = await newTenant('auth');
    const bad = `hrld_${'0'.repeat(43)}`;
    const started = performance.now();
    for (let i = 0; i < 5; i++) {
      const answer = await gql(i % 2, bad, '{ tenant { id } }', {}, from('203.0.113.7'));
      expect(answer.status).toBe(401);
      expect(answer.errors).toMatchObject([{ extensions: { code: 'UNAUTHORIZED' } }]);
    }
    const sixth = await gql(1, bad, '{ tenant { id } }', {}, from('203.0.113.7'));
    expectRateLimited(sixth);
    expect(sixth.errors![0].message).toMatch(
      /^Too many failed authentications from 203\.0\.113\.7 \(HERALD_AUTH_FAILURE_RATE_LIMIT\): retry in \d+ s$/,
    );
    // A token every 10 s: the next is 10 s after the first failure (a loaded machine may have taken a second or more since).
    expect(Number(sixth.retryAfter)).toBeGreaterThanOrEqual(Math.floor(10 - (performance.now() - started) / 1000));
    // Refused before its key is even looked at…
    expectRateLimited(await gql(1, tenant.key, '{ tenant { id } }', {}, from('203.0.113.7')));
    // …and the other process, which sees the same bucket, refuses its next failure too.
    expectRateLimited(await gql(0, bad, '{ tenant { id } }', {}, from('203.0.113.7')));
    expectRateLimited(await gql(0, tenant.key, '{ tenant { id } }', {}, from('203.0.113.7')));

    // Another address, and a direct (unproxied) client, are not affected.
    expect((await gql(0, tenant.key, '{ tenant { id } }', {}, from('203.0.113.8'))).status).toBe(200);
    expect((await gql(1, bad, '{ tenant { id } }', {}, from('203.0.113.8'))).status).toBe(401);
    expect((await gql(1, tenant.key, '{ tenant { id } }')).status).toBe(200);

    // A WebSocket from the refused address is closed with 4429, its valid key notwithstanding.
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: wsUrlOf(apis[1].url!),
        webSocketImpl: class extends WebSocket {
          constructor(url: string, protocols?: string | string[]) {
            super(url, protocols, { headers: from('203.0.113.7') });
          }
        },
        connectionParams: { authorization: `Bearer ${tenant.key}` },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: () => {},
        on: { closed: (event) => resolve(event as { code: number; reason: string }) },
      });
      clients.push(client);
    });
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/^Rate limited: Too many failed authentications from 203\.0\.113\.7/);
  }, 30_000);

  test('a request with no authorization at all (GraphiQL before a key is typed) is 401 and spends nothing of the address’s allowance', async () => {
    const tenant = await newTenant('no-key');
    for (let i = 0; i < 12; i++) {
      const res = await fetch(apis[i % 2].url!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...from('203.0.113.20') },
        body: JSON.stringify({ query: '{ tenant { id } }' }),
      });
      const answer = (await res.json()) as Answer;
      expect(res.status).toBe(401);
      expect(answer.errors![0].message).toMatch(/^Missing authorization/);
    }
    expect((await gql(0, tenant.key, '{ tenant { id } }', {}, from('203.0.113.20'))).status).toBe(200);
    // A malformed one still counts: five of them use up the burst, and the sixth is refused.
    for (let i = 0; i < 5; i++) expect((await gql(1, '<your key>', '{ tenant { id } }', {}, from('203.0.113.20'))).status).toBe(401);
    expectRateLimited(await gql(0, '<your key>', '{ tenant { id } }', {}, from('203.0.113.20')));
  });

  test('a portal link’s code that opens nothing is a failed authentication; past the burst its address opens no link', async () => {
    const tenant = await newTenant('portal-codes');
    const { data } = await gql(0, tenant.key, 'mutation { createPortalSession(input: {}) { url } }');
    const link: string = data.createPortalSession.url;
    const bad = link.replace(/#code=.*/, `#code=hrldc_${'0'.repeat(43)}`);
    for (let i = 0; i < 5; i++) expect((await exchange(bad, from('203.0.113.9'))).status).toBe(401);
    const sixth = await exchange(bad, from('203.0.113.9'));
    expect(sixth.status).toBe(429);
    expect(sixth.retryAfter).toMatch(/^\d+$/);
    expect(sixth.body.errors[0].message).toMatch(/^Too many failed authentications from 203\.0\.113\.9/);
    // From then on that address opens nothing, not even a good link…
    expect((await exchange(link, from('203.0.113.9'))).status).toBe(429);
    // …which was not spent: it opens from another address.
    expect((await exchange(link, from('203.0.113.10'))).status).toBe(200);
  }, 30_000);
});
