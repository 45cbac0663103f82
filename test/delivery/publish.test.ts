import { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PGBOSS_SCHEMA } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { initORM, type MikroORM } from '../../src/db/orm.ts';
import { DELIVERY_QUEUE } from '../../src/jobs/queue.ts';
import { publishEvents } from '../../src/services/events.ts';
import { withPgClient } from '../helpers/db.ts';
import {
  createWebhook,
  deliveryOf,
  listDeliveries,
  PUBLISH_MANY,
  PUBLISH_ONE,
  publish,
  sleep,
  updateWebhook,
  waitForDelivery,
} from '../helpers/deliveries.ts';
import { createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_ALLOW_HTTP: 'true' });
});
afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

/** Rows of `table` belonging to a tenant. */
async function countRows(table: 'event' | 'delivery', tenantId: string): Promise<number> {
  return withPgClient(h.databaseUrl, async (client) => {
    const { rows } = await client.query(`select count(*)::int as n from ${table} where tenant_id = $1`, [tenantId]);
    return rows[0].n;
  });
}

describe('fan-out', () => {
  test('publishEvents creates one delivery per matching webhook: events list, "*", channels; none for DISABLED or deleted', async () => {
    const tenant = await createTenant(h, 'fan-out');
    const hook = (name: string, input: Record<string, unknown>) =>
      createWebhook(h, tenant.key, { url: `${receiver.url}/${name}`, ...input });
    const delivered = await hook('delivered', { events: ['message.delivered'] });
    const all = await hook('all', { events: ['*'] });
    const smsOnly = await hook('sms-only', { events: ['message.delivered', 'message.sent'], channels: ['sms'] });
    const disabled = await hook('disabled', { events: ['*'] });
    const deleted = await hook('deleted', { events: ['*'] });
    // Only Herald disables a webhook (410, auto-disable); the row is set directly here.
    await withPgClient(h.databaseUrl, (c) =>
      c.query(`update webhook set status = 'DISABLED', disabled_reason = 'test' where id = $1`, [disabled.id]),
    );
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: deleted.id }, tenant.key);

    const inputs = [
      { type: 'message.delivered', channel: 'sms', data: { n: 1 } },
      { type: 'message.delivered', channel: 'whatsapp', data: { n: 2 } },
      { type: 'message.sent', data: { n: 3 } },
      { type: 'message.sent', channel: 'sms', data: { n: 4 } },
      { type: 'campaign.completed', data: { n: 5 } },
    ];
    const { publishEvents: results } = await h.ok(PUBLISH_MANY, { inputs }, tenant.key);
    const expected = [
      [delivered.id, all.id, smsOnly.id],
      [delivered.id, all.id],
      [all.id], // a channel filter never matches an event without a channel
      [all.id, smsOnly.id],
      [all.id],
    ];
    expect(results.map((r: { deliveryCount: number }) => r.deliveryCount)).toEqual(expected.map((e) => e.length));
    expect(results.map((r: { event: { type: string } }) => r.event.type)).toEqual(inputs.map((i) => i.type));
    for (const [i, result] of results.entries()) {
      const deliveries = await listDeliveries(h, tenant.key, { eventId: result.event.id });
      expect(deliveries.map((d) => d.webhookId).sort(), `event ${i}`).toEqual([...expected[i]].sort());
    }
    expect(await countRows('delivery', tenant.id)).toBe(9);
    // And they all go out.
    await expect.poll(async () => (await listDeliveries(h, tenant.key, { status: 'SUCCEEDED' })).length, { timeout: 10_000 }).toBe(9);
    expect(receiver.requests.filter((r) => r.url === '/disabled' || r.url === '/deleted')).toHaveLength(0);
  });

  test('a tenant’s events never reach another tenant’s webhooks; the admin key publishes with tenantId', async () => {
    const a = await createTenant(h, 'tenant-a');
    const b = await createTenant(h, 'tenant-b');
    await createWebhook(h, a.key, { url: `${receiver.url}/tenant-a` });
    const hookB = await createWebhook(h, b.key, { url: `${receiver.url}/tenant-b` });
    expect((await publish(h, a.key)).deliveryCount).toBe(1);
    const { publishEvent } = await h.ok(PUBLISH_ONE, { input: { type: 'message.sent', data: {}, tenantId: b.id } });
    expect(publishEvent.deliveryCount).toBe(1);
    expect((await listDeliveries(h, b.key, {})).map((d) => d.webhookId)).toEqual([hookB.id]);
  });
});

describe('idempotency keys', () => {
  test('the same key and payload returns the original event and creates nothing; a different payload is CONFLICT', async () => {
    const tenant = await createTenant(h, 'idempotent');
    await createWebhook(h, tenant.key, { url: `${receiver.url}/idempotent` });
    const input = { type: 'message.delivered', channel: 'sms', data: { messageId: 'm1' }, idempotencyKey: 'order-1' };

    const first = await publish(h, tenant.key, input);
    expect(first.deliveryCount).toBe(1);
    await expect.poll(() => receiver.requests.filter((r) => r.url === '/idempotent').length).toBe(1);

    const again = await publish(h, tenant.key, input);
    expect(again).toEqual(first);
    // Within one call too: both entries are the original event.
    const { publishEvents: batch } = await h.ok(PUBLISH_MANY, { inputs: [input, input] }, tenant.key);
    expect(batch.map((r: { event: { id: string } }) => r.event.id)).toEqual([first.eventId, first.eventId]);
    expect(await countRows('event', tenant.id)).toBe(1);
    expect(await countRows('delivery', tenant.id)).toBe(1);

    for (const changed of [{ data: { messageId: 'm2' } }, { channel: 'whatsapp' }, { type: 'message.sent' }]) {
      const result = await h.gql(PUBLISH_ONE, { input: { ...input, ...changed } }, tenant.key);
      expectError(result, 'CONFLICT');
    }
    // A conflict inside a batch rolls the whole batch back.
    const mixed = await h.gql(
      PUBLISH_MANY,
      {
        inputs: [
          { type: 'message.sent', data: {} },
          { ...input, data: { messageId: 'other' } },
        ],
      },
      tenant.key,
    );
    expectError(mixed, 'CONFLICT');
    expect(await countRows('event', tenant.id)).toBe(1);
    expect(await countRows('delivery', tenant.id)).toBe(1);
    await sleep(300);
    expect(receiver.requests.filter((r) => r.url === '/idempotent')).toHaveLength(1);
  });

  test('concurrent publishes with one key make one event and one delivery', async () => {
    const tenant = await createTenant(h, 'idempotent-race');
    await createWebhook(h, tenant.key, { url: `${receiver.url}/idempotent-race` });
    const input = { type: 'message.failed', data: { messageId: 'race' }, idempotencyKey: 'race-1' };
    const results = await Promise.all(Array.from({ length: 8 }, () => publish(h, tenant.key, input)));
    expect(new Set(results.map((r) => r.eventId)).size).toBe(1);
    expect(results.map((r) => r.deliveryCount)).toEqual(Array(8).fill(1));
    expect(await countRows('event', tenant.id)).toBe(1);
    expect(await countRows('delivery', tenant.id)).toBe(1);
  });
});

describe('validation', () => {
  test('data over 256 KiB serialized → PAYLOAD_TOO_LARGE (413), nothing stored, even beside valid events', async () => {
    const tenant = await createTenant(h, 'too-large');
    await createWebhook(h, tenant.key, { url: `${receiver.url}/too-large` });
    const big = { blob: 'x'.repeat(256 * 1024) };
    expectError(await h.gql(PUBLISH_ONE, { input: { type: 'message.inbound', data: big } }, tenant.key), 'PAYLOAD_TOO_LARGE');
    const batch = await h.gql(
      PUBLISH_MANY,
      {
        inputs: [
          { type: 'message.inbound', data: { ok: true } },
          { type: 'message.inbound', data: big },
        ],
      },
      tenant.key,
    );
    expectError(batch, 'PAYLOAD_TOO_LARGE');
    expect(await countRows('event', tenant.id)).toBe(0);
    expect(await countRows('delivery', tenant.id)).toBe(0);
    // Just under the limit is accepted.
    const fits = { blob: 'x'.repeat(256 * 1024 - '{"blob":""}'.length) };
    expect(Buffer.byteLength(JSON.stringify(fits))).toBe(256 * 1024);
    expect((await publish(h, tenant.key, { type: 'message.inbound', data: fits })).deliveryCount).toBe(1);
  });

  test('orderingKey and idempotencyKey are 1 to 255 characters, counted as characters (code points), not UTF-16 units', async () => {
    const tenant = await createTenant(h, 'key-length');
    const hook = await createWebhook(h, tenant.key, { url: `${receiver.url}/keyed`, ordering: 'KEYED' });
    const emoji = '😀'; // one character, two UTF-16 units, four bytes
    const longest = emoji.repeat(255);
    const { eventId } = await publish(h, tenant.key, { type: 'message.sent', data: {}, orderingKey: longest, idempotencyKey: longest });
    const stored = await withPgClient(h.databaseUrl, async (db) => {
      const { rows } = await db.query(
        'select d.ordering_key, e.idempotency_key from delivery d join event e on e.id = d.event_id where e.id = $1',
        [eventId],
      );
      return rows[0];
    });
    expect(stored).toEqual({ ordering_key: longest, idempotency_key: longest });
    expect((await deliveryOf(h, tenant.key, eventId, hook.id)).id).toBeTruthy();

    const over = emoji.repeat(256);
    for (const field of ['orderingKey', 'idempotencyKey']) {
      const result = await h.gql(PUBLISH_ONE, { input: { type: 'message.sent', data: {}, [field]: over } }, tenant.key);
      const error = expectError(result, 'VALIDATION_ERROR', field);
      expect(JSON.stringify(error)).toContain('must be 1 to 255 characters');
      expectError(
        await h.gql(PUBLISH_ONE, { input: { type: 'message.sent', data: {}, [field]: '' } }, tenant.key),
        'VALIDATION_ERROR',
        field,
      );
    }
    expect(await countRows('event', tenant.id)).toBe(1);
  });

  test('an unknown event type → VALIDATION_ERROR on type, nothing stored', async () => {
    const tenant = await createTenant(h, 'unknown-type');
    expectError(await h.gql(PUBLISH_ONE, { input: { type: 'message.teleported', data: {} } }, tenant.key), 'VALIDATION_ERROR', 'type');
    const batch = await h.gql(
      PUBLISH_MANY,
      {
        inputs: [
          { type: 'message.sent', data: {} },
          { type: 'nope', data: {} },
        ],
      },
      tenant.key,
    );
    expectError(batch, 'VALIDATION_ERROR', 'inputs[1].type');
    expect(await countRows('event', tenant.id)).toBe(0);
  });
});

describe('paused webhooks', () => {
  test('deliveries wait as PENDING while paused and go out when it is resumed', async () => {
    const tenant = await createTenant(h, 'paused');
    const webhook = await createWebhook(h, tenant.key, { url: `${receiver.url}/paused` });
    expect((await updateWebhook(h, tenant.key, webhook.id, { status: 'PAUSED' })).status).toBe('PAUSED');

    const events = [await publish(h, tenant.key), await publish(h, tenant.key, { type: 'message.read' })];
    expect(events.map((e) => e.deliveryCount)).toEqual([1, 1]);
    await sleep(2000);
    expect(receiver.requests.filter((r) => r.url === '/paused')).toHaveLength(0);
    for (const { eventId } of events) {
      expect(await deliveryOf(h, tenant.key, eventId, webhook.id)).toMatchObject({
        status: 'PENDING',
        attemptCount: 0,
        nextAttemptAt: null,
      });
    }

    expect((await updateWebhook(h, tenant.key, webhook.id, { status: 'ACTIVE' })).status).toBe('ACTIVE');
    await expect.poll(() => receiver.requests.filter((r) => r.url === '/paused').length, { timeout: 5000 }).toBe(2);
    for (const { eventId } of events) {
      const { id } = await deliveryOf(h, tenant.key, eventId, webhook.id);
      expect(await waitForDelivery(h, tenant.key, id)).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
    }
  });
});

describe('one transaction', () => {
  let orm: MikroORM;
  let boss: PgBoss;

  beforeAll(async () => {
    orm = await initORM(h.databaseUrl, { poolSize: 2 });
    boss = new PgBoss({ connectionString: h.databaseUrl, schema: PGBOSS_SCHEMA, supervise: false, schedule: false, migrate: false });
    await boss.start();
  });
  afterAll(async () => {
    await boss?.stop({ graceful: false });
    await orm?.close();
  });

  async function countJobsFor(deliveryIds: string[]): Promise<number> {
    return withPgClient(h.databaseUrl, async (client) => {
      const { rows } = await client.query(
        `select count(*)::int as n from ${PGBOSS_SCHEMA}.job where name = $1 and data->'d' ?| $2::text[]`,
        [DELIVERY_QUEUE, deliveryIds],
      );
      return rows[0].n;
    });
  }

  test('a failure after every insert leaves no event, delivery nor pg-boss job', async () => {
    const tenant = await createTenant(h, 'atomic');
    await createWebhook(h, tenant.key, { url: `${receiver.url}/atomic-1` });
    await createWebhook(h, tenant.key, { url: `${receiver.url}/atomic-2` });
    const ctx = () => ({
      em: orm.em.fork(),
      caller: { kind: 'tenant' as const, tenantId: tenant.id, apiKeyId: 'key_test' },
      config: loadConfig(h.env),
      encryptionKey: Buffer.from(h.encryptionKey, 'base64'),
      boss,
    });
    const inputs = [
      { type: 'message.delivered', channel: 'sms', data: { n: 1 } },
      { type: 'message.sent', data: { n: 2 } },
    ];

    // The real insert runs (inside the transaction, through its `db` option), then the
    // publish fails: the job, the deliveries and the events must all roll back.
    const queued: string[] = [];
    let visibleInTransaction = 0;
    const insert = boss.insert.bind(boss);
    const failing = Object.create(boss) as PgBoss;
    failing.insert = async (name, jobs, options) => {
      await insert(name, jobs, options);
      queued.push(...jobs.flatMap((j) => (j.data as { d: string[] }).d));
      // Seen through the transaction's own connection: the jobs were written, not yet committed.
      const { rows } = await options!.db!.executeSql(
        `select count(*)::int as n from ${PGBOSS_SCHEMA}.job where name = $1 and data->'d' ?| $2::text[]`,
        [DELIVERY_QUEUE, queued],
      );
      visibleInTransaction = rows[0].n;
      throw new Error('simulated failure after the job insert');
    };
    await expect(publishEvents({ ...ctx(), boss: failing }, inputs)).rejects.toThrow('simulated failure');

    expect(queued).toHaveLength(4);
    expect(visibleInTransaction).toBeGreaterThanOrEqual(1);
    expect(await countRows('event', tenant.id)).toBe(0);
    expect(await countRows('delivery', tenant.id)).toBe(0);
    expect(await countJobsFor(queued)).toBe(0);

    // The same call with a working pg-boss stores all three (so the counts above can see rows).
    const published = await publishEvents(ctx(), inputs);
    expect(published.map((p) => p.deliveryCount)).toEqual([2, 2]);
    expect(await countRows('event', tenant.id)).toBe(2);
    const deliveryIds = (await listDeliveries(h, tenant.key, {})).map((d) => d.id);
    expect(deliveryIds).toHaveLength(4);
    expect(await countJobsFor(deliveryIds)).toBeGreaterThanOrEqual(1);
    await expect.poll(async () => (await listDeliveries(h, tenant.key, { status: 'SUCCEEDED' })).length, { timeout: 10_000 }).toBe(4);
  });
});
