import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { decide } from '../../src/core/delivery-state.ts';
import { applyRetention } from '../../src/delivery/retention.ts';
import { claimDeliveries, pullDeliveries, releaseLeases } from '../../src/delivery/sql/claim-deliveries.ts';
import { advanceKeys } from '../../src/delivery/sql/ordering.ts';
import { disableWebhooks, updateDeliveries } from '../../src/delivery/sql/record-results.ts';
import { sweepOverdue } from '../../src/delivery/sql/sweep.ts';
import { createWebhook, publishEvents, publishMany, updateWebhook } from '../helpers/deliveries.ts';
import { createTenant, LOCAL_RECEIVERS, startTestHerald, type Tenant, type TestHerald } from '../helpers/herald.ts';
import {
  type CapturedQuery,
  DAY,
  describePlan,
  explain,
  heraldStatements,
  INDEX_NODES,
  planNodes,
  type SqlSpy,
  seedHistory,
  spyOnSql,
} from '../helpers/history.ts';

/**
 * The statements that find deliveries owed an attempt, and those that change deliveries, stay
 * index-served at volume (core/delivery-state.ts, "Where owed deliveries are found"; the history
 * reads are in test/history/indexes.test.ts, the gauges in test/ops/gauges-plan.test.ts):
 *
 *   claim            the deliveries a wake-up job names, by id; delivery_due rows for those it
 *                    leaves for want of room
 *   pull, give back  a webhook's due delivery_due rows, HIGH first then the longest due; the
 *                    delivery_due rows of deliveries given back
 *   record           a batch of results: delivery rows by id, their delivery_due rows
 *   ordering         a key's head (its first waiting delivery_due row), made due; a keyed
 *                    publish's look at what waits; a webhook set from KEYED to NONE
 *   stats            a webhook's due and keyed-behind deliveries
 *   sweep            publish batches past lease/2, overdue delivery_due rows, their deliveries
 *   disable          the owed deliveries of a webhook that failed too long (or answered 410)
 *   retry, replay    one delivery by id; a webhook's FAILED deliveries in a time window
 *   resume, delete   a webhook's parked deliveries; its owed ones
 *   retention        old events without an owed delivery, their deliveries and attempts
 *
 * 40 000 final deliveries over 40 days, 10 000 retrying, 500 parked behind a paused webhook, a
 * publish batch of fresh ones and one of 300 over 10 ordering keys to a KEYED webhook, then ANALYZE, then EXPLAIN of every statement Herald sent, with its
 * parameters: no sequential scan of delivery, delivery_due or attempt (delivery_batch holds a row
 * per publish call of the last lease/2 only, and may be read whole).
 */

let h: TestHerald;
let spy: SqlSpy;
let pool: pg.Pool;
let tenant: Tenant;
const webhooks: Record<'busy' | 'paused' | 'doomed' | 'failing' | 'keyed', string> = {
  busy: '',
  paused: '',
  doomed: '',
  failing: '',
  keyed: '',
};
let retrying: string[] = [];
/** The `set …` statements of the last statementsOf(). */
let settings: CapturedQuery[] = [];
let fresh: string[] = [];
const seen: string[] = [];

beforeAll(async () => {
  // API only: no worker to touch the rows while statements are captured and plans read.
  h = await startTestHerald({ HERALD_ROLE: 'api', ...LOCAL_RECEIVERS });
  tenant = await createTenant(h, 'plans');
  for (const name of Object.keys(webhooks) as (keyof typeof webhooks)[]) {
    const ordering = name === 'keyed' ? { ordering: 'KEYED' } : {};
    webhooks[name] = (await createWebhook(h, tenant.key, { url: `http://127.0.0.1:9/${name}`, ...ordering })).id;
  }
  await updateWebhook(h, tenant.key, webhooks.paused, { status: 'PAUSED' });
  pool = new pg.Pool({ connectionString: h.databaseUrl, max: 2 });
  const now = Date.now();
  // History: 40 000 over the last 40 days, 1 in 20 FAILED, spread over the webhooks.
  const names = Object.values(webhooks);
  await seedHistory(
    pool,
    { tenantId: tenant.id, webhookId: webhooks.busy },
    Array.from({ length: 40_000 }, (_, i) => ({
      at: now - 60_000 - Math.floor((i * 40 * DAY) / 40_000),
      status: i % 20 === 7 ? ('FAILED' as const) : ('SUCCEEDED' as const),
      attempts: 1,
      webhookId: names[i % names.length],
    })),
  );
  // Owed: retrying (half due an hour ago, half in an hour) and parked, each with its delivery_due row.
  const owed = await seedHistory(pool, { tenantId: tenant.id, webhookId: webhooks.busy }, [
    ...Array.from({ length: 10_000 }, (_, i) => ({
      at: now - 2 * 3600_000 + i,
      status: 'RETRYING' as const,
      attempts: 1,
      nextAttemptAt: new Date(now + (i % 2 === 0 ? -3600_000 : 3600_000)),
      // Most behind the busy webhook, a few behind each of the others.
      webhookId: i % 50 === 0 ? names[(i / 50) % names.length] : webhooks.busy,
    })),
    ...Array.from({ length: 500 }, (_, i) => ({
      at: now - 3600_000 + i,
      status: 'PENDING' as const,
      attempts: 0,
      webhookId: webhooks.paused,
    })),
  ]);
  retrying = owed.slice(0, 10_000).map((s) => s.deliveryId);
  await pool.query(
    `insert into delivery_due (delivery_id, webhook_id, priority, due_at)
     select id, webhook_id, priority, next_attempt_at from delivery where id = any($1::text[])`,
    [owed.map((s) => s.deliveryId)],
  );
  // Fresh: one publish call's deliveries, found through its delivery_batch row.
  await publishMany(h, tenant.key, 200);
  fresh = (
    await pool.query<{ id: string }>(
      `select id from delivery where status = 'PENDING' and attempt_count = 0 and next_attempt_at is not null`,
    )
  ).rows.map((r) => r.id);
  expect(fresh.length).toBe(200 * 4); // busy, doomed, failing and keyed: the paused one parks its own
  // Keyed: 300 over 10 keys, each key's first due and the others behind it, all with delivery_due rows.
  await publishEvents(
    h,
    tenant.key,
    Array.from({ length: 300 }, (_, i) => ({ type: 'message.sent', data: { i }, orderingKey: `key-${i % 10}` })),
  );
  const keyedRows = await pool.query<{ due: number; behind: number }>(
    `select count(*) filter (where q.due_at is not null)::int as due, count(*) filter (where q.due_at is null)::int as behind
       from delivery_due q where q.webhook_id = $1 and q.ordering_key is not null`,
    [webhooks.keyed],
  );
  expect(keyedRows.rows[0]).toEqual({ due: 10, behind: 290 });
  expect((await pool.query('select count(*)::int as n from delivery_batch')).rows[0].n).toBeGreaterThan(0);
  await pool.query('analyze');
  spy = spyOnSql();
}, 120_000);

afterAll(async () => {
  spy?.restore();
  await pool?.end();
  await h?.stop();
  console.log(`EXPLAIN node types seen:\n${seen.map((s) => `  ${s}`).join('\n')}`);
});

/**
 * The statements `fn` sent that read or change delivery, delivery_due or attempt, each after the
 * planner settings (`set …`) sent before it on the way, which EXPLAIN applies too.
 */
async function statementsOf(fn: () => Promise<unknown>): Promise<CapturedQuery[]> {
  const { queries } = await spy.record(fn);
  settings = queries.filter((q) => /^\s*set\s+(enable_\w+)/i.test(q.text));
  const touching = heraldStatements(queries).filter((q) => /\b(from|update|into|join)\s+"?(delivery|delivery_due|attempt)\b/i.test(q.text));
  expect(touching.length, 'no statement on the delivery tables').toBeGreaterThan(0);
  return touching;
}

const TABLES = ['delivery', 'delivery_due', 'attempt'];

/**
 * Every statement index-served: what it reads of delivery, delivery_due or attempt, it reads
 * through an index (an insert of given rows reads none), and some statement reads one.
 */
async function expectIndexServed(what: string, statements: CapturedQuery[]): Promise<void> {
  const client = await pool.connect();
  let indexed = 0;
  try {
    for (const set of settings) await client.query(set.text);
    for (const [i, statement] of statements.entries()) {
      const plan = await explain(client, statement);
      const nodes = planNodes(plan);
      const described = describePlan(plan);
      seen.push(`${what} #${i + 1}: ${described.filter((d) => /Scan/.test(d)).join(' > ')}`);
      const message = `${what}\n${statement.text}\n${described.join('\n')}`;
      const seqScans = nodes.filter((n) => n['Node Type'] === 'Seq Scan' && TABLES.includes(n['Relation Name'] ?? ''));
      expect(seqScans, message).toEqual([]);
      indexed += nodes.filter(
        (n) => INDEX_NODES.has(n['Node Type']) && TABLES.some((t) => (n['Index Name'] ?? n['Relation Name'] ?? '').startsWith(t)),
      ).length;
    }
  } finally {
    await client.query('reset all');
    client.release();
  }
  expect(indexed, `${what}: no index read of ${TABLES.join(', ')}`).toBeGreaterThan(0);
}

/** Runs `fn` in a transaction that is rolled back: the rows stay as seeded for the next read. */
async function rolledBack(fn: (client: pg.PoolClient) => Promise<unknown>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await fn(client);
  } finally {
    await client.query('rollback');
    client.release();
  }
}

test('claim and record: by id, and the delivery_due rows of what was recorded', async () => {
  const ids = [...fresh.slice(0, 50), ...retrying.slice(0, 50)];
  const claim = await statementsOf(() => claimDeliveries(pool, ids, 'plan-worker', 30_000));
  await expectIndexServed('claim', claim);

  const at = new Date();
  const record = await statementsOf(() =>
    rolledBack((client) =>
      updateDeliveries(
        client,
        ids.map((id, i) => {
          const outcome = { kind: 'attempted' as const, response: { status: i % 3 === 0 ? 500 : 200, error: null, headers: {} } };
          const decision = decide({ status: 'PENDING', attemptCount: 0, trigger: 'SCHEDULED' }, outcome, undefined, at);
          return { ...decision, id, claimedTrigger: 'SCHEDULED' as const, attempt: { at, responseStatus: 200, error: null } };
        }),
        'plan-worker',
      ),
    ),
  );
  await expectIndexServed('record', record);
});

test('a claim leaves what it has no room for with delivery_due rows; pulls and give-backs go through them', async () => {
  const busyFresh = (
    await pool.query<{ id: string }>(`select id from delivery where id = any($1::text[]) and webhook_id = $2 and locked_by is null`, [
      fresh,
      webhooks.busy,
    ])
  ).rows.map((r) => r.id);
  const claim = await statementsOf(() =>
    claimDeliveries(pool, busyFresh.slice(0, 100), 'plan-worker', 30_000, new Map([[webhooks.busy, 1]])),
  );
  const left = await pool.query<{ n: number }>(`select count(*)::int as n from delivery_due where delivery_id = any($1::text[])`, [
    busyFresh.slice(0, 100),
  ]);
  expect(left.rows[0].n).toBe(99);
  await expectIndexServed('claim, leaving most for a pull', claim);

  const pull = await statementsOf(() =>
    pullDeliveries(pool, 'plan-worker', 30_000, [
      { webhookId: webhooks.busy, room: 40 },
      { webhookId: webhooks.keyed, room: 10, highOnly: true },
    ]),
  );
  await expectIndexServed('pull', pull);

  const held = (await pool.query<{ id: string }>(`select id from delivery where locked_by = 'plan-worker' limit 40`)).rows.map((r) => r.id);
  expect(held.length).toBeGreaterThan(0);
  const giveBack = await statementsOf(() => releaseLeases(pool, held, 'plan-worker', true));
  await expectIndexServed('give back', giveBack);
});

test("ordering: a key's head made due through delivery_due, a keyed publish, webhook stats", async () => {
  const keys = Array.from({ length: 10 }, (_, i) => ({ webhookId: webhooks.keyed, orderingKey: `key-${i}` }));
  const advance = await statementsOf(() => rolledBack((client) => advanceKeys(client, keys, [])));
  await expectIndexServed('advanceKeys', advance);

  const publish = await statementsOf(() =>
    publishEvents(h, tenant.key, [{ type: 'message.sent', data: { more: true }, orderingKey: 'key-3' }]),
  );
  await expectIndexServed(
    'keyed publish',
    publish.filter((s) => /from delivery_due/.test(s.text)),
  );

  const stats = await statementsOf(() =>
    h.ok('query($id: ID!) { webhook(id: $id) { stats { waiting } } }', { id: webhooks.keyed }, tenant.key),
  );
  await expectIndexServed(
    'webhook stats',
    stats.filter((s) => /delivery_due/.test(s.text)),
  );

  const unordered = await statementsOf(() => updateWebhook(h, tenant.key, webhooks.keyed, { ordering: 'NONE' }));
  await expectIndexServed(
    'KEYED to NONE',
    unordered.filter((s) => /update delivery/.test(s.text)),
  );
});

test('the sweep: publish batches past lease/2, overdue delivery_due rows and their deliveries', async () => {
  // Every batch counts as old here (overdue 0), so that the conversion's plan is the one read.
  const statements = await statementsOf(() => rolledBack((client) => sweepOverdue(client, 0)));
  await expectIndexServed(
    'sweep',
    statements.filter((s) => !/advisory/.test(s.text)),
  );
});

test('disabling a webhook fails its owed deliveries, found through delivery_due and the open batches', async () => {
  const statements = await statementsOf(() =>
    rolledBack((client) => disableWebhooks(client, { gone: [webhooks.failing], checked: [], disableAfterMs: DAY })),
  );
  await expectIndexServed('disable', statements);
});

test('retry, replay, resume and delete go through indexes', async () => {
  const failed = (await pool.query<{ id: string }>(`select id from delivery where status = 'FAILED' limit 1`)).rows[0].id;
  const retry = await statementsOf(() => h.ok('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: failed }, tenant.key));
  await expectIndexServed('retryDelivery', retry);

  const replay = await statementsOf(() =>
    h.ok(
      'mutation($w: ID!, $since: DateTime!, $until: DateTime) { replayFailedDeliveries(webhookId: $w, since: $since, until: $until) { count } }',
      { w: webhooks.busy, since: new Date(Date.now() - 3 * DAY), until: new Date(Date.now() - 2 * DAY) },
      tenant.key,
    ),
  );
  await expectIndexServed('replayFailedDeliveries', replay);

  const resume = await statementsOf(() => updateWebhook(h, tenant.key, webhooks.paused, { status: 'ACTIVE' }));
  await expectIndexServed(
    'resume (updateWebhook ACTIVE)',
    resume.filter((s) => /delivery_due/.test(s.text)),
  );

  const remove = await statementsOf(() =>
    h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhooks.doomed }, tenant.key),
  );
  await expectIndexServed(
    'deleteWebhook',
    remove.filter((s) => /update delivery/.test(s.text)),
  );
});

test('retention: old events without an owed delivery, their deliveries, attempts and delivery_due rows', async () => {
  const statements = await statementsOf(() => applyRetention(pool, 30 * DAY));
  await expectIndexServed('retention', statements);
});
