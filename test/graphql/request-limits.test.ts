// What an HTTP request or WebSocket message may be: a body over HERALD_MAX_REQUEST_BYTES is
// refused (PAYLOAD_TOO_LARGE) as it is read, whether its length is announced or chunked; a
// WebSocket message over it closes the socket (1009); a request a browser could send cross-site
// without a preflight (a form post, a GET) cannot run an operation (CSRF_REFUSED); and
// HERALD_GRAPHIQL=false turns off GraphiQL and introspection.
import { request as httpRequest } from 'node:http';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { withPgClient } from '../helpers/db.ts';
import { countWebhookRows, createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { connectLive, wsUrlOf } from '../helpers/live.ts';

const MiB = 1024 * 1024;
const CREATE = 'mutation { createWebhook(input: { url: "https://example.com/csrf", events: ["*"] }) { webhook { id } } }';

let h: TestHerald;
let tenant: { id: string; key: string };
beforeAll(async () => {
  h = await startTestHerald();
  tenant = await createTenant(h, 'requests');
});
afterAll(() => h?.stop());

async function send(init: { method?: string; headers?: Record<string, string>; body?: string | FormData; query?: string }) {
  const url = init.query === undefined ? h.url : `${h.url}?query=${encodeURIComponent(init.query)}`;
  const res = await fetch(url, {
    method: init.method ?? 'POST',
    headers: { authorization: `Bearer ${tenant.key}`, accept: 'application/graphql-response+json', ...init.headers },
    body: init.body,
  });
  const text = await res.text();
  const body = JSON.parse(text || '{}');
  return { status: res.status, headers: res.headers, data: body.data, errors: body.errors };
}

async function countEvents(tenantId: string): Promise<number> {
  return withPgClient(
    h.databaseUrl,
    async (c) => (await c.query('select count(*)::int as n from event where tenant_id = $1', [tenantId])).rows[0].n,
  );
}

describe('the request body', () => {
  const PUBLISH = 'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { deliveryCount } }';
  /** `count` events of just under the 256 KiB event limit each. */
  const events = (count: number) =>
    Array.from({ length: count }, (_, i) => ({ type: 'message.sent', data: { i, blob: 'x'.repeat(250 * 1024) } }));

  test('publishEvents of 70 events at the per-event limit (17.5 MB) → 413 PAYLOAD_TOO_LARGE, nothing stored; 40 of them (10 MB) are accepted', async () => {
    const body = JSON.stringify({ query: PUBLISH, variables: { inputs: events(70) } });
    expect(body.length).toBeGreaterThan(16 * MiB);
    const refused = await send({ headers: { 'content-type': 'application/json' }, body });
    const error = expectError(refused, 'PAYLOAD_TOO_LARGE');
    expect(error).toMatchObject({
      message: `The request body is over ${16 * MiB} bytes (HERALD_MAX_REQUEST_BYTES)`,
      extensions: { max: 16 * MiB },
    });
    expect(await countEvents(tenant.id)).toBe(0);

    const accepted = await send({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: PUBLISH, variables: { inputs: events(40) } }),
    });
    expect(accepted.errors).toBeUndefined();
    expect(await countEvents(tenant.id)).toBe(40);
  }, 60_000);

  test('a chunked body (no Content-Length) is refused once it passes 16 MiB, while the client is still sending', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(h.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tenant.key}`, 'transfer-encoding': 'chunked' },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: text });
        });
      });
      // 17 MiB of an unfinished JSON string, and the request never ended: only a server that
      // counts as it reads can answer.
      req.write(`{"query": "${PUBLISH}", "variables": {"inputs": [{"type": "message.sent", "data": {"blob": "`);
      const chunk = 'x'.repeat(MiB);
      for (let i = 0; i < 17; i++) req.write(chunk);
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).errors).toMatchObject([{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }]);
  }, 60_000);

  test('a WebSocket message over 16 MiB closes the socket with 1009 (message too big); smaller ones are fine', async () => {
    const closed = new Promise<{ code: number }>((resolve) => {
      const client = createClient({
        url: wsUrlOf(h.url),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${tenant.key}` },
        retryAttempts: 0,
        on: { closed: (event) => resolve(event as { code: number }) },
      });
      client.subscribe(
        { query: 'subscription($pad: String) { deliveryUpdated { phase } }', variables: { pad: 'x'.repeat(17 * MiB) } },
        { next: () => {}, error: () => {}, complete: () => {} },
      );
    });
    expect((await closed).code).toBe(1009);

    const client = await connectLive(h.url, tenant.key);
    try {
      const answer = await new Promise<unknown>((resolve, reject) =>
        client.subscribe(
          // A comment is no token: 1 MiB of it passes every other limit.
          { query: `# ${'x'.repeat(MiB)}\n{ tenant { id } }` },
          { next: resolve, error: reject, complete: () => {} },
        ),
      );
      expect(answer).toEqual({ data: { tenant: { id: tenant.id } } });
    } finally {
      await client.dispose();
    }
  }, 60_000);
});

describe('cross-site request forgery', () => {
  test('a form POST (x-www-form-urlencoded) carrying a mutation is refused with CSRF_REFUSED and runs nothing, even with a valid key', async () => {
    const before = await countWebhookRows(h, tenant.id);
    const refused = await send({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: CREATE }).toString(),
    });
    const error = expectError(refused, 'CSRF_REFUSED');
    expect(error.message).toMatch(/content-type: application\/json\) or add the header x-graphql-yoga-csrf/);
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test.each([
    ['text/plain with a JSON body', { 'content-type': 'text/plain' }, JSON.stringify({ query: CREATE })],
    [
      'multipart/form-data',
      undefined,
      (() => {
        const form = new FormData();
        form.set('operations', JSON.stringify({ query: CREATE }));
        return form;
      })(),
    ],
  ] as const)('a %s POST is refused the same way', async (_name, headers, body) => {
    const before = await countWebhookRows(h, tenant.id);
    expectError(await send({ headers: headers ? { ...headers } : {}, body }), 'CSRF_REFUSED');
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test('a GET query needs x-graphql-yoga-csrf; a mutation over GET is refused even with it (405)', async () => {
    expectError(await send({ method: 'GET', query: '{ tenant { id } }' }), 'CSRF_REFUSED');
    const withHeader = await send({ method: 'GET', query: '{ tenant { id } }', headers: { 'x-graphql-yoga-csrf': '1' } });
    expect(withHeader).toMatchObject({ status: 200, data: { tenant: { id: tenant.id } } });

    const before = await countWebhookRows(h, tenant.id);
    const mutation = await send({ method: 'GET', query: CREATE, headers: { 'x-graphql-yoga-csrf': '1' } });
    expect(mutation.status).toBe(405);
    expect(mutation.headers.get('allow')).toBe('POST');
    expect(mutation.errors?.[0].message).toBe('Can only perform a mutation operation from a POST request.');
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test('a JSON POST needs no extra header', async () => {
    const result = await send({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ tenant { id } }' }) });
    expect(result).toMatchObject({ status: 200, data: { tenant: { id: tenant.id } } });
  });
});

describe('HERALD_GRAPHIQL=false', () => {
  let off: TestHerald;
  let key: string;
  beforeAll(async () => {
    off = await startTestHerald({ HERALD_GRAPHIQL: 'false' });
    key = (await createTenant(off, 'prod')).key;
  });
  afterAll(() => off?.stop());

  test('GET /graphql from a browser gets no GraphiQL page', async () => {
    const res = await fetch(off.url, { headers: { accept: 'text/html' } });
    expect(res.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(await res.text()).not.toMatch(/graphiql/i);
    // With GraphiQL on (the default) the same request gets the page.
    const on = await fetch(h.url, { headers: { accept: 'text/html' } });
    expect(on.headers.get('content-type')).toMatch(/^text\/html/);
  });

  test('introspection is refused over HTTP and WebSocket; __typename and ordinary queries work', async () => {
    const refused = await off.gql('{ __schema { types { name } } }', {}, key);
    expect(refused.status).toBe(400);
    expect(refused.errors?.[0].message).toMatch(/introspection has been disabled/);
    expect((await off.gql('{ __type(name: "Webhook") { name } }', {}, key)).errors?.[0].message).toMatch(/introspection has been disabled/);
    expect(await off.ok('{ __typename tenant { name } }', {}, key)).toEqual({ __typename: 'Query', tenant: { name: 'prod' } });

    const client = await connectLive(off.url, key);
    try {
      const error = await new Promise<unknown>((resolve) =>
        client.subscribe({ query: '{ __schema { queryType { name } } }' }, { next: () => {}, error: resolve, complete: () => {} }),
      );
      expect(JSON.stringify(error)).toMatch(/introspection has been disabled/);
    } finally {
      await client.dispose();
    }
    // On by default: h answers the same query.
    expect((await h.ok('{ __schema { queryType { name } } }', {}, tenant.key)).__schema.queryType.name).toBe('Query');
  });
});
