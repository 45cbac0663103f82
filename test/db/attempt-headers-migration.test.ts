import { afterAll, expect, test } from 'vitest';
import { decodeHeaderMap, encodeHeaderMap } from '../../src/core/header-log.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { MikroORM } from '../../src/db/orm.ts';
import { Attempt } from '../../src/entities/index.ts';
import { databaseBefore, withPgClient } from '../helpers/db.ts';
import { type SeedItem, seedHistory } from '../helpers/history.ts';

// The migration that keeps an attempt's header maps as compact text instead of jsonb (and stops
// writing attempt.tenant_id, which nothing read), applied to a database holding 10 000 deliveries and
// their attempts made under the migrations before it: every map reads back exactly as jsonb gave
// it (the same headers in the same order), through the ORM as through the text itself, and going
// back down restores the jsonb maps.
let orm: MikroORM | undefined;
afterAll(() => orm?.close());

/** Header maps of the kinds attempts hold: Herald's request headers, answers, and maps a line cannot hold. */
function mapsFor(i: number): { request: Record<string, string>; response: Record<string, string> | null } {
  const request: Record<string, string> = {
    'user-agent': 'Herald/0.1.0',
    'webhook-id': `evt_${String(i).padStart(26, '0')}`,
    'content-type': 'application/json',
    'herald-attempt': String(1 + (i % 3)),
    'herald-event-type': 'message.delivered',
    'webhook-signature': '[redacted]',
    'webhook-timestamp': String(1796039079 + i),
    'herald-delivery-id': `dlv_${String(i).padStart(26, '0')}`,
  };
  if (i % 7 === 0) Object.assign(request, { 'X-Customer-Ref': `acme:${i}`, authorization: '[redacted]' });
  if (i % 101 === 0) request['x-multi'] = 'two\nlines';
  if (i % 13 === 0) return { request, response: null };
  const response: Record<string, string> = {
    date: 'Mon, 30 Nov 2026 11:44:39 GMT',
    connection: 'keep-alive',
    'keep-alive': 'timeout=5',
    'content-type': 'text/plain',
    'content-length': String(i % 1000),
  };
  if (i % 11 === 0) Object.assign(response, { link: '<https://example.com/a>; rel="next"', 'x-tab': 'a\tb', 'x-naïve': 'ü' });
  if (i % 17 === 0) return { request, response: {} };
  return { request, response };
}

test('a populated database keeps every attempt’s headers, read back as before', async () => {
  const before = await databaseBefore('_attempt_headers_text');
  orm = before.orm;
  const { url, migration, down } = before;

  const now = Date.now();
  /** Each attempt's maps as jsonb gave them (JSON text: the key order included). */
  const expected = new Map<string, { request: string; response: string | null; tenant: string }>();
  await withPgClient(url, async (db) => {
    await db.query(`insert into tenant (id, name, created_at) values ('ten_1', 't', now())`);
    await db.query(
      `insert into webhook (id, tenant_id, url, events, secrets, headers, status, created_at, updated_at)
       values ('wh_1', 'ten_1', 'https://example.com/hook', '["*"]', '[]', '[]', 'ACTIVE', now(), now())`,
    );
    const items: SeedItem[] = Array.from({ length: 10_000 }, (_, i) => ({
      at: now - 10 * 3600_000 + i * 1000,
      status: i % 10 === 0 ? 'FAILED' : 'SUCCEEDED',
      attempts: 1 + (i % 10 === 0 ? 1 : 0),
    }));
    const seeded = await seedHistory(db, { tenantId: 'ten_1', webhookId: 'wh_1' }, items);
    const ids = seeded.flatMap((s) => s.attemptIds);
    expect(ids).toHaveLength(11_000);
    const maps = ids.map((_, i) => mapsFor(i));
    await db.query(
      `update attempt a set request_headers = m.request, response_headers = m.response
         from unnest($1::text[], $2::jsonb[], $3::jsonb[]) as m(id, request, response) where a.id = m.id`,
      [ids, maps.map((m) => JSON.stringify(m.request)), maps.map((m) => (m.response === null ? null : JSON.stringify(m.response)))],
    );
    const { rows } = await db.query<{ id: string; request: string; response: string | null; tenant: string }>(
      `select id, request_headers::text as request, response_headers::text as response, tenant_id as tenant from attempt`,
    );
    for (const r of rows) {
      expected.set(r.id, {
        request: JSON.stringify(JSON.parse(r.request)),
        response: r.response === null ? null : JSON.stringify(JSON.parse(r.response)),
        tenant: r.tenant,
      });
    }
    expect(expected.size).toBe(11_000);
  });

  expect(await migrate(orm, url)).toContain(migration);

  await withPgClient(url, async (db) => {
    const { rows } = await db.query<{ id: string; request: string; response: string | null }>(
      `select id, request_headers as request, response_headers as response from attempt`,
    );
    expect(rows).toHaveLength(11_000);
    let lines = 0;
    for (const r of rows) {
      const want = expected.get(r.id)!;
      expect(JSON.stringify(decodeHeaderMap(r.request))).toBe(want.request);
      expect(r.response === null ? null : JSON.stringify(decodeHeaderMap(r.response))).toBe(want.response);
      // Rewritten in the very form the worker writes new attempts in (a map a line cannot hold
      // stays jsonb's JSON text: spaced, where the worker's has none).
      if (!r.request.startsWith('{')) {
        expect(r.request).toBe(encodeHeaderMap(JSON.parse(want.request)));
        lines++;
      }
      if (want.response !== null && !r.response!.startsWith('{')) expect(r.response).toBe(encodeHeaderMap(JSON.parse(want.response)));
    }
    // All but the maps with a line break in a value (every 101st) are in the compact form.
    expect(lines).toBe(11_000 - Math.ceil(11_000 / 101));
    const columns = await db.query<{ column_name: string; data_type: string }>(
      `select column_name, data_type from information_schema.columns where table_name = 'attempt' and column_name in ('tenant_id', 'request_headers', 'response_headers') order by 1`,
    );
    expect(columns.rows).toEqual([
      { column_name: 'request_headers', data_type: 'text' },
      { column_name: 'response_headers', data_type: 'text' },
      { column_name: 'tenant_id', data_type: 'character varying' },
    ]);
  });

  // What the API reads: the entity's maps, the same as before, key order included.
  const em = orm.em.fork();
  const sample = [...expected.keys()].filter((_, i) => i % 97 === 0);
  const attempts = await em.find(Attempt, { id: { $in: sample } });
  expect(attempts).toHaveLength(sample.length);
  for (const a of attempts) {
    expect(JSON.stringify(a.requestHeaders)).toBe(expected.get(a.id)!.request);
    expect(a.responseHeaders === null ? null : JSON.stringify(a.responseHeaders)).toBe(expected.get(a.id)!.response);
  }

  // And back down: jsonb maps again, each one as it was, with its tenant.
  await down();
  await withPgClient(url, async (db) => {
    const { rows } = await db.query<{ id: string; request: string; response: string | null; tenant: string }>(
      `select id, request_headers::text as request, response_headers::text as response, tenant_id as tenant from attempt`,
    );
    expect(rows).toHaveLength(11_000);
    for (const r of rows) {
      const want = expected.get(r.id)!;
      expect(JSON.stringify(JSON.parse(r.request))).toBe(want.request);
      expect(r.response === null ? null : JSON.stringify(JSON.parse(r.response))).toBe(want.response);
      expect(r.tenant).toBe(want.tenant);
    }
  });
}, 120_000);
