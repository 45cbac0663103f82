// Operational events under delivery profiles: each goes to a webhook exactly as that webhook's
// published events do (its profile, else its tenant's, else HERALD_DEFAULT_PROFILE), so its
// receiver verifies it the same way; one its profile cannot render fails alone (TRANSFORM) and
// reports nothing further.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, listDeliveries, publish } from '../helpers/deliveries.ts';
import { LOCAL_RECEIVERS, startTestHerald, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import { exampleProfile, hexHmacMatches, upsertProfile } from '../helpers/platforms.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
const receivers: Receiver[] = [];

beforeAll(async () => {
  h = await startTestHerald({ ...LOCAL_RECEIVERS, HERALD_EXHAUSTED_WINDOW: '1s', HERALD_LEASE: '2s' });
  // Zavu's profile renders its own body (projectId: the tenant's externalId) and signs it sha256=<hex>.
  await upsertProfile(h, exampleProfile('zavu'));
  // Renders the example event (no `url` in its data) but not an operational one: a string plus 1.
  await upsertProfile(h, {
    name: 'breaks-on-url',
    description: 'A body expression that fails for data with a url',
    definition: { ...exampleProfile('zexa').definition, body: '{ "u": data.url + 1 }' },
  });
});
afterAll(() => stopAll(h, ...receivers));

async function answering(status: number): Promise<Receiver> {
  const r = await startReceiver({ handler: (_req, res) => res.writeHead(status).end() });
  receivers.push(r);
  return r;
}

async function tenantWith(input: { name: string; externalId?: string; profile?: string }): Promise<Tenant> {
  const data = await h.ok<{ createTenant: { tenant: { id: string }; apiKey: string } }>(
    'mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } apiKey } }',
    { input },
  );
  return { id: data.createTenant.tenant.id, key: data.createTenant.apiKey };
}

/** Zavu's receiver, from its contract: X-Zavu-Signature sha256=<hex HMAC of the raw body>, compact JSON {id,type,timestamp,projectId,data}. */
function zavuEvent(request: ReceivedRequest, secret: string) {
  const signature = String(request.headers['x-zavu-signature'] ?? '');
  expect(signature.startsWith('sha256=')).toBe(true);
  expect(hexHmacMatches(signature.slice('sha256='.length), secret, request.body)).toBe(true);
  expect(JSON.stringify(JSON.parse(request.body))).toBe(request.body);
  const body = JSON.parse(request.body);
  expect(Object.keys(body)).toEqual(['id', 'type', 'timestamp', 'projectId', 'data']);
  return body;
}

async function eventTypesOf(tenantId: string): Promise<Record<string, number>> {
  return withPgClient(h.databaseUrl, async (client) => {
    const { rows } = await client.query<{ type: string; n: number }>(
      'select type, count(*)::int as n from event where tenant_id = $1 group by type',
      [tenantId],
    );
    return Object.fromEntries(rows.map((r) => [r.type, r.n]));
  });
}

test('delivery.exhausted goes to a tenant webhook under its tenant’s custom-body profile, and to an operator webhook under its own, rendered and signed by each', async () => {
  const tenant = await tenantWith({ name: 'zavu-customer', externalId: 'proj_42', profile: 'zavu' });
  const endpoint = await answering(500);
  const inbox = await answering(200);
  const operatorInbox = await answering(200);
  // Both inherit the tenant's profile: the failing one's message and the inbox's notice are Zavu's.
  const failing = await createWebhook(h, tenant.key, { url: `${endpoint.url}/hook`, events: ['message.sent'], retrySchedule: [] });
  const notices = await createWebhook(h, tenant.key, { url: `${inbox.url}/ops`, events: ['delivery.exhausted'] });
  const operator = await createWebhook(h, h.adminKey, {
    url: `${operatorInbox.url}/op`,
    events: ['delivery.exhausted'],
    operator: true,
    profile: 'zavu',
  });

  const { eventId } = await publish(h, tenant.key, { type: 'message.sent', data: { messageId: 'zv-1' } });
  await expect.poll(() => inbox.requests.length, { timeout: 15_000 }).toBe(1);
  await expect.poll(() => operatorInbox.requests.length, { timeout: 15_000 }).toBe(1);

  const own = zavuEvent(inbox.requests[0], notices.secret);
  const operators = zavuEvent(operatorInbox.requests[0], operator.secret);
  for (const body of [own, operators]) {
    expect(body).toMatchObject({ type: 'delivery.exhausted', projectId: 'proj_42' });
    expect(body.data).toMatchObject({ webhookId: failing.id, eventId, eventType: 'message.sent', lastResponseStatus: 500, count: 1 });
  }
  // No Herald headers under Zavu's profile: the receiver has only Zavu's to go by.
  expect(inbox.requests[0].headers['webhook-signature']).toBeUndefined();
  // The API shows what was sent, and the profile it was sent under.
  const { deliveries } = await h.ok<{ deliveries: { edges: { node: { profile: string; body: string } }[] } }>(
    'query($filter: DeliveryFilter) { deliveries(first: 10, filter: $filter) { edges { node { profile body } } } }',
    { filter: { webhookId: notices.id } },
    tenant.key,
  );
  expect(deliveries.edges.map((e) => e.node)).toEqual([{ profile: 'zavu', body: inbox.requests[0].body }]);
});

test('an operational event its webhook’s profile cannot render fails that delivery with TRANSFORM, and nothing more follows', async () => {
  const tenant = await tenantWith({ name: 'broken-customer' });
  const endpoint = await answering(500);
  const inbox = await answering(200);
  const failing = await createWebhook(h, tenant.key, { url: `${endpoint.url}/hook`, events: ['message.sent'], retrySchedule: [] });
  const broken = await createWebhook(h, tenant.key, {
    url: `${inbox.url}/ops`,
    events: ['delivery.exhausted'],
    profile: 'breaks-on-url',
    retrySchedule: [1, 1],
  });

  await publish(h, tenant.key, { type: 'message.sent', data: { messageId: 'br-1' } });
  await expect
    .poll(async () => (await listDeliveries(h, tenant.key, { webhookId: broken.id }))[0]?.status, { timeout: 15_000 })
    .toBe('FAILED');
  const [notice] = await listDeliveries(h, tenant.key, { webhookId: broken.id });
  // Failed at once, though its schedule had retries left: every retry would fail alike.
  expect(notice).toMatchObject({ eventType: 'delivery.exhausted', attemptCount: 1, lastError: 'TRANSFORM' });
  expect(notice.attempts[0].errorMessage).toMatch(/body/);
  // Anything its failure caused was written when it was recorded; a follow-up of the fold window
  // (1 s here) is written when the sweeper closes it. Once closed, the events table is final.
  await expect
    .poll(
      () =>
        withPgClient(h.databaseUrl, async (client) => {
          const { rows } = await client.query('select 1 from exhausted_fold where webhook_id = $1', [failing.id]);
          return rows.length;
        }),
      { timeout: 15_000 },
    )
    .toBe(0);
  expect(inbox.requests).toHaveLength(0);
  expect(endpoint.requests).toHaveLength(1);
  expect(await eventTypesOf(tenant.id)).toEqual({ 'message.sent': 1, 'delivery.exhausted': 1 });
  const [exhausted] = await listDeliveries(h, tenant.key, { webhookId: failing.id });
  expect(exhausted.status).toBe('FAILED');
});
