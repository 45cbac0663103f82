import { afterAll, beforeAll, expect, test } from 'vitest';
import { expectError, type GqlResult, startWithTenant, type Tenant, type TestHerald } from '../helpers/herald.ts';

let h: TestHerald;
let tenant: Tenant;
beforeAll(async () => ({ h, tenant } = await startWithTenant()));
afterAll(() => h?.stop());

const QUERY = JSON.stringify({ query: '{ tenant { id } }' });

/** POSTs `{ tenant { id } }` with the given authorization header (or none). */
async function post(authorization?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const res = await fetch(h.url, { method: 'POST', headers, body: QUERY });
  const body = (await res.json()) as Omit<GqlResult<{ tenant: { id: string } }>, 'status'>;
  return { status: res.status, data: body.data, errors: body.errors };
}

test.each([
  ['missing', undefined],
  ['empty', ''],
  ['not Bearer', 'Token x'],
  ['Bearer without a key', 'Bearer'],
  ['Bearer with a blank key', 'Bearer    '],
  ['two words after Bearer', 'Bearer hrld_a hrld_b'],
  ['unknown hrld_ key', 'Bearer hrld_unknownunknownunknownunknownunknown123'],
  ['unknown other key', 'Bearer not-a-herald-key'],
])('%s authorization → 401 UNAUTHORIZED', async (_name, authorization) => {
  const result = await post(authorization);
  expectError(result, 'UNAUTHORIZED');
  expect(result.data ?? null).toBeNull();
});

test('a revoked key → 401 UNAUTHORIZED', async () => {
  const { createApiKey } = await h.ok('mutation { createApiKey(input: { name: "doomed" }) { apiKey { id } secret } }', {}, tenant.key);
  expect((await post(`Bearer ${createApiKey.secret}`)).status).toBe(200);
  await h.ok('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: createApiKey.apiKey.id }, tenant.key);
  expectError(await post(`Bearer ${createApiKey.secret}`), 'UNAUTHORIZED');
});

test('a valid key is accepted whatever the case of "Bearer"', async () => {
  const result = await post(`bearer ${tenant.key}`);
  expect(result).toMatchObject({ status: 200, data: { tenant: { id: tenant.id } } });
  expect((await post(`Bearer ${h.adminKey}`)).status).toBe(200);
});

test('GET /graphql from a browser serves GraphiQL without a key', async () => {
  const res = await fetch(h.url, { headers: { accept: 'text/html' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await res.text();
  expect(html).toMatch(/graphiql/i);
  expect(html).toContain('Herald');
});

test('a malformed request body gets 400 from the server itself', async () => {
  for (const authorization of [`Bearer ${tenant.key}`, undefined]) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authorization) headers.authorization = authorization;
    const res = await fetch(h.url, { method: 'POST', headers, body: '{"query": "{ tenant { id } }"' });
    expect(res.status).toBe(400);
  }
});
