import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createWebhook } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { heraldStatements, type Seeded, type SqlSpy, seedHistory, spyOnSql } from '../helpers/history.ts';

/**
 * A page of deliveries with their webhook, event and attempts is read with a fixed number of
 * SQL statements, however many deliveries the page holds (MikroORM's dataloader batches the
 * relation loads of one request). Statements are counted on the wire: see spyOnSql.
 */

let h: TestHerald;
let spy: SqlSpy;
let tenant: { id: string; key: string };
let seeded: (Seeded & { webhookId: string; eventType: string; attempts: number })[];
const webhooks: { id: string; url: string }[] = [];
const counts: Record<number, number> = {};
let fiftyListing = '';

const QUERY = `query($first: Int!) {
  deliveries(first: $first) {
    edges { node { id webhook { id url } event { id type } attempts { id number } } }
  }
}`;

beforeAll(async () => {
  h = await startTestHerald({ HERALD_ROLE: 'api', HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  tenant = await createTenant(h, 'dashboard');
  for (let i = 0; i < 5; i++) {
    const url = `http://127.0.0.1:9/hook-${i}`;
    webhooks.push({ id: (await createWebhook(h, tenant.key, { url })).id, url });
  }
  // 60 deliveries, newest first in `seeded`: each to one of 5 webhooks, its own event, 2–4 attempts.
  const now = Date.now();
  const db = new pg.Client({ connectionString: h.databaseUrl });
  await db.connect();
  try {
    seeded = [];
    for (let i = 0; i < 60; i++) {
      const webhookId = webhooks[i % 5].id;
      const eventType = i % 2 ? 'message.sent' : 'message.delivered';
      const attempts = 2 + (i % 3);
      const [row] = await seedHistory(db, { tenantId: tenant.id, webhookId }, [
        { at: now - 60_000 - i * 1000, status: 'SUCCEEDED', attempts, eventType },
      ]);
      seeded.push({ ...row, webhookId, eventType, attempts });
    }
  } finally {
    await db.end();
  }
  spy = spyOnSql();
});

afterAll(async () => {
  spy?.restore();
  await h?.stop();
  console.log(
    `SQL statements per deliveries page: ${Object.entries(counts)
      .map(([n, c]) => `first ${n} → ${c}`)
      .join(', ')}\n${fiftyListing}`,
  );
});

async function readPage(first: number) {
  const { result, queries } = await spy.record(() => h.ok(QUERY, { first }, tenant.key));
  const statements = heraldStatements(queries);
  counts[first] = statements.length;
  return { data: result, statements };
}

type Node = {
  id: string;
  webhook: { id: string; url: string };
  event: { id: string; type: string };
  attempts: { id: string; number: number }[];
};

test('50 deliveries with webhook, event and attempts: a bounded number of statements, each relation loaded once', async () => {
  const { data, statements } = await readPage(50);
  const nodes: Node[] = data.deliveries.edges.map((e: { node: Node }) => e.node);
  // The answer is complete and right.
  expect(nodes.map((n) => n.id)).toEqual(seeded.slice(0, 50).map((s) => s.deliveryId));
  nodes.forEach((node, i) => {
    const expected = seeded[i];
    expect(node.webhook).toEqual({ id: expected.webhookId, url: webhooks.find((w) => w.id === expected.webhookId)!.url });
    expect(node.event).toEqual({ id: expected.eventId, type: expected.eventType });
    expect(node.attempts).toEqual(expected.attemptIds.map((id, n) => ({ id, number: n + 1 })));
  });

  const listing = statements.map((s) => s.text).join('\n');
  fiftyListing = statements.map((s) => `  ${s.text.slice(0, 140)}`).join('\n');
  expect(statements.length, listing).toBeLessThanOrEqual(8);
  // One statement per table: the page, then one batch per relation.
  const reading = (table: string) => statements.filter((s) => new RegExp(`from "?${table}"?\\b`, 'i').test(s.text));
  expect(reading('delivery'), listing).toHaveLength(1);
  expect(reading('webhook'), listing).toHaveLength(1);
  expect(reading('event'), listing).toHaveLength(1);
  expect(reading('attempt'), listing).toHaveLength(1);
});

test('the statement count does not grow from 10 to 50 deliveries', async () => {
  const ten = await readPage(10);
  expect(ten.data.deliveries.edges).toHaveLength(10);
  const fifty = await readPage(50);
  expect(fifty.data.deliveries.edges).toHaveLength(50);
  // Authentication (the API-key lookup, and at most once a minute its lastUsedAt update) and
  // the rate limiter's one statement are not part of the page; everything else must be identical.
  const reads = (statements: { text: string }[]) => statements.filter((s) => !/\b(api_key|rate_limit_bucket)\b/.test(s.text));
  expect(fifty.statements.filter((s) => /\brate_limit_bucket\b/.test(s.text))).toHaveLength(1);
  expect(reads(fifty.statements).length, fifty.statements.map((s) => s.text).join('\n')).toBe(reads(ten.statements).length);
  expect(reads(fifty.statements)).toHaveLength(4);
  // The same holds for the admin key, which skips the API-key lookup.
  const admin = await spy.record(() => h.ok(QUERY, { first: 50 }, h.adminKey));
  expect(heraldStatements(admin.queries).length).toBeLessThanOrEqual(fifty.statements.length);
});

test('a page of webhooks with their stats: one stats statement, however many webhooks', async () => {
  const STATS_PAGE = `query($first: Int!) { webhooks(first: $first) { edges { node { id stats { deliveries24h succeeded24h latencyP50Ms } } } } }`;
  const page = async (first: number) => {
    const { result, queries } = await spy.record(() => h.ok(STATS_PAGE, { first }, tenant.key));
    return {
      nodes: result.webhooks.edges.map((e: { node: { id: string; stats: { deliveries24h: number } } }) => e.node),
      statements: heraldStatements(queries),
    };
  };
  const one = await page(1);
  const five = await page(5);
  expect(five.nodes).toHaveLength(5);
  // The seeded deliveries (60, one webhook in five each) are all from the last 24 h.
  for (const node of five.nodes) expect(node.stats.deliveries24h).toBe(12);
  const stats = (statements: { text: string }[]) => statements.filter((s) => /from "?attempt"?\b/i.test(s.text));
  expect(stats(one.statements)).toHaveLength(1);
  expect(stats(five.statements), five.statements.map((s) => s.text).join('\n')).toHaveLength(1);
  expect(five.statements.length).toBe(one.statements.length);
});
