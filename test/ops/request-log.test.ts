import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { waitUntil } from '../helpers/deliveries.ts';
import { type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;
let herald: HeraldProcess;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  herald = await startHeraldProcess({
    role: 'all',
    env: {
      DATABASE_URL: await createTestDatabase(),
      HERALD_ADMIN_KEY: adminKey,
      HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      HERALD_ALLOW_HTTP: 'true',
      HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    },
  });
});
afterAll(async () => {
  await herald?.dispose();
  await receiver?.close();
});

/** POSTs a GraphQL request; returns the answer and the x-request-id it came back with. */
async function post(body: string, key: string | null, headers: Record<string, string> = {}) {
  const res = await fetch(herald.url!, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body,
  });
  const json = (await res.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
  return { status: res.status, json, requestId: res.headers.get('x-request-id') };
}
const gql = (query: string, variables: Record<string, unknown>, key: string | null, headers: Record<string, string> = {}) =>
  post(JSON.stringify({ query, variables }), key, headers);

const requestLines = () => herald.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'graphql request');

test('every GraphQL request logs one line: request id (also x-request-id), operation, caller, duration, code — no secrets, no payloads', {
  timeout: 60_000,
}, async () => {
  const before = requestLines().length;
  const marker = `payload-${randomBytes(8).toString('hex')}`;

  // A proxy's request id is kept; the admin key is the caller.
  const created = await gql('mutation NewTenant { createTenant(input: { name: "logged" }) { tenant { id } apiKey } }', {}, adminKey, {
    'x-request-id': 'lb-7f3a.01:42',
  });
  expect(created.requestId).toBe('lb-7f3a.01:42');
  const tenantId: string = created.json.data.createTenant.tenant.id;
  const tenantKey: string = created.json.data.createTenant.apiKey;

  const hook = await gql(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } secret } }',
    { input: { url: `${receiver.url}/h`, events: ['*'], auth: { type: 'BEARER', token: `token-${marker}` } } },
    tenantKey,
  );
  const secret: string = hook.json.data.createWebhook.secret;
  const published = await gql(
    'mutation Publish($input: PublishEventInput!) { publishEvent(input: $input) { event { id } } }',
    { input: { type: 'message.inbound', data: { text: marker, phone: '+15550100' } } },
    tenantKey,
    { 'x-request-id': `id with spaces and {braces} ${'x'.repeat(200)}` },
  );
  // A header that is not an id is replaced by a fresh one.
  expect(published.requestId).toMatch(/^[0-9a-f-]{36}$/);
  const list = await gql('query ListHooks { webhooks { edges { node { id } } } }', {}, tenantKey);
  const unauthorized = await gql('{ webhooks { edges { node { id } } } }', {}, 'hrld_nope');
  const invalid = await gql(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }',
    { input: { url: 'not a url', events: ['*'] } },
    tenantKey,
  );
  const malformed = await post('{"query": "{ webhooks { ', tenantKey);
  // Refused before they run, by the request limits: still one line each, with the refusal's code.
  const csrf = await post(JSON.stringify({ query: '{ webhooks { edges { node { id } } } }' }), tenantKey, { 'content-type': 'text/plain' });
  let selection = 'id';
  for (let level = 10; level >= 1; level--)
    selection = level % 2 ? `deliveries { edges { node { ${selection} } } }` : `webhook { ${selection} }`;
  const deep = await gql(`{ webhooks { edges { node { ${selection} } } } }`, {}, tenantKey);
  expect([unauthorized.status, invalid.status, csrf.status, deep.status]).toEqual([401, 422, 403, 400]);

  await waitUntil(() => requestLines().length >= before + 9, { timeout: 5000, message: 'nine request lines' });
  const lines = requestLines().slice(before);
  expect(lines).toHaveLength(9);
  const ids = [created, hook, published, list, unauthorized, invalid, malformed, csrf, deep].map((r) => r.requestId);
  expect(lines.map((l) => l.requestId)).toEqual(ids);
  expect(new Set(ids).size).toBe(9);

  const [l1, l2, l3, l4, l5, l6, l7, l8, l9] = lines;
  expect(l8).toMatchObject({ status: 403, code: 'CSRF_REFUSED' });
  expect(l9).toMatchObject({ operationType: 'query', status: 400, code: 'QUERY_TOO_COMPLEX' });
  expect(l1).toMatchObject({
    operationName: 'NewTenant',
    operationType: 'mutation',
    caller: 'admin',
    tenantId: null,
    status: 200,
    code: 'OK',
  });
  expect(l2).toMatchObject({ operationName: null, operationType: 'mutation', caller: 'tenant', tenantId, status: 200, code: 'OK' });
  expect(l3).toMatchObject({ operationName: 'Publish', operationType: 'mutation', caller: 'tenant', tenantId, code: 'OK' });
  expect(l4).toMatchObject({ operationName: 'ListHooks', operationType: 'query', caller: 'tenant', tenantId, code: 'OK' });
  expect(l5).toMatchObject({ operationType: 'query', caller: null, tenantId: null, status: 401, code: 'UNAUTHORIZED' });
  expect(l6).toMatchObject({ operationType: 'mutation', caller: 'tenant', tenantId, status: 422, code: 'VALIDATION_ERROR' });
  // A body that is not JSON never reaches GraphQL: yoga's own code.
  expect(l7).toMatchObject({ operationType: 'unknown', status: 400, code: 'BAD_REQUEST' });
  for (const line of lines) {
    expect(typeof line.durationMs).toBe('number');
    expect(line.durationMs).toBeGreaterThanOrEqual(0);
    expect(Object.keys(line).sort()).toEqual(
      [
        'caller',
        'code',
        'component',
        'durationMs',
        'level',
        'msg',
        'operationName',
        'operationType',
        'requestId',
        'service',
        'status',
        'tenantId',
        'time',
        'transport',
      ].sort(),
    );
  }

  // The worker's lines about a delivery carry its id.
  await receiver.waitFor(1, 10_000);
  const attempt = await herald.waitForLog(/"msg":"delivery attempt"/);
  expect(JSON.parse(attempt).deliveryId).toMatch(/^dlv_/);

  const log = [...herald.lines, ...herald.stderr].join('\n');
  for (const secretValue of [adminKey, tenantKey, secret, secret.slice('whsec_'.length), `token-${marker}`, marker, '+15550100']) {
    expect(log).not.toContain(secretValue);
  }
});
