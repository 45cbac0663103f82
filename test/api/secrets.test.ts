import { createHash, randomBytes } from 'node:crypto';
import { buildClientSchema, type GraphQLObjectType, getIntrospectionQuery, getNamedType, isNonNullType, isObjectType } from 'graphql';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { decryptSecret } from '../../src/core/secrets.ts';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';

const ENCRYPTED = /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/;
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const TOKEN = `tok-${randomBytes(8).toString('hex')}`;
const HEADER_VALUE = `hv-${randomBytes(8).toString('hex')}`;

let h: TestHerald;
let tenant: { id: string; key: string };
let key: Buffer;
beforeAll(async () => {
  h = await startTestHerald();
  tenant = await createTenant(h);
  key = Buffer.from(h.encryptionKey, 'base64');
});
afterAll(() => h?.stop());

const webhookWith = (auth: Record<string, string>) => createWebhook(h, tenant.key, { url: 'https://example.com/hook', auth });

async function webhookRow(id: string) {
  return withPgClient(h.databaseUrl, async (client) => {
    const { rows } = await client.query('select w.*, row_to_json(w)::text as raw from webhook w where id = $1', [id]);
    return rows[0];
  });
}

/** A selection of every field of `type` (nested objects too, a few levels deep), from introspection. */
function selectAll(type: GraphQLObjectType, depth = 3): string {
  const fields = Object.values(type.getFields())
    .filter((f) => f.args.every((a) => !isNonNullType(a.type)))
    .map((f) => {
      const named = getNamedType(f.type);
      if (!isObjectType(named)) return f.name;
      return depth > 1 ? `${f.name} { ${selectAll(named, depth - 1)} }` : null;
    })
    .filter(Boolean);
  return fields.join(' ');
}

test('the webhook secrets column holds only AES-256-GCM ciphertext that the key decrypts', async () => {
  const { id, secret } = await webhookWith({ type: 'NONE' });
  const row = await webhookRow(id);
  expect(row.raw).not.toContain('whsec_');
  expect(row.raw).not.toContain(secret.slice('whsec_'.length));
  expect(row.secrets).toHaveLength(1);
  expect(row.secrets[0].encrypted).toMatch(ENCRYPTED);
  expect(decryptSecret(row.secrets[0].encrypted, key)).toBe(secret);
  expect(() => decryptSecret(row.secrets[0].encrypted, randomBytes(32))).toThrow(/decrypt/);
});

test('after a rotation both secrets are stored encrypted, newest first', async () => {
  const { id, secret } = await webhookWith({ type: 'NONE' });
  const rotated = await h.ok('mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { id }, tenant.key);
  const row = await webhookRow(id);
  expect(row.raw).not.toContain('whsec_');
  expect(row.secrets.map((s: { encrypted: string }) => decryptSecret(s.encrypted, key))).toEqual([
    rotated.rotateWebhookSecret.secret,
    secret,
  ]);
  expect(row.secrets[1].expiresAt).not.toBeNull();
});

test.each<{ auth: Record<string, string>; plain: string }>([
  { auth: { type: 'BASIC', username: 'herald', password: PASSWORD }, plain: PASSWORD },
  { auth: { type: 'BEARER', token: TOKEN }, plain: TOKEN },
  { auth: { type: 'API_KEY', token: TOKEN }, plain: TOKEN },
  { auth: { type: 'CUSTOM_HEADER', headerName: 'X-Key', headerValue: HEADER_VALUE }, plain: HEADER_VALUE },
])('auth $auth.type is stored encrypted, never in plain text', async ({ auth, plain }) => {
  const { id } = await webhookWith(auth);
  const row = await webhookRow(id);
  expect(row.raw).not.toContain(plain);
  expect(row.auth_type).toBe(auth.type);
  expect(row.auth_encrypted).toMatch(ENCRYPTED);
  expect(JSON.parse(decryptSecret(row.auth_encrypted, key))).toEqual(auth);
});

test('api_key rows hold the SHA-256 hex of the secret and never the secret', async () => {
  const { createApiKey } = await h.ok(
    'mutation { createApiKey(input: { name: "hashed" }) { apiKey { id prefix } secret } }',
    {},
    tenant.key,
  );
  const rows = await withPgClient(
    h.databaseUrl,
    async (client) => (await client.query('select k.*, row_to_json(k)::text as raw from api_key k where tenant_id = $1', [tenant.id])).rows,
  );
  expect(rows).toHaveLength(2);
  for (const [row, secret] of [
    [rows.find((r) => r.id === createApiKey.apiKey.id), createApiKey.secret],
    [rows.find((r) => r.id !== createApiKey.apiKey.id), tenant.key],
  ]) {
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.key_hash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(row.raw).not.toContain(secret);
    expect(row.raw).not.toContain(secret.slice(row.prefix.length));
    expect(secret.startsWith(row.prefix)).toBe(true);
  }
});

test('no query returns a secret after creation', async () => {
  const { id, secret } = await webhookWith({ type: 'BASIC', username: 'herald', password: PASSWORD });
  const bearer = await webhookWith({ type: 'CUSTOM_HEADER', headerName: 'X-Key', headerValue: HEADER_VALUE });
  const { createApiKey } = await h.ok('mutation { createApiKey(input: { name: "listed" }) { secret } }', {}, tenant.key);

  const schema = buildClientSchema(await h.ok(getIntrospectionQuery()));
  const webhookFields = selectAll(schema.getType('Webhook') as GraphQLObjectType);
  const tenantFields = selectAll(schema.getType('Tenant') as GraphQLObjectType);
  expect(webhookFields).toContain('secretCount');

  const answers = [
    await h.ok(`query($id: ID!) { webhook(id: $id) { ${webhookFields} } }`, { id }, tenant.key),
    await h.ok(`{ webhooks(first: 100) { edges { node { ${webhookFields} } } } }`, {}, tenant.key),
    await h.ok(`query($id: ID!) { webhook(id: $id) { ${webhookFields} } }`, { id }),
    await h.ok(`{ tenant { ${tenantFields} } }`, {}, tenant.key),
    await h.ok(`mutation($id: ID!) { updateWebhook(id: $id, input: { description: "x" }) { ${webhookFields} } }`, { id }, tenant.key),
    await h.ok(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { webhook { ${webhookFields} } } }`, { id: bearer.id }, tenant.key),
  ];
  const text = JSON.stringify(answers);
  expect(text).toContain(id);
  expect(text).toContain('herald'); // the username is not a secret
  for (const plain of [secret, bearer.secret, 'whsec_', PASSWORD, HEADER_VALUE, createApiKey.secret, tenant.key]) {
    expect(text).not.toContain(plain);
  }
});
