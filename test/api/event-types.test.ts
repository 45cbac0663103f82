// The platform's event catalog: platform-wide types (admin key, no tenant), archived built-ins,
// updateEventType, and names from other platforms' catalogs.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createWebhook, listDeliveries, publish, updateWebhook, waitForDelivery } from '../helpers/deliveries.ts';
import { createTenant, expectError, startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import type { Receiver } from '../helpers/receiver.ts';

const CREATE = 'mutation($input: CreateEventTypeInput!) { createEventType(input: $input) { name builtIn archived tenantId } }';
const UPDATE =
  'mutation($name: String!, $input: UpdateEventTypeInput!) { updateEventType(name: $name, input: $input) { name description example archived builtIn tenantId } }';
const LIST = '{ eventTypes { name archived builtIn tenantId } }';
const PUBLISH = 'mutation($input: PublishEventInput!) { publishEvent(input: $input) { deliveryCount } }';
const CREATE_WEBHOOK = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }';

let h: TestHerald;
let receiver: Receiver;
let a: Tenant;
let b: Tenant;
beforeAll(async () => {
  ({ h, tenant: a, receiver } = await startWithReceiver({ tenant: 'a' }));
  b = await createTenant(h, 'b');
});
afterAll(() => stopAll(h, receiver));

test('a type created with the admin key and no tenant is platform-wide: every tenant sees, subscribes to and publishes it', async () => {
  expect((await h.ok(CREATE, { input: { name: 'MESSAGE_RECEIVED', description: 'Hub' } })).createEventType).toEqual({
    name: 'MESSAGE_RECEIVED',
    builtIn: false,
    archived: false,
    tenantId: null,
  });
  for (const t of [a, b]) {
    expect((await h.ok(LIST, {}, t.key)).eventTypes).toContainEqual({
      name: 'MESSAGE_RECEIVED',
      archived: false,
      builtIn: false,
      tenantId: null,
    });
  }
  const { id } = await createWebhook(h, b.key, { url: `${receiver.url}/b`, events: ['MESSAGE_RECEIVED'] });
  const { eventId, deliveryCount } = await publish(h, b.key, { type: 'MESSAGE_RECEIVED', data: { phone: '5511' } });
  expect(deliveryCount).toBe(1);
  const [delivery] = await listDeliveries(h, b.key, { eventId, webhookId: id });
  expect(await waitForDelivery(h, b.key, delivery.id)).toMatchObject({ status: 'SUCCEEDED' });
  // Its name is taken for every tenant, and a tenant's own name cannot become platform-wide.
  expectError(await h.gql(CREATE, { input: { name: 'MESSAGE_RECEIVED' } }, a.key), 'VALIDATION_ERROR', 'name');
  await h.ok(CREATE, { input: { name: 'invoice.paid' } }, a.key);
  expectError(await h.gql(CREATE, { input: { name: 'invoice.paid' } }), 'VALIDATION_ERROR', 'name');
});

test.each(['contact.created', 'RECEIVED_AND_DELIVERY', 'a-b_c.d', 'x'.repeat(100)])('"%s" is a valid name', async (name) => {
  expect((await h.ok(CREATE, { input: { name, tenantId: a.id } })).createEventType.tenantId).toBe(a.id);
});

test.each(['has space', 'star.*', 'x'.repeat(101), 'ünïcode', ''])('"%s" is refused', async (name) => {
  expectError(await h.gql(CREATE, { input: { name } }, a.key), 'VALIDATION_ERROR', 'name');
});

test('an archived built-in cannot be published or newly subscribed to; a webhook that has it keeps it and receives nothing', async () => {
  const subscribed = await createWebhook(h, a.key, { url: `${receiver.url}/optout`, events: ['message.optout', 'message.sent'] });
  await createWebhook(h, a.key, { url: `${receiver.url}/all`, events: ['*'] });
  const archived = (await h.ok(UPDATE, { name: 'message.optout', input: { archived: true, description: 'Not used here' } }))
    .updateEventType;
  // The built-in's example stays unless the operators change it.
  expect(archived).toEqual({
    name: 'message.optout',
    description: 'Not used here',
    example: { from: '+14155550123', to: '+14155550100', channel: 'sms', keyword: 'STOP' },
    archived: true,
    builtIn: true,
    tenantId: null,
  });
  expect((await h.ok(LIST, {}, b.key)).eventTypes).toContainEqual({
    name: 'message.optout',
    archived: true,
    builtIn: true,
    tenantId: null,
  });

  expectError(await h.gql(PUBLISH, { input: { type: 'message.optout', data: {} } }, a.key), 'VALIDATION_ERROR', 'type');
  const fresh = await h.gql(CREATE_WEBHOOK, { input: { url: `${receiver.url}/x`, events: ['message.optout'] } }, a.key);
  expectError(fresh, 'VALIDATION_ERROR', 'events');
  // The existing subscription stays (an update that keeps it is accepted); nothing is delivered for it.
  await updateWebhook(h, a.key, subscribed.id, { events: ['message.optout', 'message.sent'], description: 'kept' });
  expect(receiver.requests.filter((r) => r.url === '/optout' || r.url === '/all')).toHaveLength(0);

  await h.ok(UPDATE, { name: 'message.optout', input: { archived: false } });
  expect((await publish(h, a.key, { type: 'message.optout', data: {} })).deliveryCount).toBe(2);
});

test('who may change what: admin the built-in and platform-wide types, a tenant only its own', async () => {
  expectError(await h.gql(UPDATE, { name: 'message.sent', input: { archived: true } }, a.key), 'FORBIDDEN');
  expectError(await h.gql(UPDATE, { name: 'MESSAGE_RECEIVED', input: { description: 'mine' } }, a.key), 'FORBIDDEN');
  expectError(await h.gql(UPDATE, { name: 'invoice.paid', input: { archived: true } }, b.key), 'NOT_FOUND');
  const own = (await h.ok(UPDATE, { name: 'invoice.paid', input: { example: { amount: 5 }, archived: true } }, a.key)).updateEventType;
  expect(own).toMatchObject({ name: 'invoice.paid', example: { amount: 5 }, archived: true, tenantId: a.id });
  expectError(await h.gql(PUBLISH, { input: { type: 'invoice.paid', data: {} } }, a.key), 'VALIDATION_ERROR', 'type');
  // The admin key names the tenant of a tenant's own type.
  expect((await h.ok(UPDATE, { name: 'invoice.paid', input: { archived: false, tenantId: a.id } })).updateEventType.archived).toBe(false);
  expectError(await h.gql(UPDATE, { name: 'webhook.test', input: { archived: true } }), 'VALIDATION_ERROR', 'archived');
  // Herald sends operational events itself: a webhook stops one by not naming it.
  expectError(await h.gql(UPDATE, { name: 'delivery.exhausted', input: { archived: true } }), 'VALIDATION_ERROR', 'archived');
  expectError(await h.gql(UPDATE, { name: 'no.such', input: { archived: true } }), 'NOT_FOUND');
  // The admin key naming a tenant on a type of no tenant is told to leave tenantId out, and nothing changes.
  for (const name of ['message.sent', 'MESSAGE_RECEIVED']) {
    const error = expectError(await h.gql(UPDATE, { name, input: { archived: true, tenantId: a.id } }), 'VALIDATION_ERROR', 'tenantId');
    expect(error.message).not.toMatch(/admin key/);
  }
  const types = (await h.ok(LIST, {}, a.key)).eventTypes;
  expect(types.filter((t: any) => t.name === 'message.sent' || t.name === 'MESSAGE_RECEIVED').map((t: any) => t.archived)).toEqual([
    false,
    false,
  ]);
});

test('priority: built-ins ship HIGH for opt-outs, blocks and tests; only the admin key changes it, on shared types, and deliveries carry it', async () => {
  const priorities = new Map(
    ((await h.ok('{ eventTypes { name priority } }', {}, a.key)).eventTypes as { name: string; priority: string }[]).map((t) => [
      t.name,
      t.priority,
    ]),
  );
  expect([priorities.get('message.optout'), priorities.get('message.blocked'), priorities.get('webhook.test')]).toEqual([
    'HIGH',
    'HIGH',
    'HIGH',
  ]);
  expect(priorities.get('message.sent')).toBe('NORMAL');

  const PRIORITY =
    'mutation($name: String!, $input: UpdateEventTypeInput!) { updateEventType(name: $name, input: $input) { name priority } }';
  // A tenant cannot jump the queue for everyone: not on a shared type, not on its own.
  expectError(await h.gql(PRIORITY, { name: 'message.sent', input: { priority: 'HIGH' } }, a.key), 'FORBIDDEN');
  await h.ok(CREATE, { input: { name: 'order.rushed' } }, a.key);
  expectError(await h.gql(PRIORITY, { name: 'order.rushed', input: { priority: 'HIGH' } }, a.key), 'FORBIDDEN');
  expectError(await h.gql(PRIORITY, { name: 'order.rushed', input: { priority: 'HIGH', tenantId: a.id } }), 'VALIDATION_ERROR', 'priority');

  const priorityOf = async (type: string) => {
    const { eventId } = await publish(h, a.key, { type, data: {} });
    const [delivery] = await listDeliveries(h, a.key, { eventId });
    return (await h.ok('query($id: ID!) { delivery(id: $id) { priority } }', { id: delivery.id }, a.key)).delivery.priority;
  };
  await createWebhook(h, a.key, { url: `${receiver.url}/priority`, events: ['*'] });
  expect(await priorityOf('message.sent')).toBe('NORMAL');
  expect(await priorityOf('message.optout')).toBe('HIGH');
  expect((await h.ok(PRIORITY, { name: 'message.sent', input: { priority: 'LOW' } })).updateEventType).toEqual({
    name: 'message.sent',
    priority: 'LOW',
  });
  expect(await priorityOf('message.sent')).toBe('LOW');
  expect(await priorityOf('order.rushed')).toBe('NORMAL');
  // null: back to the default.
  expect((await h.ok(PRIORITY, { name: 'message.sent', input: { priority: null } })).updateEventType.priority).toBe('NORMAL');
  expect(await priorityOf('message.sent')).toBe('NORMAL');
});
