import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';

// Tenant B holds a valid key and knows every id of tenant A: it must see nothing of A's and
// change nothing, and each refusal must read NOT_FOUND (never FORBIDDEN, which would confirm
// that the id exists).

const READ = 'query($id: ID!) { webhook(id: $id) { id url status secretCount description } }';
const LIST = 'query($tenantId: ID) { webhooks(first: 100, tenantId: $tenantId) { edges { node { id tenantId } } } }';

let h: TestHerald;
let a: { id: string; key: string };
let b: { id: string; key: string };
let aWebhook: string;
let aKeyId: string;
beforeAll(async () => {
  h = await startTestHerald();
  a = await createTenant(h, 'tenant-a');
  b = await createTenant(h, 'tenant-b');
  const created = await h.ok(
    'mutation { createWebhook(input: { url: "https://a.example.com/hook", events: ["*"], description: "A’s" }) { webhook { id } } }',
    {},
    a.key,
  );
  aWebhook = created.createWebhook.webhook.id;
  await h.ok('mutation { createWebhook(input: { url: "https://b.example.com/hook", events: ["*"] }) { webhook { id } } }', {}, b.key);
  aKeyId = (await h.ok('{ tenant { apiKeys { id } } }', {}, a.key)).tenant.apiKeys[0].id;
});
afterAll(() => h?.stop());

async function aWebhookAsSeenByA() {
  return (await h.ok(READ, { id: aWebhook }, a.key)).webhook;
}

test('webhook(id) of another tenant’s webhook is null', async () => {
  const result = await h.gql(READ, { id: aWebhook }, b.key);
  expect(result.errors).toBeUndefined();
  expect(result.data).toEqual({ webhook: null });
});

test.each([
  ['updateWebhook', 'mutation($id: ID!) { updateWebhook(id: $id, input: { description: "B was here", status: PAUSED }) { id } }'],
  ['deleteWebhook', 'mutation($id: ID!) { deleteWebhook(id: $id) { id } }'],
  ['rotateWebhookSecret', 'mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }'],
])('%s on another tenant’s webhook is NOT_FOUND and changes nothing', async (_name, mutation) => {
  const before = await aWebhookAsSeenByA();
  const result = await h.gql(mutation, { id: aWebhook }, b.key);
  expectError(result, 'NOT_FOUND');
  expect(result.data).toBeNull();
  expect(await aWebhookAsSeenByA()).toEqual(before);
});

test('deliveryPreview of another tenant’s webhook is NOT_FOUND', async () => {
  const preview = 'query($id: ID!) { deliveryPreview(webhookId: $id, type: "message.sent", data: {}) { body } }';
  expectError(await h.gql(preview, { id: aWebhook }, b.key), 'NOT_FOUND');
});

test('updateEventType of another tenant’s own type is NOT_FOUND and changes nothing', async () => {
  await h.ok('mutation { createEventType(input: { name: "a.private_type" }) { name } }', {}, a.key);
  expectError(
    await h.gql('mutation { updateEventType(name: "a.private_type", input: { archived: true }) { name } }', {}, b.key),
    'NOT_FOUND',
  );
  const { eventTypes } = await h.ok('{ eventTypes { name archived } }', {}, a.key);
  expect(eventTypes).toContainEqual({ name: 'a.private_type', archived: false });
});

test('revokeApiKey of another tenant’s key is NOT_FOUND and the key keeps working', async () => {
  expectError(await h.gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: aKeyId }, b.key), 'NOT_FOUND');
  expect((await h.ok('{ tenant { id } }', {}, a.key)).tenant.id).toBe(a.id);
});

test('tenant(id) of another tenant is null', async () => {
  expect((await h.ok('query($id: ID) { tenant(id: $id) { id name } }', { id: a.id }, b.key)).tenant).toBeNull();
});

test('webhooks never lists another tenant’s webhooks', async () => {
  const { webhooks } = await h.ok(LIST, {}, b.key);
  expect(webhooks.edges).toHaveLength(1);
  expect(webhooks.edges.every((e: { node: { tenantId: string } }) => e.node.tenantId === b.id)).toBe(true);
  expect(webhooks.edges.map((e: { node: { id: string } }) => e.node.id)).not.toContain(aWebhook);
});

test('eventTypes never lists another tenant’s own types', async () => {
  await h.ok('mutation { createEventType(input: { name: "a.secret_type" }) { name } }', {}, a.key);
  const { eventTypes } = await h.ok('{ eventTypes { name } }', {}, b.key);
  expect(eventTypes.map((t: { name: string }) => t.name)).not.toContain('a.secret_type');
});

test.each([
  ['webhooks', LIST, () => ({ tenantId: a.id })],
  ['eventTypes', 'query($tenantId: ID) { eventTypes(tenantId: $tenantId) { name } }', () => ({ tenantId: a.id })],
  [
    'createWebhook',
    'mutation($tenantId: ID) { createWebhook(input: { url: "https://b.example.com/x", events: ["*"], tenantId: $tenantId }) { webhook { id } } }',
    () => ({ tenantId: a.id }),
  ],
  [
    'createApiKey',
    'mutation($tenantId: ID) { createApiKey(input: { name: "x", tenantId: $tenantId }) { secret } }',
    () => ({ tenantId: a.id }),
  ],
  [
    'createEventType',
    'mutation($tenantId: ID) { createEventType(input: { name: "b.sneaky", tenantId: $tenantId }) { name } }',
    () => ({ tenantId: a.id }),
  ],
])('%s with another tenant’s tenantId is NOT_FOUND', async (_name, operation, variables) => {
  expectError(await h.gql(operation, variables(), b.key), 'NOT_FOUND');
});

test('nothing B tried landed in A', async () => {
  const { webhooks } = await h.ok(LIST, {}, a.key);
  expect(webhooks.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([aWebhook]);
  const { tenant } = await h.ok('{ tenant { apiKeys { id revokedAt } } }', {}, a.key);
  expect(tenant.apiKeys).toEqual([{ id: aKeyId, revokedAt: null }]);
  const { eventTypes } = await h.ok('{ eventTypes { name builtIn } }', {}, a.key);
  expect(eventTypes.filter((t: { builtIn: boolean }) => !t.builtIn).map((t: { name: string }) => t.name)).toEqual([
    'a.private_type',
    'a.secret_type',
  ]);
});

test('the admin key acts on a tenant by passing tenantId', async () => {
  const { createWebhook } = await h.ok(
    'mutation($tenantId: ID) { createWebhook(input: { url: "https://a.example.com/admin", events: ["*"], tenantId: $tenantId }) { webhook { id tenantId } } }',
    { tenantId: a.id },
  );
  expect(createWebhook.webhook.tenantId).toBe(a.id);
  expect((await h.ok(READ, { id: createWebhook.webhook.id }, a.key)).webhook.url).toBe('https://a.example.com/admin');
  expect((await h.ok(READ, { id: createWebhook.webhook.id }, b.key)).webhook).toBeNull();

  const listed = await h.ok(LIST, { tenantId: a.id });
  expect(listed.webhooks.edges.every((e: { node: { tenantId: string } }) => e.node.tenantId === a.id)).toBe(true);
  expect(listed.webhooks.edges).toHaveLength(2);
  const all = await h.ok(LIST, {});
  expect(all.webhooks.edges).toHaveLength(3);

  await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: createWebhook.webhook.id });
  expect((await h.ok(READ, { id: createWebhook.webhook.id }, a.key)).webhook).toBeNull();
});

test('the admin key reads and changes any tenant’s webhook by id', async () => {
  expect((await h.ok(READ, { id: aWebhook })).webhook.url).toBe('https://a.example.com/hook');
  await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { description: "by admin" }) { id } }', { id: aWebhook });
  expect((await aWebhookAsSeenByA()).description).toBe('by admin');
});

test('the admin key without tenantId on createWebhook is a VALIDATION_ERROR on tenantId', async () => {
  const result = await h.gql('mutation { createWebhook(input: { url: "https://x.example.com/", events: ["*"] }) { webhook { id } } }');
  expectError(result, 'VALIDATION_ERROR', 'tenantId');
});

test('the admin key with an unknown tenantId is NOT_FOUND', async () => {
  const result = await h.gql(
    'mutation { createWebhook(input: { url: "https://x.example.com/", events: ["*"], tenantId: "ten_00000000000000000000000000" }) { webhook { id } } }',
  );
  expectError(result, 'NOT_FOUND');
});
