import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EXACT_COUNT_LIMIT, readGauges } from '../../src/ops/sql/read-gauges.ts';
import { createWebhook, updateWebhook } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { describePlan, type PlanNode, planNodes } from '../helpers/history.ts';
import { scrape } from '../helpers/ops.ts';

/**
 * The PostgreSQL gauges stay cheap on a backlog of a million deliveries: EXPLAIN ANALYZE of the
 * very statement Herald sends, on 1 000 000 waiting deliveries (900 000 due, 5 000 of them
 * leased by a worker, 100 000 retrying later) next to 200 000 final ones, 1 000 parked by a
 * paused webhook, 50 000 due for longer still but held by their webhook's rateLimit, and 2 000 of
 * a KEYED webhook (100 keys: each key's head due, the rest behind it with no due time). What each
 * scan reads must not grow with the table.
 */

const DUE = 900_000;
const RETRYING = 100_000;
const FINAL = 200_000;
const LEASED = 5_000;
const PARKED = 1_000;
const PACED = 50_000;
const KEYED = 2_000;
const KEYS = 100;
/** The age the oldest delivery that is not leased is made to have, in seconds (leased ones are older). */
const OLDEST_S = 3600;

let h: TestHerald;
let db: pg.Client;
/** When the rows were written: their ages grow from there. */
let writtenAt: number;

beforeAll(async () => {
  h = await startTestHerald({ HERALD_ROLE: 'api', HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  const tenant = await createTenant(h, 'backlog');
  const active = (await createWebhook(h, tenant.key, { url: 'http://127.0.0.1:9/a' })).id;
  const paused = (await createWebhook(h, tenant.key, { url: 'http://127.0.0.1:9/p' })).id;
  await updateWebhook(h, tenant.key, paused, { status: 'PAUSED' });
  const paced = (await createWebhook(h, tenant.key, { url: 'http://127.0.0.1:9/r', rateLimit: 5 })).id;
  const keyed = (await createWebhook(h, tenant.key, { url: 'http://127.0.0.1:9/k', ordering: 'KEYED' })).id;
  db = new pg.Client({ connectionString: h.databaseUrl });
  await db.connect();
  const started = Date.now();
  await db.query('set synchronous_commit = off');
  writtenAt = Date.now();
  // Rows as Herald writes them (no event rows: the gauges never read them). Ids sort by age.
  // Test constants, inlined: the ids are the only parameters.
  const [F, D, R, P, L] = [FINAL, DUE, RETRYING, PARKED, LEASED];
  await db.query(
    `insert into delivery (id, tenant_id, event_id, webhook_id, event_type, status, attempt_count, next_attempt_at,
                           completed_at, locked_until, locked_by, created_at, updated_at)
     select 'dlv_' || lpad(i::text, 26, '0'), $1, 'evt_' || lpad(i::text, 26, '0'),
            case when i > ${F + D + R} then $3 else $2 end, 'message.delivered',
            case when i <= ${F} then 'FAILED' when i <= ${F + D} then 'PENDING' when i <= ${F + D + R} then 'RETRYING' else 'PENDING' end,
            case when i <= ${F} then 1 when i <= ${F + D} then 0 else 1 end,
            case when i <= ${F} then null
                 when i <= ${F + D} then now() - make_interval(secs => ${OLDEST_S} + (${F + L} - i) * 0.001)
                 when i <= ${F + D + R} then now() + interval '1 hour'
                 else null end,
            case when i <= ${F} then now() else null end,
            case when i > ${F} and i <= ${F + L} then now() + interval '1 hour' else null end,
            case when i > ${F} and i <= ${F + L} then 'some-worker' else null end,
            now(), now()
       from generate_series(1, ${F + D + R + P}) as i`,
    [tenant.id, active, paused],
  );
  // Due for two hours but held by their rate, whose schedule is current (workers keep to it); and
  // keyed ones: the first of each key due a second ago, the others behind it.
  const first = F + D + R + P;
  await db.query(
    `insert into delivery (id, tenant_id, event_id, webhook_id, event_type, status, next_attempt_at, ordering_key, ordering_seq,
                           created_at, updated_at)
     select 'dlv_' || lpad(i::text, 26, '0'), $1, 'evt_' || lpad(i::text, 26, '0'),
            case when i <= ${first + PACED} then $2 else $3 end, 'message.delivered', 'PENDING',
            case when i <= ${first + PACED} then now() - interval '2 hours'
                 when i <= ${first + PACED + KEYS} then now() - interval '1 second' end,
            case when i > ${first + PACED} then 'k' || (i % ${KEYS}) end,
            case when i > ${first + PACED} then i end,
            now(), now()
       from generate_series(${first + 1}, ${first + PACED + KEYED}) as i`,
    [tenant.id, paced, keyed],
  );
  await db.query(
    `insert into webhook_rate (webhook_id, next_send_at) values ($1, now() + interval '1 hour')
     on conflict (webhook_id) do update set next_send_at = excluded.next_send_at`,
    [paced],
  );
  // Owed this long, each has its delivery_due row (core/delivery-state.ts, "Where owed deliveries are found"),
  // the keyed ones with their key and place.
  await db.query(
    `insert into delivery_due (delivery_id, webhook_id, priority, due_at, ordering_key, ordering_seq)
     select id, webhook_id, priority, next_attempt_at, ordering_key, ordering_seq from delivery where status in ('PENDING', 'RETRYING')`,
  );
  await db.query('analyze delivery');
  await db.query('analyze delivery_due');
  await db.query('analyze webhook');
  console.log(
    `gauges plan: ${FINAL + DUE + RETRYING + PARKED + PACED + KEYED} deliveries written and analyzed in ${Date.now() - started} ms`,
  );
}, 300_000);

afterAll(async () => {
  await db?.end();
  await h?.stop();
});

/** Rows a scan node looked at: those it returned and those its filter removed, over every loop. */
const rowsTouched = (n: PlanNode) =>
  (Number(n['Actual Rows'] ?? 0) + Number(n['Rows Removed by Filter'] ?? 0) + Number(n['Rows Removed by Index Recheck'] ?? 0)) *
  Number(n['Actual Loops'] ?? 1);

test('the gauges statement reads a bounded number of rows on a backlog of a million, and its figures are right', {
  timeout: 60_000,
}, async () => {
  // The statement exactly as Herald sends it, captured on its way out.
  let statement: { text: string; params: unknown[]; settings: Record<string, string> } | null = null;
  const gauges = await readGauges(async (text, params, settings = {}) => {
    statement = { text, params, settings };
    return (await db.query(text, params)).rows;
  });
  // With the planner settings Herald sends it with.
  await db.query('begin');
  for (const [name, value] of Object.entries(statement!.settings)) await db.query('select set_config($1, $2, true)', [name, value]);
  const { rows } = await db.query(`explain (analyze, buffers, format json) ${statement!.text}`, statement!.params);
  await db.query('commit');
  const plan = rows[0]['QUERY PLAN'][0] as { Plan: PlanNode; 'Execution Time': number };
  const scans = planNodes(plan.Plan).filter((n) => ['delivery', 'delivery_due'].includes(n['Relation Name'] ?? ''));
  const report = scans.map(
    (n) => `${describePlan(n)[0]}: ${rowsTouched(n)} rows (${n['Index Cond'] ?? ''} ${n.Filter ? `filter ${n.Filter}` : ''})`,
  );
  const pages = (
    await db.query(`select (pg_relation_size('delivery') + pg_relation_size('delivery_due')) / current_setting('block_size')::int as n`)
  ).rows[0].n;
  const buffers = Number(plan.Plan['Shared Hit Blocks'] ?? 0) + Number(plan.Plan['Shared Read Blocks'] ?? 0);
  console.log(
    `gauges plan: ${plan['Execution Time'].toFixed(1)} ms, ${buffers} buffers of a ${pages}-page table\n  ${report.join('\n  ')}`,
  );

  expect(scans.length).toBeGreaterThan(0);
  for (const scan of scans) expect(rowsTouched(scan), report.join('\n')).toBeLessThanOrEqual(3 * EXACT_COUNT_LIMIT);
  expect(buffers).toBeLessThan(Number(pages) / 20);

  // Above the exact limit the waiting counts are PostgreSQL's estimate: within 10 % here.
  const pending = DUE + PARKED + PACED + KEYED;
  expect(gauges.waiting.PENDING).toBeGreaterThan(pending * 0.9);
  expect(gauges.waiting.PENDING).toBeLessThan(pending * 1.1);
  expect(gauges.waiting.RETRYING).toBeGreaterThan(RETRYING * 0.9);
  expect(gauges.waiting.RETRYING).toBeLessThan(RETRYING * 1.1);
  // The oldest due delivery, leased or not (a claimed delivery is not done until its attempt is
  // recorded), and not those held by their rate.
  const sinceWritten = (Date.now() - writtenAt) / 1000;
  const oldest = OLDEST_S + LEASED * 0.001;
  expect(gauges.lagSeconds).toBeGreaterThan(oldest - 1);
  expect(gauges.lagSeconds).toBeLessThan(oldest + sinceWritten + 1);
  expect(gauges.webhooks).toEqual({ ACTIVE: 3, PAUSED: 1 });

  // And /metrics shows the same.
  const m = await scrape(h.herald.opsUrl);
  expect(m.value('herald_deliveries_waiting', { status: 'RETRYING' })).toBe(gauges.waiting.RETRYING);
  expect(m.value('herald_delivery_lag_seconds')).toBeGreaterThan(oldest - 1);
});
