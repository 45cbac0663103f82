import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';

let h: TestHerald;
beforeAll(async () => {
  h = await startTestHerald();
});
afterAll(() => h?.stop());

const OWN_TENANT = '{ tenant { id name } }';
const CREATE_KEY =
  'mutation($name: String!, $tenantId: ID) { createApiKey(input: { name: $name, tenantId: $tenantId }) { apiKey { id name prefix tenantId revokedAt } secret } }';
const REVOKE_KEY = 'mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }';

test('createTenant as admin returns the tenant and a working hrld_ key', async () => {
  const data = await h.ok('mutation { createTenant(input: { name: "  Acme SMS  " }) { tenant { id name createdAt } apiKey } }');
  const { tenant, apiKey } = data.createTenant;
  expect(tenant.id).toMatch(/^ten_[0-9a-z]{26}$/);
  expect(tenant.name).toBe('Acme SMS');
  expect(apiKey).toMatch(/^hrld_[A-Za-z0-9_-]{43}$/);
  expect((await h.ok(OWN_TENANT, {}, apiKey)).tenant).toEqual({ id: tenant.id, name: 'Acme SMS' });
});

test('createTenant with a tenant key is FORBIDDEN (403) and creates nothing', async () => {
  const a = await createTenant(h, 'forbidden-a');
  const result = await h.gql('mutation { createTenant(input: { name: "sneaky" }) { tenant { id } apiKey } }', {}, a.key);
  expectError(result, 'FORBIDDEN');
  expect(result.data).toBeNull();
});

test('createTenant with an empty name is a VALIDATION_ERROR on name', async () => {
  expectError(await h.gql('mutation { createTenant(input: { name: "   " }) { tenant { id } } }'), 'VALIDATION_ERROR', 'name');
});

test('tenant: a tenant key reads its own tenant; the admin key names one with id', async () => {
  const a = await createTenant(h, 'reader');
  expect((await h.ok('{ tenant { id name } }', {}, a.key)).tenant).toEqual({ id: a.id, name: 'reader' });
  expect((await h.ok('query($id: ID) { tenant(id: $id) { id } }', { id: a.id }, a.key)).tenant).toEqual({ id: a.id });
  expect((await h.ok('query($id: ID) { tenant(id: $id) { id name } }', { id: a.id })).tenant).toEqual({ id: a.id, name: 'reader' });
  expect((await h.ok('query($id: ID) { tenant(id: $id) { id } }', { id: 'ten_00000000000000000000000000' })).tenant).toBeNull();
});

test('createApiKey returns the secret once; the key works; apiKeys lists only its prefix', async () => {
  const a = await createTenant(h, 'keys');
  const { createApiKey } = await h.ok(CREATE_KEY, { name: 'ci' }, a.key);
  const { apiKey, secret } = createApiKey;
  expect(secret).toMatch(/^hrld_/);
  expect(apiKey).toMatchObject({ name: 'ci', tenantId: a.id, revokedAt: null });
  expect(secret.startsWith(apiKey.prefix)).toBe(true);
  expect(apiKey.prefix.length).toBeLessThan(secret.length / 2);
  expect((await h.ok(OWN_TENANT, {}, secret)).tenant.id).toBe(a.id);

  const listed = await h.ok('{ tenant { apiKeys { id name prefix createdAt lastUsedAt revokedAt tenantId } } }', {}, a.key);
  expect(listed.tenant.apiKeys.map((k: { name: string }) => k.name)).toEqual(['ci', 'default']);
  expect(listed.tenant.apiKeys[0].prefix).toBe(apiKey.prefix);
  expect(listed.tenant.apiKeys[0].lastUsedAt).not.toBeNull();
  expect(JSON.stringify(listed)).not.toContain(secret);
  expect(JSON.stringify(listed)).not.toContain(a.key);
});

test('the admin key creates API keys for a named tenant, and must name one', async () => {
  const a = await createTenant(h, 'admin-keys');
  const { createApiKey } = await h.ok(CREATE_KEY, { name: 'ops', tenantId: a.id });
  expect(createApiKey.apiKey.tenantId).toBe(a.id);
  expect((await h.ok(OWN_TENANT, {}, createApiKey.secret)).tenant.id).toBe(a.id);
  expectError(await h.gql(CREATE_KEY, { name: 'ops' }), 'VALIDATION_ERROR', 'tenantId');
});

test('revokeApiKey: the revoked key is refused with 401 UNAUTHORIZED afterwards', async () => {
  const a = await createTenant(h, 'revoker');
  const { createApiKey } = await h.ok(CREATE_KEY, { name: 'temp' }, a.key);
  const { revokeApiKey } = await h.ok(REVOKE_KEY, { id: createApiKey.apiKey.id }, a.key);
  expect(revokeApiKey).toMatchObject({ id: createApiKey.apiKey.id, revokedAt: expect.any(String) });
  expectError(await h.gql(OWN_TENANT, {}, createApiKey.secret), 'UNAUTHORIZED');
  // The tenant's other key is untouched.
  expect((await h.ok(OWN_TENANT, {}, a.key)).tenant.id).toBe(a.id);
});

test('a tenant can revoke the key it is calling with', async () => {
  const a = await createTenant(h, 'self-revoke');
  const { tenant } = await h.ok('{ tenant { apiKeys { id } } }', {}, a.key);
  await h.ok(REVOKE_KEY, { id: tenant.apiKeys[0].id }, a.key);
  expectError(await h.gql(OWN_TENANT, {}, a.key), 'UNAUTHORIZED');
});

test('isolation: tenant B cannot revoke tenant A’s key (NOT_FOUND) nor read tenant A', async () => {
  const a = await createTenant(h, 'iso-a');
  const b = await createTenant(h, 'iso-b');
  const { tenant } = await h.ok('{ tenant { apiKeys { id } } }', {}, a.key);
  const result = await h.gql(REVOKE_KEY, { id: tenant.apiKeys[0].id }, b.key);
  expectError(result, 'NOT_FOUND');
  expect((await h.ok(OWN_TENANT, {}, a.key)).tenant.id).toBe(a.id);

  const read = await h.gql('query($id: ID) { tenant(id: $id) { id name apiKeys { id } } }', { id: a.id }, b.key);
  expect(read.errors).toBeUndefined();
  expect(read.data).toEqual({ tenant: null });
});
