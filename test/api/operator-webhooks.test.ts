import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createWebhook, getDelivery, listDeliveries, publish } from '../helpers/deliveries.ts';
import { createTenant, expectError, LOCAL_RECEIVERS, startTestHerald, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import { collect, DELIVERY_UPDATED, liveClients } from '../helpers/live.ts';
import { exampleProfile, upsertProfile } from '../helpers/platforms.ts';
import { exchange, portalLink } from '../helpers/portal.ts';
import { type Receiver, startReceiver, verifiedEvents } from '../helpers/receiver.ts';

const CREATE = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id tenantId operator events } secret } }';
const STATUS_CHANGED = 'subscription($id: ID) { webhookStatusChanged(webhookId: $id) { id url status } }';

let h: TestHerald;
let tenant: Tenant;
/** A portal session of the tenant's: tenant-scoped like its key. */
let session: string;
let receiver: Receiver;
const clients = liveClients(() => h.url);

beforeAll(async () => {
  receiver = await startReceiver({ handler: (req, res) => res.writeHead(req.url === '/failing' ? 500 : 200).end() });
  h = await startTestHerald({ ...LOCAL_RECEIVERS, HERALD_MAX_WEBHOOKS: '2' });
  tenant = await createTenant(h);
  session = (await exchange((await portalLink(h, { tenantId: tenant.id })).url)).body.token;
});
afterEach(() => clients.disposeAll());
afterAll(() => stopAll(h, receiver));

test('only the admin key creates an operator webhook: of no tenant, naming operational events only', async () => {
  const input = { url: `${receiver.url}/operator`, events: ['delivery.exhausted'], operator: true };
  expectError(await h.gql(CREATE, { input }, tenant.key), 'FORBIDDEN');
  expectError(await h.gql(CREATE, { input }, session), 'FORBIDDEN');
  expectError(await h.gql(CREATE, { input: { ...input, tenantId: tenant.id } }), 'VALIDATION_ERROR', 'tenantId');
  expectError(await h.gql(CREATE, { input: { ...input, events: ['message.sent'] } }), 'VALIDATION_ERROR', 'events');
  expectError(await h.gql(CREATE, { input: { ...input, channels: ['sms'] } }), 'VALIDATION_ERROR', 'channels');
  // senderZ's secrets are tenant-scoped: an operator webhook has no tenant to sign for.
  await upsertProfile(h, exampleProfile('senderz'));
  expectError(await h.gql(CREATE, { input: { ...input, profile: 'senderz' } }), 'VALIDATION_ERROR', 'profile');

  const { webhook: created, secret } = (await h.ok(CREATE, { input })).createWebhook;
  expect(created).toEqual({ id: expect.any(String), tenantId: null, operator: true, events: ['delivery.exhausted'] });
  const listed = await h.ok('{ webhooks(first: 100, operator: true) { edges { node { id operator } } } }');
  expect(listed.webhooks.edges.map((e: any) => e.node)).toContainEqual({ id: created.id, operator: true });
  const tenants = await h.ok('{ webhooks(first: 100, operator: false) { edges { node { id operator } } } }');
  expect(tenants.webhooks.edges.map((e: any) => e.node.operator)).not.toContain(true);

  // A test event reaches it like any webhook's, belonging to no tenant either.
  const sent = await h.ok('mutation($id: ID!) { sendTestEvent(webhookId: $id) { id tenantId event { tenantId } } }', { id: created.id });
  expect(sent.sendTestEvent).toMatchObject({ tenantId: null, event: { tenantId: null } });
  await expect.poll(() => receiver.requests.filter((r) => r.url === '/operator').length, { timeout: 10_000 }).toBe(1);
  const [test] = verifiedEvents(receiver, secret, '/operator').filter((e) => e.type === 'webhook.test');
  expect(test).toMatchObject({ tenantId: null, data: { webhookId: created.id } });
  // Recorded in the worker's next batch, just after the endpoint answered.
  await expect.poll(async () => (await getDelivery(h, h.adminKey, sent.sendTestEvent.id)).status).toBe('SUCCEEDED');
});

test('HERALD_MAX_WEBHOOKS (2 here) does not count operator webhooks, nor do they take a tenant’s place', async () => {
  const other = await createTenant(h, 'limits');
  for (let i = 0; i < 3; i++) await h.ok(CREATE, { input: { url: `${receiver.url}/op-${i}`, events: ['*'], operator: true } });
  await createWebhook(h, other.key, { url: `${receiver.url}/a` });
  await createWebhook(h, other.key, { url: `${receiver.url}/b` });
  expectError(await h.gql(CREATE, { input: { url: `${receiver.url}/c`, events: ['*'] } }, other.key), 'VALIDATION_ERROR', 'url');
  // …and operator webhooks are still created past it.
  await h.ok(CREATE, { input: { url: `${receiver.url}/op-3`, events: ['*'], operator: true } });
});

test('tenant keys and portal sessions never see operator webhooks, their deliveries or their events, not even live', async () => {
  const secretPath = `/operator-${Math.random().toString(36).slice(2)}`;
  const operator = await createWebhook(h, h.adminKey, { url: `${receiver.url}${secretPath}`, events: ['*'], operator: true });
  await createWebhook(h, tenant.key, { url: `${receiver.url}/failing`, events: ['message.failed'], retrySchedule: [] });
  const watchers = await Promise.all(
    [tenant.key, session, h.adminKey].map(async (key) => {
      const client = await clients.connect(key);
      return { key, deliveries: collect(client, DELIVERY_UPDATED), statuses: collect(client, STATUS_CHANGED) };
    }),
  );
  const [asTenant, asSession, asAdmin] = watchers;
  // Two subscriptions for each of the three: all running before anything happens.
  await clients.running(6);

  // The tenant's delivery runs out of attempts: the operator webhook gets delivery.exhausted.
  await publish(h, tenant.key, { type: 'message.failed', data: { messageId: 'iso' } });
  await expect.poll(async () => (await listDeliveries(h, h.adminKey, { webhookId: operator.id })).length, { timeout: 15_000 }).toBe(1);
  const [operatorDelivery] = await listDeliveries(h, h.adminKey, { webhookId: operator.id });
  expect(operatorDelivery.eventType).toBe('delivery.exhausted');
  await expect.poll(() => receiver.requests.some((r) => r.url === secretPath), { timeout: 15_000 }).toBe(true);
  await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { id } }', { id: operator.id });
  await asAdmin.deliveries.waitFor((u: any) => u.delivery.webhookId === operator.id && u.phase === 'SUCCEEDED');
  await asAdmin.statuses.waitFor((w: any) => w.id === operator.id);

  for (const { key, deliveries, statuses } of [asTenant, asSession]) {
    const answers: unknown[] = [];
    const ask = async (query: string, variables: Record<string, unknown> = {}) => {
      const result = await h.gql(query, variables, key);
      answers.push(result);
      return result;
    };
    const ids = (result: any, field: string) => result.data[field].edges.map((e: any) => e.node.id);
    expect(ids(await ask('{ webhooks(first: 100) { edges { node { id url } } } }'), 'webhooks')).not.toContain(operator.id);
    expect(ids(await ask('{ webhooks(first: 100, operator: true) { edges { node { id url } } } }'), 'webhooks')).toEqual([]);
    expect((await ask('query($id: ID!) { webhook(id: $id) { id url } }', { id: operator.id })).data).toEqual({ webhook: null });
    const allDeliveries = await ask('{ deliveries(first: 100) { edges { node { id webhookId attempts { requestUrl } } } } }');
    expect(ids(allDeliveries, 'deliveries')).not.toContain(operatorDelivery.id);
    const filtered = await ask('query($w: ID) { deliveries(first: 100, filter: { webhookId: $w }) { edges { node { id } } } }', {
      w: operator.id,
    });
    expect(ids(filtered, 'deliveries')).toEqual([]);
    expect((await ask('query($id: ID!) { delivery(id: $id) { id } }', { id: operatorDelivery.id })).data).toEqual({ delivery: null });
    const events = await ask('{ events(first: 100) { edges { node { id tenantId } } } }');
    expect(ids(events, 'events')).not.toContain(operatorDelivery.eventId);
    expect((await ask('query($id: ID!) { event(id: $id) { id } }', { id: operatorDelivery.eventId })).data).toEqual({ event: null });
    for (const mutation of [
      'mutation($id: ID!) { updateWebhook(id: $id, input: { status: ACTIVE }) { id url } }',
      'mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }',
      'mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }',
      'mutation($id: ID!) { deleteWebhook(id: $id) { id } }',
    ]) {
      expectError(await ask(mutation, { id: operator.id }), 'NOT_FOUND');
    }
    expectError(await ask('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: operatorDelivery.id }), 'NOT_FOUND');

    // Live: nothing of the operator webhook's, and naming it is NOT_FOUND.
    expect(deliveries.items.map((u: any) => u.delivery.webhookId)).not.toContain(operator.id);
    expect(deliveries.items.length).toBeGreaterThan(0); // its own failing delivery
    expect(statuses.items).toEqual([]);
    const named = collect(await clients.connect(key), DELIVERY_UPDATED, { webhookId: operator.id });
    await expect.poll(() => named.errors.length).toBe(1);
    expect(JSON.stringify(named.results)).toContain('NOT_FOUND');

    // The operator webhook's URL appears in no answer.
    expect(JSON.stringify(answers)).not.toContain(secretPath);
    expect(JSON.stringify([deliveries.results, statuses.results])).not.toContain(operator.id);
  }
  expect((await h.ok('query($id: ID!) { webhook(id: $id) { status } }', { id: operator.id })).webhook.status).toBe('PAUSED');
});
