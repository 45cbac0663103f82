import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, listDeliveries, publish, updateWebhook, waitForDelivery } from '../helpers/deliveries.ts';
import {
  countWebhookRows,
  createTenant,
  expectError,
  startTestHerald,
  startWithReceiver,
  stopAll,
  type Tenant,
  type TestHerald,
} from '../helpers/herald.ts';
import { exampleProfile, upsertProfile } from '../helpers/platforms.ts';
import type { Receiver } from '../helpers/receiver.ts';

const UPSERT =
  'mutation($input: UpsertDeliveryProfileInput!) { upsertDeliveryProfile(input: $input) { name description definition builtIn version } }';
const PROFILES = '{ deliveryProfiles { name builtIn version definition } }';
const DELETE = 'mutation($name: String!) { deleteDeliveryProfile(name: $name) { name } }';
const signed = (header: string) => ({ header, signs: 'BODY', key: 'SECRET_BYTES', encoding: 'HEX', format: '{sig}' });

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;
beforeAll(async () => ({ h, tenant, receiver } = await startWithReceiver({ tenant: 'profiles' })));
afterAll(() => stopAll(h, receiver));

async function storedVersions(name: string): Promise<number> {
  return withPgClient(h.databaseUrl, async (c) => {
    const { rows } = await c.query('select count(*)::int as n from delivery_profile_version where profile = $1', [name]);
    return rows[0].n;
  });
}

describe('defining profiles', () => {
  test('the built-ins are listed first, with their definitions', async () => {
    const { deliveryProfiles } = await h.ok(PROFILES, {}, tenant.key);
    expect(deliveryProfiles.slice(0, 3).map((p: { name: string; builtIn: boolean }) => [p.name, p.builtIn])).toEqual([
      ['standard', true],
      ['stripe', true],
      ['hmac-sha256', true],
    ]);
    expect(deliveryProfiles[0].definition.signature).toMatchObject({ header: 'webhook-signature', format: 'v1,{sig}' });
  });

  test('upsert stores a version with defaults filled in; a changed definition makes a new version, a new description does not', async () => {
    const definition = { body: '{"t": type}', signature: signed('X-Sig') };
    const first = (await h.ok(UPSERT, { input: { name: 'acme', description: 'v1', definition } })).upsertDeliveryProfile;
    expect(first).toMatchObject({ name: 'acme', builtIn: false, version: 1, description: 'v1' });
    expect(first.definition).toEqual({
      body: '{"t": type}',
      headers: {},
      heraldHeaders: true,
      signature: signed('X-Sig'),
      secret: { format: 'WHSEC', scope: 'WEBHOOK' },
      defaults: {},
    });
    expect((await h.ok(UPSERT, { input: { name: 'acme', description: 'v1 again', definition } })).upsertDeliveryProfile.version).toBe(1);
    const second = await h.ok(UPSERT, { input: { name: 'acme', definition: { ...definition, body: '{"type": type}' } } });
    expect(second.upsertDeliveryProfile.version).toBe(2);
    expect(await storedVersions('acme')).toBe(2);
  });

  test.each([
    ['a JSONata syntax error', { body: '{"a": }', signature: null }, 'definition.body'],
    ['$now() in a body', { body: '{"at": $now()}', signature: null }, 'definition.body'],
    ['an unknown option', { signature: null, retries: 3 }, 'definition.retries'],
    ['an unknown signature option', { signature: { ...signed('X-S'), algorithm: 'md5' } }, 'definition.signature.algorithm'],
    ['an owned header', { signature: null, headers: { 'content-length': '"1"' } }, 'definition.headers.content-length'],
    ['a Herald header', { signature: null, headers: { 'webhook-id': 'id' } }, 'definition.headers.webhook-id'],
    ['a header that fails on the example event', { signature: null, headers: { 'X-Obj': 'data' } }, 'definition.headers.X-Obj'],
    ['a body that fails on the example event', { signature: null, body: '$number(data.to & "x")' }, 'definition.body'],
    ['a body too slow for its trial run', { signature: null, body: '$string($sum([1..90000].($sum([1..90000]))))' }, 'definition.body'],
    ['a key that does not fit the secret format', { signature: { ...signed('X-S'), key: 'HEX_DECODED' } }, 'definition.signature.key'],
    ['no signature setting at all', {}, 'definition.signature'],
  ])('%s is a VALIDATION_ERROR naming the field, and nothing is stored', async (_case, definition, field) => {
    const result = await h.gql(UPSERT, { input: { name: 'broken', definition } });
    expectError(result, 'VALIDATION_ERROR', field);
    expect(await storedVersions('broken')).toBe(0);
    const names = (await h.ok(PROFILES)).deliveryProfiles.map((p: { name: string }) => p.name);
    expect(names).not.toContain('broken');
  });

  test('a bad edit of an existing profile leaves its current version in place', async () => {
    await h.ok(UPSERT, { input: { name: 'kept', definition: { signature: null, body: 'data' } } });
    expectError(
      await h.gql(UPSERT, { input: { name: 'kept', definition: { signature: null, body: 'data +' } } }),
      'VALIDATION_ERROR',
      'definition.body',
    );
    const kept = (await h.ok(PROFILES)).deliveryProfiles.find((p: { name: string }) => p.name === 'kept');
    expect(kept).toMatchObject({ version: 1, definition: { body: 'data' } });
  });

  test('errors name their field once, and a missing signature says null is the unsigned choice', async () => {
    const fieldsOf = async (definition: object) =>
      expectError(await h.gql(UPSERT, { input: { name: 'messages', definition } }), 'VALIDATION_ERROR').extensions?.fields;
    const [body] = (await fieldsOf({ signature: null, body: '{ "a": 1' }))!;
    expect(body.field).toBe('definition.body');
    expect(body.message).toMatch(/^Expected "}"/);
    const [header] = (await fieldsOf({ signature: null, headers: { 'X-Event': 'type +' } }))!;
    expect(header).toMatchObject({ field: 'definition.headers.X-Event' });
    expect(header.message).not.toMatch(/headers\.X-Event/);
    expect(await fieldsOf({ body: 'data' })).toEqual([
      { field: 'definition.signature', message: 'signature is required (null for unsigned deliveries)' },
    ]);
    expect(await fieldsOf({ signature: 'none' })).toEqual([
      { field: 'definition.signature', message: 'expected an object, or null for unsigned deliveries' },
    ]);
  });

  test('built-in names, bad names and tenant keys are refused', async () => {
    expectError(await h.gql(UPSERT, { input: { name: 'standard', definition: { signature: null } } }), 'VALIDATION_ERROR', 'name');
    expectError(await h.gql(UPSERT, { input: { name: 'Not A Name', definition: { signature: null } } }), 'VALIDATION_ERROR', 'name');
    expectError(await h.gql(UPSERT, { input: { name: 'mine', definition: { signature: null } } }, tenant.key), 'FORBIDDEN');
    expectError(await h.gql(DELETE, { name: 'acme' }, tenant.key), 'FORBIDDEN');
  });

  test('deleteDeliveryProfile: CONFLICT while a webhook or a tenant names it; then it goes, its versions stay', async () => {
    await h.ok(UPSERT, { input: { name: 'doomed', definition: { signature: null } } });
    const { id } = await createWebhook(h, tenant.key, { url: `${receiver.url}/doomed`, profile: 'doomed' });
    expectError(await h.gql(DELETE, { name: 'doomed' }), 'CONFLICT');
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id }, tenant.key);
    const other = await h.ok('mutation { createTenant(input: { name: "t", profile: "doomed" }) { tenant { id } } }');
    expectError(await h.gql(DELETE, { name: 'doomed' }), 'CONFLICT');
    await h.ok('mutation($id: ID!) { updateTenant(id: $id, input: { profile: null }) { id } }', { id: other.createTenant.tenant.id });
    expect((await h.ok(DELETE, { name: 'doomed' })).deleteDeliveryProfile).toEqual({ name: 'doomed' });
    expect(await storedVersions('doomed')).toBe(1);
    expectError(await h.gql(DELETE, { name: 'doomed' }), 'NOT_FOUND');
    expectError(await h.gql(DELETE, { name: 'standard' }), 'VALIDATION_ERROR', 'name');
    expectError(await h.gql(DELETE, { name: 'standard' }), 'VALIDATION_ERROR', 'name');
  });

  test('a profile made again under a deleted one’s name keeps its secret format while tenants hold secrets made under it', async () => {
    const shared = (format: string, key: string) => ({
      signature: { ...signed('X-Shared'), key },
      secret: { format, scope: 'TENANT' },
    });
    await h.ok(UPSERT, { input: { name: 'reborn', definition: shared('TOKEN', 'SECRET_BYTES') } });
    const first = await createWebhook(h, tenant.key, { url: `${receiver.url}/reborn`, profile: 'reborn' });
    expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: first.id }, tenant.key);
    await h.ok(DELETE, { name: 'reborn' });
    // The tenant still holds its TOKEN secret: a HEX profile of that name would never get one it could sign with.
    const refused = expectError(
      await h.gql(UPSERT, { input: { name: 'reborn', definition: shared('HEX', 'HEX_DECODED') } }),
      'VALIDATION_ERROR',
      'definition.secret',
    );
    expect(refused.message).toMatch(/1 tenant secret/);
    expect(await storedVersions('reborn')).toBe(1);
    // Made again as it was, it signs with the secret the tenant was shown.
    await h.ok(UPSERT, { input: { name: 'reborn', definition: shared('TOKEN', 'SECRET_BYTES') } });
    const again = await createWebhook(h, tenant.key, { url: `${receiver.url}/reborn-again`, profile: 'reborn', events: ['message.read'] });
    expect(again.secret).toBeNull();
    const { eventId } = await publish(h, tenant.key, { type: 'message.read', data: { n: 1 } });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: again.id });
    expect((await waitForDelivery(h, tenant.key, delivery.id)).status).toBe('SUCCEEDED');
    const request = receiver.requests.find((r) => r.url === '/reborn-again')!;
    expect(request.headers['x-shared']).toBe(createHmac('sha256', first.secret!).update(request.body).digest('hex'));
  });

  test('the JSON definitions of examples/profiles are all accepted; their descriptions, shown to customers, speak to customers', async () => {
    for (const file of ['zexa', 'hub', 'hub-unsigned', 'senderz', 'zavu', 'zautic']) {
      const profile = exampleProfile(file);
      await upsertProfile(h, profile);
      // The portal shows a description word for word: how the contract was read is the README's (operator notes), not the customer's.
      expect(profile.description).not.toMatch(/CONTRACTS|Herald|the contract|does not say/i);
    }
  });
});

describe('which profile applies', () => {
  const WEBHOOK = 'query($id: ID!) { webhook(id: $id) { profile deliveryProfile signatureScheme } }';

  test('signatureScheme is an alias of the built-ins; a disagreeing profile is refused; other profiles read null', async () => {
    const stripe = await createWebhook(h, tenant.key, { url: `${receiver.url}/s`, signatureScheme: 'STRIPE' });
    expect((await h.ok(WEBHOOK, { id: stripe.id }, tenant.key)).webhook).toEqual({
      profile: 'stripe',
      deliveryProfile: 'stripe',
      signatureScheme: 'STRIPE',
    });
    await createWebhook(h, tenant.key, { url: `${receiver.url}/s`, signatureScheme: 'HMAC_SHA256', profile: 'hmac-sha256' });
    const result = await h.gql(
      'mutation { createWebhook(input: { url: "https://x.example.com", events: ["*"], signatureScheme: STRIPE, profile: "zexa" }) { secret } }',
      {},
      tenant.key,
    );
    expectError(result, 'VALIDATION_ERROR', 'signatureScheme');
    await updateWebhook(h, tenant.key, stripe.id, { profile: 'acme', secret: `whsec_${randomBytes(32).toString('base64')}` });
    expect((await h.ok(WEBHOOK, { id: stripe.id }, tenant.key)).webhook).toEqual({
      profile: 'acme',
      deliveryProfile: 'acme',
      signatureScheme: null,
    });
  });

  test('own profile, else the tenant’s, else HERALD_DEFAULT_PROFILE; updateTenant (admin) changes the tenant’s', async () => {
    const t = await createTenant(h, 'inherit');
    const own = await createWebhook(h, t.key, { url: `${receiver.url}/own`, profile: 'stripe' });
    const inherits = await createWebhook(h, t.key, { url: `${receiver.url}/inherits` });
    expect((await h.ok(WEBHOOK, { id: inherits.id }, t.key)).webhook).toEqual({
      profile: null,
      deliveryProfile: 'standard',
      signatureScheme: 'STANDARD',
    });
    const { updateTenant } = await h.ok(
      'mutation($id: ID!) { updateTenant(id: $id, input: { profile: "hmac-sha256", externalId: "cust-9", name: "renamed" }) { id name profile externalId } }',
      { id: t.id },
    );
    expect(updateTenant).toEqual({ id: t.id, name: 'renamed', profile: 'hmac-sha256', externalId: 'cust-9' });
    expect((await h.ok(WEBHOOK, { id: inherits.id }, t.key)).webhook.deliveryProfile).toBe('hmac-sha256');
    expect((await h.ok(WEBHOOK, { id: own.id }, t.key)).webhook.deliveryProfile).toBe('stripe');
    expectError(await h.gql('mutation($id: ID!) { updateTenant(id: $id, input: { name: "x" }) { id } }', { id: t.id }, t.key), 'FORBIDDEN');
    expectError(
      await h.gql('mutation($id: ID!) { updateTenant(id: $id, input: { profile: "nope" }) { id } }', { id: t.id }),
      'VALIDATION_ERROR',
      'profile',
    );
  });

  test('an unknown profile is refused on createWebhook, updateWebhook and createTenant, storing nothing', async () => {
    const before = await countWebhookRows(h, tenant.id);
    expectError(
      await h.gql(
        'mutation { createWebhook(input: { url: "https://x.example.com", events: ["*"], profile: "nope" }) { secret } }',
        {},
        tenant.key,
      ),
      'VALIDATION_ERROR',
      'profile',
    );
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
    expectError(await h.gql('mutation { createTenant(input: { name: "x", profile: "nope" }) { apiKey } }'), 'VALIDATION_ERROR', 'profile');
  });

  test('a webhook created under a profile takes its defaults unless it sets its own', async () => {
    const { createWebhook: c } = await h.ok(
      'mutation { createWebhook(input: { url: "https://x.example.com", events: ["*"], profile: "zavu", timeoutMs: 7000 }) { webhook { timeoutMs retrySchedule } } }',
      {},
      tenant.key,
    );
    expect(c.webhook).toEqual({ timeoutMs: 7000, retrySchedule: [60, 300, 1800, 7200] });
  });

  test('moving a webhook to a profile whose secrets are in another format needs a secret in that format', async () => {
    const { id } = await createWebhook(h, tenant.key, { url: `${receiver.url}/move` });
    const move = (input: Record<string, unknown>) =>
      h.gql(
        'mutation($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { profile } }',
        { id, input },
        tenant.key,
      );
    expectError(await move({ profile: 'hub' }), 'VALIDATION_ERROR', 'profile');
    expectError(await move({ profile: 'hub', secret: 'not-hex' }), 'VALIDATION_ERROR', 'secret');
    expect((await h.ok(WEBHOOK, { id }, tenant.key)).webhook.profile).toBeNull();
    expect((await move({ profile: 'hub', secret: randomBytes(32).toString('hex') })).data).toEqual({ updateWebhook: { profile: 'hub' } });
  });
});

describe('secrets', () => {
  test('an imported secret signs, is never returned again, and a bad one is refused storing nothing', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const created = await createWebhook(h, tenant.key, { url: `${receiver.url}/imported`, profile: 'hmac-sha256', secret });
    expect(created.secret).toBe(secret);
    const { eventId } = await publish(h, tenant.key, { type: 'message.sent', data: { n: 1 } });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: created.id });
    await waitForDelivery(h, tenant.key, delivery.id);
    const request = receiver.requests.find((r) => r.url === '/imported' && r.headers['webhook-id'] === eventId)!;
    expect(request.headers['x-herald-signature']).toBe(`sha256=${createHmac('sha256', secret).update(request.body).digest('hex')}`);

    const before = await countWebhookRows(h, tenant.id);
    for (const [profile, bad] of [
      ['standard', 'whsec_tooshort'],
      ['hub', 'abc123'],
      ['zexa', 'has spaces in it, which headers do not like'],
    ]) {
      const result = await h.gql(
        'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret } }',
        { input: { url: 'https://x.example.com', events: ['*'], profile, secret: bad } },
        tenant.key,
      );
      expectError(result, 'VALIDATION_ERROR', 'secret');
    }
    expect(await countWebhookRows(h, tenant.id)).toBe(before);

    const rotated = await h.gql(
      'mutation($id: ID!) { rotateWebhookSecret(id: $id, secret: "whsec_bad") { secret } }',
      { id: created.id },
      tenant.key,
    );
    expectError(rotated, 'VALIDATION_ERROR', 'secret');
    const { webhook } = await h.ok('query($id: ID!) { webhook(id: $id) { secretCount } }', { id: created.id }, tenant.key);
    expect(webhook.secretCount).toBe(1);
  });

  test('an unsigned profile shows no secret on create or rotate', async () => {
    const created = await createWebhook(h, tenant.key, { url: `${receiver.url}/unsigned`, profile: 'hub-unsigned' });
    expect(created.secret).toBeNull();
    const { rotateWebhookSecret } = await h.ok(
      'mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }',
      { id: created.id },
      tenant.key,
    );
    expect(rotateWebhookSecret.secret).toBeNull();
  });
});

describe('publishing under a profile', () => {
  test('pending deliveries keep the version they were published with', async () => {
    await h.ok(UPSERT, { input: { name: 'versioned', definition: { signature: null, body: '{"v": 1, "type": type}' } } });
    const { id } = await createWebhook(h, tenant.key, { url: `${receiver.url}/versioned`, profile: 'versioned' });
    await updateWebhook(h, tenant.key, id, { status: 'PAUSED' });
    const { eventId } = await publish(h, tenant.key, { type: 'message.sent', data: {} });
    await h.ok(UPSERT, { input: { name: 'versioned', definition: { signature: null, body: '{"v": 2, "type": type}' } } });
    const later = await publish(h, tenant.key, { type: 'message.sent', data: {} });
    await updateWebhook(h, tenant.key, id, { status: 'ACTIVE' });
    for (const e of [eventId, later.eventId]) {
      const [d] = await listDeliveries(h, tenant.key, { eventId: e, webhookId: id });
      expect(await waitForDelivery(h, tenant.key, d.id)).toMatchObject({ status: 'SUCCEEDED' });
    }
    const bodies = receiver.requests.filter((r) => r.url === '/versioned').map((r) => [r.headers['webhook-id'], r.body]);
    expect(bodies).toEqual(
      expect.arrayContaining([
        [eventId, '{"v":1,"type":"message.sent"}'],
        [later.eventId, '{"v":2,"type":"message.sent"}'],
      ]),
    );
  });

  test('one body per (event, profile version), shared by every webhook on it', async () => {
    const t = await createTenant(h, 'shared');
    for (const n of [1, 2, 3]) await createWebhook(h, t.key, { url: `${receiver.url}/shared${n}`, profile: 'versioned' });
    await createWebhook(h, t.key, { url: `${receiver.url}/shared-standard` });
    const { eventId, deliveryCount } = await publish(h, t.key, { type: 'message.sent', data: {} });
    expect(deliveryCount).toBe(4);
    const rows = await withPgClient(
      h.databaseUrl,
      async (c) => (await c.query('select body from event_body where event_id = $1', [eventId])).rows,
    );
    expect(rows).toEqual([{ body: '{"v":2,"type":"message.sent"}' }]);
  });

  test('a delivery shows its profile and its body byte for byte as its receiver got it (the version it was published with)', async () => {
    const t = await createTenant(h, 'as-sent');
    const custom = await createWebhook(h, t.key, { url: `${receiver.url}/as-sent-custom`, profile: 'versioned' });
    const plain = await createWebhook(h, t.key, { url: `${receiver.url}/as-sent-standard` });
    const { eventId } = await publish(h, t.key, { type: 'message.sent', data: { text: 'Grüße 👋 "quoted" </b>' } });
    // A later edit of the profile changes neither what was sent nor what is shown.
    await h.ok(UPSERT, { input: { name: 'versioned', definition: { signature: null, body: '{"v": 3, "type": type}' } } });
    for (const [webhook, path, profile] of [
      [custom, '/as-sent-custom', 'versioned'],
      [plain, '/as-sent-standard', 'standard'],
    ] as const) {
      const [d] = await listDeliveries(h, t.key, { eventId, webhookId: webhook.id });
      expect(await waitForDelivery(h, t.key, d.id)).toMatchObject({ status: 'SUCCEEDED' });
      const received = receiver.requests.find((r) => r.url === path)!;
      const { delivery } = await h.ok('query($id: ID!) { delivery(id: $id) { profile body } }', { id: d.id }, t.key);
      expect(delivery).toEqual({ profile, body: received.body });
    }
    expect(receiver.requests.find((r) => r.url === '/as-sent-custom')!.body).toBe('{"v":2,"type":"message.sent"}');
  });

  test('an expression that fails for an event fails only that delivery (TRANSFORM), never the publish', async () => {
    await h.ok(UPSERT, {
      input: {
        name: 'picky',
        definition: { signature: null, body: '{"amount": $number(data.amount)}', headers: { 'X-Kind': 'data.kind' } },
      },
    });
    const t = await createTenant(h, 'picky');
    const picky = await createWebhook(h, t.key, { url: `${receiver.url}/picky`, profile: 'picky' });
    const plain = await createWebhook(h, t.key, { url: `${receiver.url}/plain` });
    const { eventId, deliveryCount } = await publish(h, t.key, { type: 'message.sent', data: { amount: 'twelve' } });
    expect(deliveryCount).toBe(2);
    const [bad] = await listDeliveries(h, t.key, { eventId, webhookId: picky.id });
    const failed = await waitForDelivery(h, t.key, bad.id);
    expect(failed).toMatchObject({ status: 'FAILED', attemptCount: 1, lastError: 'TRANSFORM' });
    expect(failed.attempts[0]).toMatchObject({ error: 'TRANSFORM', responseStatus: null, errorMessage: expect.stringContaining('body:') });
    const shown = await h.ok('query($id: ID!) { delivery(id: $id) { profile body } }', { id: bad.id }, t.key);
    expect(shown.delivery).toEqual({ profile: 'picky', body: null });
    const [good] = await listDeliveries(h, t.key, { eventId, webhookId: plain.id });
    expect(await waitForDelivery(h, t.key, good.id)).toMatchObject({ status: 'SUCCEEDED' });
    expect(receiver.requests.some((r) => r.url === '/picky')).toBe(false);

    // A header expression that fails at attempt time fails the delivery the same way.
    const second = await publish(h, t.key, { type: 'message.sent', data: { amount: 12, kind: { nested: true } } });
    const [headerFail] = await listDeliveries(h, t.key, { eventId: second.eventId, webhookId: picky.id });
    const failedHeader = await waitForDelivery(h, t.key, headerFail.id);
    expect(failedHeader).toMatchObject({ status: 'FAILED', lastError: 'TRANSFORM' });
    expect(failedHeader.attempts[0].errorMessage).toContain('headers.X-Kind');

    // Not the endpoint's doing: neither failure counts against the webhook's health.
    const { webhook } = await h.ok(
      'query($id: ID!) { webhook(id: $id) { status stats { consecutiveFailures lastFailureAt } } }',
      { id: picky.id },
      t.key,
    );
    expect(webhook).toEqual({ status: 'ACTIVE', stats: { consecutiveFailures: 0, lastFailureAt: null } });
  });
});

describe('deliveryPreview', () => {
  const PREVIEW =
    'query($id: ID!, $type: String!, $data: JSON!) { deliveryPreview(webhookId: $id, type: $type, data: $data) { profile body headers { name value } } }';

  test('shows the exact body and the headers, auth and signatures redacted', async () => {
    const t = await h.ok('mutation { createTenant(input: { name: "preview", externalId: "proj_1" }) { tenant { id } apiKey } }');
    const key = t.createTenant.apiKey;
    const { id } = await createWebhook(h, key, {
      url: `${receiver.url}/preview`,
      profile: 'zautic',
      auth: { type: 'BEARER', token: 'tok_secret' },
      headers: [{ name: 'X-Customer', value: 'c1' }],
    });
    await h.ok('mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { id }, key);
    const { deliveryPreview } = await h.ok(PREVIEW, { id, type: 'message.delivered', data: { messageId: 'm1' } }, key);
    expect(deliveryPreview.profile).toBe('zautic');
    const body = JSON.parse(deliveryPreview.body);
    expect(body).toMatchObject({ type: 'message.delivered', livemode: true, data: { object: { messageId: 'm1' } } });
    expect(body.id).toMatch(/^evt_[0-9a-f]{32}$/);
    const headers = Object.fromEntries(deliveryPreview.headers.map((x: { name: string; value: string }) => [x.name, x.value]));
    expect(headers).toMatchObject({
      'x-customer': 'c1',
      authorization: '[redacted]',
      'content-type': 'application/json',
      'x-zautic-event': 'message.delivered',
      'x-zautic-delivery-id': expect.stringMatching(/^dlv_/),
      'x-zautic-signature': `t=${headers['x-zautic-timestamp']},v1=[redacted],v1=[redacted]`,
    });
    expect(JSON.stringify(deliveryPreview)).not.toContain('tok_secret');
    expect(receiver.requests.some((r) => r.url === '/preview')).toBe(false);
  });

  test('another tenant’s webhook is NOT_FOUND; an expression failing on the data is a VALIDATION_ERROR on data', async () => {
    const other = await createTenant(h, 'nosy');
    const { id } = await createWebhook(h, tenant.key, { url: `${receiver.url}/p2`, profile: 'picky' });
    expectError(await h.gql(PREVIEW, { id, type: 'message.sent', data: {} }, other.key), 'NOT_FOUND');
    expectError(await h.gql(PREVIEW, { id, type: 'message.sent', data: { amount: 'x' } }, tenant.key), 'VALIDATION_ERROR', 'data');
  });
});

describe('HERALD_DEFAULT_PROFILE', () => {
  test('names the profile of webhooks that name none; an unknown one stops Herald at start', async () => {
    const stripe = await startTestHerald({ HERALD_DEFAULT_PROFILE: 'stripe' });
    try {
      const t = await createTenant(stripe, 'default-profile');
      const { id } = await createWebhook(stripe, t.key, { url: 'https://x.example.com/hook' });
      const { webhook } = await stripe.ok(
        'query($id: ID!) { webhook(id: $id) { profile deliveryProfile signatureScheme } }',
        { id },
        t.key,
      );
      expect(webhook).toEqual({ profile: null, deliveryProfile: 'stripe', signatureScheme: 'STRIPE' });
      expect((await stripe.ok('{ tenant { profile deliveryProfile } }', {}, t.key)).tenant).toEqual({
        profile: null,
        deliveryProfile: 'stripe',
      });
      await stripe.ok('mutation($id: ID!) { updateTenant(id: $id, input: { profile: "hmac-sha256" }) { id } }', { id: t.id });
      expect((await stripe.ok('{ tenant { deliveryProfile } }', {}, t.key)).tenant.deliveryProfile).toBe('hmac-sha256');
      expectError(await stripe.gql(DELETE, { name: 'stripe' }), 'VALIDATION_ERROR', 'name');
    } finally {
      await stripe.stop();
    }
    await expect(startTestHerald({ HERALD_DEFAULT_PROFILE: 'missing' })).rejects.toThrow(/HERALD_DEFAULT_PROFILE="missing"/);
  });
});
