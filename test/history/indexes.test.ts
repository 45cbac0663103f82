import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createWebhook } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import {
  type CapturedQuery,
  DAY,
  describePlan,
  explain,
  INDEX_NODES,
  planNodes,
  type Seeded,
  type SqlSpy,
  seedHistory,
  spyOnSql,
} from '../helpers/history.ts';

/**
 * History reads must stay index-backed at volume. 10 000 attempts (5 000 deliveries and
 * events) for one webhook, next to other webhooks and another tenant, then ANALYZE, then
 * EXPLAIN of the very statements Herald sends for each read (captured on the wire, with
 * their parameters).
 */

let h: TestHerald;
let spy: SqlSpy;
let db: pg.Client;
let a: { id: string; key: string };
let b: { id: string; key: string };
let webhookId: string;
let seeded: Seeded[];
/** Every plan checked, for the report at the end. */
const seen: { read: string; nodes: string[] }[] = [];

const TYPES = ['message.delivered', 'message.sent', 'message.read', 'message.inbound', 'message.failed'];

beforeAll(async () => {
  // API only: no worker to touch the seeded rows while plans are read.
  h = await startTestHerald({ HERALD_ROLE: 'api', HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  a = await createTenant(h, 'busy');
  b = await createTenant(h, 'neighbour');
  webhookId = (await createWebhook(h, a.key, { url: 'http://127.0.0.1:9/busy' })).id;
  const otherA = (await createWebhook(h, a.key, { url: 'http://127.0.0.1:9/other' })).id;
  const otherB = (await createWebhook(h, b.key, { url: 'http://127.0.0.1:9/b' })).id;
  db = new pg.Client({ connectionString: h.databaseUrl });
  await db.connect();

  const now = Date.now();
  const spread = (i: number, n: number) => now - 60_000 - Math.floor((i * 10 * DAY) / n); // over the last 10 days
  // The busy webhook: 5 000 deliveries × 2 attempts = 10 000 attempts; 1 in 10 FAILED.
  seeded = await seedHistory(
    db,
    { tenantId: a.id, webhookId },
    Array.from({ length: 5000 }, (_, i) => ({
      at: spread(i, 5000),
      status: i % 10 === 3 ? ('FAILED' as const) : ('SUCCEEDED' as const),
      attempts: 2,
      eventType: TYPES[i % TYPES.length],
    })),
  );
  // Neighbours: another webhook of the same tenant, and another tenant.
  await seedHistory(
    db,
    { tenantId: a.id, webhookId: otherA },
    Array.from({ length: 3000 }, (_, i) => ({ at: spread(i, 3000), status: 'SUCCEEDED' as const, attempts: 1 })),
  );
  await seedHistory(
    db,
    { tenantId: b.id, webhookId: otherB },
    Array.from({ length: 3000 }, (_, i) => ({ at: spread(i, 3000), status: 'SUCCEEDED' as const, attempts: 1 })),
  );
  await db.query('analyze');
  const { rows } = await db.query(`select count(*)::int as n from attempt where webhook_id = $1`, [webhookId]);
  expect(rows[0].n).toBe(10_000);
  spy = spyOnSql();
}, 120_000);

afterAll(async () => {
  spy?.restore();
  await db?.end();
  await h?.stop();
  console.log(`EXPLAIN node types seen:\n${seen.map((s) => `  ${s.read}: ${s.nodes.join(' > ')}`).join('\n')}`);
});

/** Runs a GraphQL read as tenant A (or `key`), and returns the statements it sent that read `table`. */
async function statementsOf(query: string, variables: Record<string, unknown>, table: 'delivery' | 'attempt', key = a.key) {
  const { result, queries } = await spy.record(() => h.ok(query, variables, key));
  const reads = queries.filter((q) => new RegExp(`from "?${table}"?\\b`, 'i').test(q.text));
  expect(reads.length, `no statement reading ${table} among ${JSON.stringify(queries.map((q) => q.text))}`).toBeGreaterThan(0);
  return { data: result, reads };
}

/** Asserts the statement is index-backed on delivery/attempt: an index node there, no Seq Scan. */
async function expectIndexBacked(read: string, statement: CapturedQuery) {
  const plan = await explain(db, statement);
  const nodes = planNodes(plan);
  const described = describePlan(plan);
  seen.push({ read, nodes: described });
  const message = `${read}\n${statement.text}\n${described.join('\n')}`;
  const seqScans = nodes.filter((n) => n['Node Type'] === 'Seq Scan' && ['delivery', 'attempt'].includes(n['Relation Name'] ?? ''));
  expect(seqScans, message).toEqual([]);
  const indexed = nodes.filter(
    (n) => INDEX_NODES.has(n['Node Type']) && /^(delivery|attempt)/.test(n['Index Name'] ?? n['Relation Name'] ?? ''),
  );
  expect(indexed.length, message).toBeGreaterThan(0);
}

const PAGE = `query($first: Int, $after: String, $filter: DeliveryFilter) {
  deliveries(first: $first, after: $after, filter: $filter) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
}`;

test('a webhook’s deliveries page (first page and a later one, after a cursor) is an index scan', async () => {
  const first = await statementsOf(PAGE, { first: 20, filter: { webhookId } }, 'delivery');
  expect(first.data.deliveries.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(seeded.slice(0, 20).map((s) => s.deliveryId));
  await expectIndexBacked('deliveries(filter: {webhookId}) page 1', first.reads[0]);

  // Deep in the history: the cursor of the 2 500th delivery.
  const after = Buffer.from(seeded[2499].deliveryId).toString('base64url');
  const later = await statementsOf(PAGE, { first: 20, after, filter: { webhookId } }, 'delivery');
  expect(later.data.deliveries.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(
    seeded.slice(2500, 2520).map((s) => s.deliveryId),
  );
  // The shape the issue names: tenant, webhook, id below the cursor, newest first, limit + 1.
  // (MikroORM inlines the values into the statement; either form is accepted.)
  const value = String.raw`(\$\d+|'[^']*')`;
  const sql = later.reads[0].text;
  expect(sql).toMatch(new RegExp(`"?tenant_id"? = ${value}`));
  expect(sql).toMatch(new RegExp(`"?webhook_id"? = ${value}`));
  expect(sql).toMatch(new RegExp(`"?id"? < ${value}`));
  expect(sql).toMatch(/order by "?\w+"?\."?id"? desc limit (21|\$\d+)$/i);
  await expectIndexBacked('deliveries(filter: {webhookId}, after)', later.reads[0]);
});

test('the tenant-wide page, and pages filtered by status, event type, event or time window, are index-backed', async () => {
  const after = Buffer.from(seeded[1000].deliveryId).toString('base64url');
  const reads: [string, Record<string, unknown>][] = [
    ['deliveries (tenant)', { first: 20 }],
    ['deliveries (tenant, after)', { first: 20, after }],
    ['deliveries(filter: {status: FAILED})', { first: 20, filter: { status: 'FAILED' } }],
    ['deliveries(filter: {webhookId, status: FAILED}, after)', { first: 20, after, filter: { webhookId, status: 'FAILED' } }],
    ['deliveries(filter: {eventType})', { first: 20, filter: { eventType: 'message.read' } }],
    ['deliveries(filter: {eventId})', { first: 20, filter: { eventId: seeded[1234].eventId } }],
    [
      'deliveries(filter: {since, until})',
      { first: 20, filter: { since: new Date(Date.now() - 3 * DAY), until: new Date(Date.now() - 2 * DAY) } },
    ],
  ];
  for (const [read, variables] of reads) {
    const { reads: statements } = await statementsOf(PAGE, variables, 'delivery');
    await expectIndexBacked(read, statements[0]);
  }
  // An admin naming the tenant reads the same way.
  const admin = await statementsOf(PAGE, { first: 20, after, filter: { tenantId: a.id } }, 'delivery', h.adminKey);
  await expectIndexBacked('deliveries(filter: {tenantId}) as admin', admin.reads[0]);
});

test('event(id) { deliveries } and webhook(id) { deliveries(status) } are index-backed', async () => {
  const event = await statementsOf(
    'query($id: ID!) { event(id: $id) { deliveries { edges { node { id } } } } }',
    { id: seeded[4321].eventId },
    'delivery',
  );
  expect(event.data.event.deliveries.edges).toEqual([{ node: { id: seeded[4321].deliveryId } }]);
  await expectIndexBacked('event(id) { deliveries }', event.reads[0]);

  const webhook = await statementsOf(
    'query($id: ID!) { webhook(id: $id) { deliveries(status: FAILED, first: 20) { edges { node { id status } } } } }',
    { id: webhookId },
    'delivery',
  );
  expect(webhook.data.webhook.deliveries.edges).toHaveLength(20);
  expect(webhook.data.webhook.deliveries.edges.every((e: { node: { status: string } }) => e.node.status === 'FAILED')).toBe(true);
  await expectIndexBacked('webhook(id) { deliveries(status: FAILED) }', webhook.reads[0]);
});

test('the attempts of a delivery are read through an index', async () => {
  const target = seeded[3333];
  const { data, reads } = await statementsOf(
    'query($id: ID!) { delivery(id: $id) { id attempts { id number } } }',
    { id: target.deliveryId },
    'attempt',
  );
  expect(data.delivery.attempts).toEqual(target.attemptIds.map((id, i) => ({ id, number: i + 1 })));
  await expectIndexBacked('delivery(id) { attempts }', reads[0]);

  // And the batched form the dataloader sends for a page of deliveries.
  const page = await statementsOf(
    'query($filter: DeliveryFilter) { deliveries(first: 50, filter: $filter) { edges { node { attempts { id } } } } }',
    { filter: { webhookId } },
    'attempt',
  );
  expect(page.reads).toHaveLength(1);
  await expectIndexBacked('deliveries(first: 50) { attempts } (batched)', page.reads[0]);
});

test('Webhook.stats is computed with index scans', async () => {
  const { data, reads } = await statementsOf(
    `query($id: ID!) { webhook(id: $id) { stats { deliveries24h succeeded24h failed24h successRate24h latencyP50Ms latencyP95Ms } } }`,
    { id: webhookId },
    'delivery',
  );
  // 5 000 deliveries over 10 days: about 500 in the last 24 h, 1 in 10 FAILED.
  const stats = data.webhook.stats;
  expect(stats.deliveries24h).toBeGreaterThan(450);
  expect(stats.deliveries24h).toBeLessThan(550);
  expect(stats.failed24h + stats.succeeded24h).toBe(stats.deliveries24h);
  expect(stats.successRate24h).toBeCloseTo(0.9, 1);
  expect(stats.latencyP50Ms).toBe(50);
  await expectIndexBacked('webhook(id) { stats }', reads[0]);
});
