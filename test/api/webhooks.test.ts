import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  countWebhookRows,
  createTenant,
  expectError,
  startTestHerald,
  startWithTenant,
  type Tenant,
  type TestHerald,
} from '../helpers/herald.ts';

const DEFAULT_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];

const FIELDS = `id tenantId url description events channels status disabledReason signatureScheme
  auth { type username headerName } headers { name value } retrySchedule timeoutMs maxInFlight secretCount createdAt updatedAt`;
const CREATE = `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { ${FIELDS} } secret } }`;
const READ = `query($id: ID!) { webhook(id: $id) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { ${FIELDS} } }`;
const DELETE = 'mutation($id: ID!) { deleteWebhook(id: $id) { id } }';
const ROTATE =
  'mutation($id: ID!, $grace: Int) { rotateWebhookSecret(id: $id, graceSeconds: $grace) { webhook { id secretCount } secret } }';
const LIST = `query($first: Int, $after: String, $status: WebhookStatus) {
  webhooks(first: $first, after: $after, status: $status) { edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }`;

const MINIMAL = { url: 'https://example.com/hook', events: ['message.delivered'] };

let h: TestHerald;
let tenant: Tenant;
beforeAll(async () => ({ h, tenant } = await startWithTenant()));
afterAll(() => h?.stop());

async function create(input: Record<string, unknown>, key = tenant.key) {
  return (await h.ok(CREATE, { input: { ...MINIMAL, ...input } }, key)).createWebhook;
}

describe('create and read', () => {
  test('createWebhook with every field stores and returns them', async () => {
    const input = {
      url: 'https://hooks.example.com/herald?source=sms',
      events: ['message.delivered', 'message.failed'],
      description: 'Delivery receipts',
      channels: ['sms', 'whatsapp'],
      signatureScheme: 'STRIPE',
      auth: { type: 'BASIC', username: 'herald', password: 'pa55word' },
      headers: [{ name: 'X-Team', value: 'messaging' }],
      retrySchedule: [10, 60, 600],
      timeoutMs: 5000,
      maxInFlight: 3,
    };
    const { webhook, secret } = await create(input);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(webhook).toMatchObject({
      ...input,
      id: expect.stringMatching(/^wh_[0-9a-z]{26}$/),
      tenantId: tenant.id,
      status: 'ACTIVE',
      disabledReason: null,
      auth: { type: 'BASIC', username: 'herald', headerName: null },
      secretCount: 1,
    });
    expect((await h.ok(READ, { id: webhook.id }, tenant.key)).webhook).toEqual(webhook);
  });

  test('createWebhook with only url and events gets the defaults', async () => {
    const { webhook } = await create({});
    expect(webhook).toMatchObject({
      description: null,
      channels: null,
      signatureScheme: 'STANDARD',
      auth: { type: 'NONE', username: null, headerName: null },
      headers: [],
      retrySchedule: DEFAULT_SCHEDULE,
      timeoutMs: 15000,
      maxInFlight: 10,
      secretCount: 1,
    });
  });

  test('events ["*"] subscribes to everything', async () => {
    expect((await create({ events: ['*'] })).webhook.events).toEqual(['*']);
  });

  test.each([
    [{ type: 'NONE' }, { type: 'NONE', username: null, headerName: null }],
    [
      { type: 'BEARER', token: 'tok-123' },
      { type: 'BEARER', username: null, headerName: null },
    ],
    [
      { type: 'BASIC', username: 'u', password: 'p' },
      { type: 'BASIC', username: 'u', headerName: null },
    ],
    [
      { type: 'API_KEY', token: 'k-123' },
      { type: 'API_KEY', username: null, headerName: 'x-api-key' },
    ],
    [
      { type: 'CUSTOM_HEADER', headerName: 'X-Signature-Key', headerValue: 'v' },
      { type: 'CUSTOM_HEADER', username: null, headerName: 'X-Signature-Key' },
    ],
  ])('auth %j is stored and shown as %j', async (auth, shown) => {
    const { webhook } = await create({ auth });
    expect(webhook.auth).toEqual(shown);
    expect((await h.ok(READ, { id: webhook.id }, tenant.key)).webhook.auth).toEqual(shown);
  });

  test.each([
    [{ type: 'BEARER' }, 'auth.token'],
    [{ type: 'BASIC', username: 'u' }, 'auth.password'],
    [{ type: 'API_KEY', token: '' }, 'auth.token'],
    [{ type: 'CUSTOM_HEADER', headerName: 'X-Key' }, 'auth.headerValue'],
  ])('auth %j without its secret is a VALIDATION_ERROR on %s', async (auth, field) => {
    expectError(await h.gql(CREATE, { input: { ...MINIMAL, auth } }, tenant.key), 'VALIDATION_ERROR', field);
  });

  test('the URL is stored and shown in its normalised (WHATWG) form, on create and on update', async () => {
    const { webhook } = await create({ url: 'HTTPS://Hooks.Example.COM:443/a/./b/../c?q=ü' });
    expect(webhook.url).toBe('https://hooks.example.com/a/c?q=%C3%BC');
    expect((await h.ok(READ, { id: webhook.id }, tenant.key)).webhook.url).toBe('https://hooks.example.com/a/c?q=%C3%BC');
    const updated = (await h.ok(UPDATE, { id: webhook.id, input: { url: 'https://EXAMPLE.com' } }, tenant.key)).updateWebhook;
    expect(updated.url).toBe('https://example.com/');
  });

  test('webhook(id) of an unknown id is null', async () => {
    expect((await h.ok(READ, { id: 'wh_00000000000000000000000000' }, tenant.key)).webhook).toBeNull();
  });
});

describe('list', () => {
  let lister: { id: string; key: string };
  const created: string[] = [];
  beforeAll(async () => {
    lister = await createTenant(h, 'lister');
    for (let i = 0; i < 25; i++) created.push((await create({ description: `hook ${i}` }, lister.key)).webhook.id);
  });

  test('pages of 10 cover all 25 webhooks, newest first, without duplicates or gaps', async () => {
    const seen: string[] = [];
    const pages: { size: number; hasNextPage: boolean }[] = [];
    let after: string | null = null;
    do {
      const { webhooks }: any = await h.ok(LIST, { first: 10, after }, lister.key);
      seen.push(...webhooks.edges.map((e: { node: { id: string } }) => e.node.id));
      pages.push({ size: webhooks.edges.length, hasNextPage: webhooks.pageInfo.hasNextPage });
      after = webhooks.pageInfo.hasNextPage ? webhooks.pageInfo.endCursor : null;
      expect(webhooks.pageInfo.endCursor).toBe(webhooks.edges.at(-1).cursor);
    } while (after);
    expect(pages).toEqual([
      { size: 10, hasNextPage: true },
      { size: 10, hasNextPage: true },
      { size: 5, hasNextPage: false },
    ]);
    expect(seen).toEqual([...created].reverse());
  });

  test('without first, a page holds 20; a page that ends exactly at the end has hasNextPage false', async () => {
    const { webhooks } = await h.ok(LIST, {}, lister.key);
    expect(webhooks.edges).toHaveLength(20);
    expect(webhooks.pageInfo.hasNextPage).toBe(true);
    const rest = await h.ok(LIST, { first: 5, after: webhooks.pageInfo.endCursor }, lister.key);
    expect(rest.webhooks.edges).toHaveLength(5);
    expect(rest.webhooks.pageInfo.hasNextPage).toBe(false);
  });

  test('a page keeps its place while new webhooks are created', async () => {
    const first = await h.ok(LIST, { first: 10 }, lister.key);
    const extra = await create({}, lister.key);
    const second = await h.ok(LIST, { first: 10, after: first.webhooks.pageInfo.endCursor }, lister.key);
    expect(second.webhooks.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([...created].reverse().slice(10, 20));
    await h.ok(DELETE, { id: extra.webhook.id }, lister.key);
  });

  test('the status filter returns only webhooks of that status', async () => {
    const paused = [created[3], created[17]];
    for (const id of paused) await h.ok(UPDATE, { id, input: { status: 'PAUSED' } }, lister.key);
    const { webhooks } = await h.ok(LIST, { first: 100, status: 'PAUSED' }, lister.key);
    expect(webhooks.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([...paused].reverse());
    const active = await h.ok(LIST, { first: 100, status: 'ACTIVE' }, lister.key);
    expect(active.webhooks.edges).toHaveLength(23);
    expect(active.webhooks.edges.every((e: { node: { status: string } }) => e.node.status === 'ACTIVE')).toBe(true);
    for (const id of paused) await h.ok(UPDATE, { id, input: { status: 'ACTIVE' } }, lister.key);
  });

  test.each([0, 101, -1])('first: %i is a VALIDATION_ERROR on first', async (first) => {
    expectError(await h.gql(LIST, { first }, lister.key), 'VALIDATION_ERROR', 'first');
  });

  test('a cursor that is not one of Herald’s is a VALIDATION_ERROR on after', async () => {
    expectError(await h.gql(LIST, { after: 'bm9wZQ' }, lister.key), 'VALIDATION_ERROR', 'after');
  });
});

describe('update', () => {
  let id: string;
  beforeAll(async () => {
    id = (await create({ description: 'before', channels: ['sms'], retrySchedule: [1, 2], headers: [{ name: 'X-A', value: '1' }] })).webhook
      .id;
  });

  test.each([
    ['url', 'https://other.example.com/new', 'https://other.example.com/new'],
    ['events', ['message.sent', 'message.read'], ['message.sent', 'message.read']],
    ['description', 'after', 'after'],
    ['channels', ['rcs'], ['rcs']],
    ['signatureScheme', 'HMAC_SHA256', 'HMAC_SHA256'],
    ['auth', { type: 'BEARER', token: 't' }, { type: 'BEARER', username: null, headerName: null }],
    [
      'headers',
      [
        { name: 'X-B', value: '2' },
        { name: 'X-C', value: '3' },
      ],
      [
        { name: 'X-B', value: '2' },
        { name: 'X-C', value: '3' },
      ],
    ],
    ['retrySchedule', [30, 3600], [30, 3600]],
    ['timeoutMs', 30000, 30000],
    ['maxInFlight', 100, 100],
    ['channels', null, null],
    ['description', null, null],
    ['retrySchedule', null, DEFAULT_SCHEDULE],
    ['retrySchedule', [], []],
    ['headers', null, []],
    ['auth', { type: 'NONE' }, { type: 'NONE', username: null, headerName: null }],
  ])('updateWebhook %s = %j', async (field, value, expected) => {
    const before = (await h.ok(READ, { id }, tenant.key)).webhook;
    const { updateWebhook } = await h.ok(UPDATE, { id, input: { [field]: value } }, tenant.key);
    expect(updateWebhook[field]).toEqual(expected);
    const after = (await h.ok(READ, { id }, tenant.key)).webhook;
    expect(after).toEqual({ ...before, [field]: expected, updatedAt: after.updatedAt });
    expect(after.updatedAt >= before.updatedAt).toBe(true);
  });

  test('an invalid update is refused and changes nothing', async () => {
    const before = (await h.ok(READ, { id }, tenant.key)).webhook;
    const result = await h.gql(UPDATE, { id, input: { description: 'half', timeoutMs: 999 } }, tenant.key);
    expectError(result, 'VALIDATION_ERROR', 'timeoutMs');
    expect((await h.ok(READ, { id }, tenant.key)).webhook).toEqual(before);
  });

  test.each([['url'], ['events'], ['maxInFlight'], ['timeoutMs'], ['adaptiveThrottling'], ['ordering'], ['status']])(
    '%s cannot be set to null (it was ignored without a word for all but url and events)',
    async (field) => {
      const before = (await h.ok(READ, { id }, tenant.key)).webhook;
      expectError(await h.gql(UPDATE, { id, input: { [field]: null } }, tenant.key), 'VALIDATION_ERROR', field);
      expect((await h.ok(READ, { id }, tenant.key)).webhook).toEqual(before);
    },
  );

  test('pause and resume through status', async () => {
    expect((await h.ok(UPDATE, { id, input: { status: 'PAUSED' } }, tenant.key)).updateWebhook.status).toBe('PAUSED');
    expect((await h.ok(READ, { id }, tenant.key)).webhook.status).toBe('PAUSED');
    expect((await h.ok(UPDATE, { id, input: { status: 'ACTIVE' } }, tenant.key)).updateWebhook.status).toBe('ACTIVE');
    expect((await h.ok(READ, { id }, tenant.key)).webhook.status).toBe('ACTIVE');
  });

  test('DISABLED cannot be set by a client', async () => {
    expectError(await h.gql(UPDATE, { id, input: { status: 'DISABLED' } }, tenant.key), 'VALIDATION_ERROR', 'status');
    expect((await h.ok(READ, { id }, tenant.key)).webhook.status).toBe('ACTIVE');
  });

  test('updating an unknown webhook is NOT_FOUND', async () => {
    expectError(await h.gql(UPDATE, { id: 'wh_00000000000000000000000000', input: { description: 'x' } }, tenant.key), 'NOT_FOUND');
  });
});

describe('delete', () => {
  test('a deleted webhook is gone from webhook(id) and the list; deleting again is NOT_FOUND', async () => {
    const { webhook } = await create({});
    expect((await h.ok(DELETE, { id: webhook.id }, tenant.key)).deleteWebhook).toEqual({ id: webhook.id });
    expect((await h.ok(READ, { id: webhook.id }, tenant.key)).webhook).toBeNull();
    const { webhooks } = await h.ok(LIST, { first: 100 }, tenant.key);
    expect(webhooks.edges.map((e: { node: { id: string } }) => e.node.id)).not.toContain(webhook.id);
    expectError(await h.gql(DELETE, { id: webhook.id }, tenant.key), 'NOT_FOUND');
    expectError(await h.gql(UPDATE, { id: webhook.id, input: { status: 'PAUSED' } }, tenant.key), 'NOT_FOUND');
    expectError(await h.gql(ROTATE, { id: webhook.id }, tenant.key), 'NOT_FOUND');
  });
});

describe('rotateWebhookSecret', () => {
  test('returns a new whsec_ secret; the old one keeps signing during the grace period', async () => {
    const { webhook, secret } = await create({});
    const { rotateWebhookSecret } = await h.ok(ROTATE, { id: webhook.id }, tenant.key);
    expect(rotateWebhookSecret.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(rotateWebhookSecret.secret).not.toBe(secret);
    expect(rotateWebhookSecret.webhook).toEqual({ id: webhook.id, secretCount: 2 });
    expect((await h.ok(READ, { id: webhook.id }, tenant.key)).webhook.secretCount).toBe(2);
  });

  test('graceSeconds 0 drops the previous secrets at once', async () => {
    const { webhook } = await create({});
    await h.ok(ROTATE, { id: webhook.id }, tenant.key);
    const { rotateWebhookSecret } = await h.ok(ROTATE, { id: webhook.id, grace: 0 }, tenant.key);
    expect(rotateWebhookSecret.webhook.secretCount).toBe(1);
  });

  test('at most 10 old secrets keep signing', async () => {
    const { webhook } = await create({});
    for (let i = 0; i < 12; i++) await h.ok(ROTATE, { id: webhook.id, grace: 3600 }, tenant.key);
    expect((await h.ok(READ, { id: webhook.id }, tenant.key)).webhook.secretCount).toBe(11);
  });

  test.each([-1, 7 * 24 * 3600 + 1])('graceSeconds %i is a VALIDATION_ERROR', async (grace) => {
    const { webhook } = await create({});
    expectError(await h.gql(ROTATE, { id: webhook.id, grace }, tenant.key), 'VALIDATION_ERROR', 'graceSeconds');
    expect((await h.ok(READ, { id: webhook.id }, tenant.key)).webhook.secretCount).toBe(1);
  });
});

describe('validation: bad input is refused and nothing is stored', () => {
  let v: { id: string; key: string };
  beforeAll(async () => {
    v = await createTenant(h, 'validation');
  });

  test.each([
    ['url', 'http:// URL', { url: 'http://example.com/hook' }],
    ['url', 'not a URL', { url: 'not a url' }],
    ['url', 'relative URL', { url: '/hook' }],
    ['url', 'ftp URL', { url: 'ftp://example.com/hook' }],
    ['url', 'over 2048 characters', { url: `https://example.com/${'a'.repeat(2029)}` }],
    ['url', 'user-info', { url: 'https://user:secret@example.com/hook' }],
    ['url', 'user name only', { url: 'https://user@example.com/hook' }],
    ['url', 'a tab (dropped by URL parsing, so another URL would be requested)', { url: 'https://example.com/a\tb' }],
    ['url', 'CR LF', { url: 'https://example.com/hook\r\nX-Injected: 1' }],
    ['url', 'a leading space', { url: ' https://example.com/hook' }],
    ['url', 'a trailing newline', { url: 'https://example.com/hook\n' }],
    ['url', 'a fragment (never sent)', { url: 'https://example.com/hook#part' }],
    ['events', 'an unknown event name', { events: ['message.delivered', 'message.teleported'] }],
    ['events', 'empty events', { events: [] }],
    ['events', '* mixed with names', { events: ['*', 'message.sent'] }],
    ['events', 'duplicates', { events: ['message.sent', 'message.sent'] }],
    ['timeoutMs', 'timeoutMs 999', { timeoutMs: 999 }],
    ['timeoutMs', 'timeoutMs 30001', { timeoutMs: 30001 }],
    ['maxInFlight', 'maxInFlight 0', { maxInFlight: 0 }],
    ['maxInFlight', 'maxInFlight 101', { maxInFlight: 101 }],
    ['retrySchedule', '21 entries', { retrySchedule: Array(21).fill(60) }],
    ['retrySchedule', 'a delay of 0', { retrySchedule: [5, 0] }],
    ['retrySchedule', 'a delay of 604801', { retrySchedule: [604801] }],
    ['headers', 'overriding content-type', { headers: [{ name: 'Content-Type', value: 'text/plain' }] }],
    ['headers', 'overriding user-agent', { headers: [{ name: 'user-agent', value: 'evil' }] }],
    ['headers', 'overriding webhook-signature', { headers: [{ name: 'webhook-signature', value: 'v1,x' }] }],
    ['headers', 'overriding webhook-id', { headers: [{ name: 'Webhook-Id', value: 'evt_x' }] }],
    ['headers', 'overriding authorization', { headers: [{ name: 'authorization', value: 'Bearer x' }] }],
    ['headers', 'an invalid header name', { headers: [{ name: 'X Bad', value: 'x' }] }],
    ['headers', 'a header value with a newline', { headers: [{ name: 'X-Ok', value: 'a\r\nX-Injected: 1' }] }],
    // The HTTP client refuses these: accepted, every attempt would fail with UNKNOWN before sending.
    ['headers', 'Expect (managed by the connection)', { headers: [{ name: 'Expect', value: '100-continue' }] }],
    ['headers', 'Upgrade (managed by the connection)', { headers: [{ name: 'Upgrade', value: 'h2c' }] }],
    ['headers', 'Keep-Alive (managed by the connection)', { headers: [{ name: 'Keep-Alive', value: 'timeout=5' }] }],
    ['headers', 'a header value beyond Latin-1', { headers: [{ name: 'X-Snow', value: '☃ 日本' }] }],
    ['headers', 'a header value with a control character', { headers: [{ name: 'X-Bell', value: 'a\u0007b' }] }],
    ['auth.token', 'a bearer token beyond Latin-1', { auth: { type: 'BEARER', token: 'tök€n' } }],
    ['headers', 'TE (managed by HTTP, as for profiles)', { headers: [{ name: 'TE', value: 'trailers' }] }],
    ['auth.headerName', 'an auth header HTTP manages', { auth: { type: 'CUSTOM_HEADER', headerName: 'Connection', headerValue: 'x' } }],
    ['channels', 'empty channels', { channels: [] }],
  ])('%s: %s', async (field, _case, input) => {
    const before = await countWebhookRows(h, v.id);
    expectError(await h.gql(CREATE, { input: { ...MINIMAL, ...input } }, v.key), 'VALIDATION_ERROR', field);
    expect(await countWebhookRows(h, v.id)).toBe(before);
  });

  test('every bad field is reported at once', async () => {
    const before = await countWebhookRows(h, v.id);
    const result = await h.gql(CREATE, { input: { url: 'http://x.example', events: [], timeoutMs: 1, maxInFlight: 0 } }, v.key);
    const error = expectError(result, 'VALIDATION_ERROR');
    expect(error.extensions!.fields!.map((f) => f.field).sort()).toEqual(['events', 'maxInFlight', 'timeoutMs', 'url']);
    expect(await countWebhookRows(h, v.id)).toBe(before);
  });

  test('the limits themselves are accepted', async () => {
    const before = await countWebhookRows(h, v.id);
    await create(
      { url: `https://example.com/${'a'.repeat(2028)}`, timeoutMs: 1000, maxInFlight: 1, retrySchedule: Array(20).fill(604800) },
      v.key,
    );
    await create({ timeoutMs: 30000, maxInFlight: 100, retrySchedule: [1] }, v.key);
    // Latin-1 and tabs are sendable header values (one byte each on the wire).
    await create({ headers: [{ name: 'X-Latin-1', value: 'café\t¿ ok' }] }, v.key);
    expect(await countWebhookRows(h, v.id)).toBe(before + 3);
  });

  describe('with HERALD_ALLOW_HTTP=true and HERALD_MAX_WEBHOOKS=2', () => {
    let dev: TestHerald;
    let t: { id: string; key: string };
    beforeAll(async () => {
      dev = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_MAX_WEBHOOKS: '2' });
      t = await createTenant(dev);
    });
    afterAll(() => dev?.stop());

    test('http:// URLs are accepted, other schemes still refused', async () => {
      const { createWebhook } = await dev.ok(CREATE, { input: { ...MINIMAL, url: 'http://localhost:8080/hook' } }, t.key);
      expect(createWebhook.webhook.url).toBe('http://localhost:8080/hook');
      expectError(await dev.gql(CREATE, { input: { ...MINIMAL, url: 'ftp://example.com/' } }, t.key), 'VALIDATION_ERROR', 'url');
    });

    test('a tenant may have at most HERALD_MAX_WEBHOOKS webhooks; deleting one frees a place', async () => {
      const second = await dev.ok(CREATE, { input: MINIMAL }, t.key);
      expectError(await dev.gql(CREATE, { input: MINIMAL }, t.key), 'VALIDATION_ERROR');
      expect(await countWebhookRows(dev, t.id)).toBe(2);
      await dev.ok(DELETE, { id: second.createWebhook.webhook.id }, t.key);
      await dev.ok(CREATE, { input: MINIMAL }, t.key);
    });
  });
});

describe('event types', () => {
  const CREATE_TYPE =
    'mutation($input: CreateEventTypeInput!) { createEventType(input: $input) { name description example archived builtIn } }';
  const LIST_TYPES = '{ eventTypes { name builtIn } }';
  let owner: { id: string; key: string };
  let other: { id: string; key: string };
  beforeAll(async () => {
    owner = await createTenant(h, 'types-owner');
    other = await createTenant(h, 'types-other');
    await h.ok(CREATE_TYPE, { input: { name: 'invoice.paid', description: 'An invoice was paid', example: { amount: 10 } } }, owner.key);
  });

  test('createEventType returns the new type; a webhook can subscribe to it', async () => {
    const { createEventType } = await h.ok(CREATE_TYPE, { input: { name: 'invoice.refunded' } }, owner.key);
    expect(createEventType).toEqual({ name: 'invoice.refunded', description: null, example: null, archived: false, builtIn: false });
    const { webhook } = await create({ events: ['invoice.paid', 'invoice.refunded', 'message.sent'] }, owner.key);
    expect(webhook.events).toEqual(['invoice.paid', 'invoice.refunded', 'message.sent']);
  });

  test('another tenant cannot subscribe to a tenant’s own type', async () => {
    expectError(await h.gql(CREATE, { input: { ...MINIMAL, events: ['invoice.paid'] } }, other.key), 'VALIDATION_ERROR', 'events');
  });

  test.each([
    ['a duplicate name', 'invoice.paid'],
    ['a built-in name', 'message.delivered'],
    ['webhook.test', 'webhook.test'],
    ['a name with a space', 'invoice paid'],
    ['a name with "*"', 'invoice.*'],
    ['a name over 100 characters', `x.${'a'.repeat(99)}`],
  ])('%s is refused', async (_case, name) => {
    expectError(await h.gql(CREATE_TYPE, { input: { name } }, owner.key), 'VALIDATION_ERROR', 'name');
  });

  test('the same name may exist for two tenants', async () => {
    expect((await h.ok(CREATE_TYPE, { input: { name: 'invoice.paid' } }, other.key)).createEventType.name).toBe('invoice.paid');
    const ownTypes = (await h.ok(LIST_TYPES, {}, other.key)).eventTypes.filter((t: { builtIn: boolean }) => !t.builtIn);
    expect(ownTypes).toEqual([{ name: 'invoice.paid', builtIn: false }]);
  });

  test('eventTypes lists the built-ins, webhook.test included, and only the tenant’s own types', async () => {
    const { eventTypes } = await h.ok('{ eventTypes { name description example archived builtIn tenantId operational } }', {}, owner.key);
    const builtIns = eventTypes.filter((t: { builtIn: boolean }) => t.builtIn).map((t: { name: string }) => t.name);
    expect(builtIns).toEqual(
      expect.arrayContaining(['message.delivered', 'message.inbound', 'message.optout', 'campaign.completed', 'webhook.test']),
    );
    expect(builtIns).toHaveLength(21);
    // Herald's own operational events, flagged so (subscribed to by name only).
    const operational = eventTypes.filter((t: { operational: boolean }) => t.operational).map((t: { name: string }) => t.name);
    expect(operational).toEqual(['webhook.disabled', 'webhook.enabled', 'delivery.exhausted', 'delivery.recovered']);
    // Each built-in shows customers an example of its data (the portal's event picker shows it).
    const delivered = eventTypes.find((t: { name: string }) => t.name === 'message.delivered');
    expect(delivered.example).toMatchObject({ messageId: expect.any(String), to: expect.any(String), channel: 'sms' });
    for (const t of eventTypes.filter((t: { builtIn: boolean }) => t.builtIn)) expect(t.example, t.name).toEqual(expect.any(Object));
    const own = eventTypes.filter((t: { builtIn: boolean }) => !t.builtIn);
    expect(own).toEqual([
      {
        name: 'invoice.paid',
        description: 'An invoice was paid',
        example: { amount: 10 },
        archived: false,
        builtIn: false,
        tenantId: owner.id,
        operational: false,
      },
      {
        name: 'invoice.refunded',
        description: null,
        example: null,
        archived: false,
        builtIn: false,
        tenantId: owner.id,
        operational: false,
      },
    ]);
    const theirs = (await h.ok(LIST_TYPES, {}, tenant.key)).eventTypes.filter((t: { builtIn: boolean }) => !t.builtIn);
    expect(theirs).toEqual([]);
  });
});
