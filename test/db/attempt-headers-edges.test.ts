import { afterAll, expect, test } from 'vitest';
import { decodeHeaderMap } from '../../src/core/header-log.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { MikroORM } from '../../src/db/orm.ts';
import { insertAttempts } from '../../src/delivery/sql/record-results.ts';
import { Attempt } from '../../src/entities/index.ts';
import { databaseBefore, withPgClient } from '../helpers/db.ts';

// The attempt-headers migration on maps the 10 000-delivery test does not hold, and back down
// over an attempt the worker records after it.
let orm: MikroORM | undefined;
let dbUrl = '';
/** Back to before the attempt-headers migration (databaseBefore). */
let down: () => Promise<unknown> = async () => {};
afterAll(() => orm?.close());

const MAPS: Record<string, unknown>[] = [
  { "x'quote": 'a', 'a`b': 'c', 'x^y': 'z', a$b: '$$', '~|': 'd' },
  { 'X-Upper': 'v', a: 'b', B: 'c', date: 'd\re' },
  { 'content-type': '\u0001x', 'x-bs': 'a\\b', 'x-quote': 'say "hi"' },
  { 'content-length': 5, server: 'x' },
  { 'x-unicode': 'naïve ✓ 😀', connection: '' },
];

test('odd but valid jsonb header maps read back as jsonb gave them after the migration', async () => {
  const before = await databaseBefore('_attempt_headers_text');
  orm = before.orm;
  down = before.down;
  const { url, migration } = before;
  dbUrl = url;
  const expected: string[] = [];
  await withPgClient(url, async (db) => {
    for (const [i, map] of MAPS.entries()) {
      await db.query(
        `insert into attempt (id, delivery_id, tenant_id, webhook_id, number, trigger, started_at, duration_ms, request_url, request_headers)
         values ($1, 'dlv_1', 'ten_1', 'wh_1', $2, 'SCHEDULED', now(), 1, 'https://example.com', $3::jsonb)`,
        [`att_${i}`, i + 1, JSON.stringify(map)],
      );
    }
    const { rows } = await db.query<{ h: string }>(`select request_headers::text as h from attempt order by id`);
    for (const r of rows) expected.push(JSON.stringify(JSON.parse(r.h)));
  });
  expect(await migrate(orm, url)).toContain(migration);
  await withPgClient(url, async (db) => {
    const { rows } = await db.query<{ h: string }>(`select request_headers as h from attempt order by id`);
    expect(rows.map((r) => JSON.stringify(decodeHeaderMap(r.h)))).toEqual(expected);
  });
}, 60_000);

test('during a rolling deploy a worker of the release before still records its attempts, and they read back as sent', async () => {
  // The statement 593fe47's recorder ran (src/delivery/sql/record-results.ts, insertAttempts):
  // tenant_id written, the maps as jsonb.
  const sent = { 'user-agent': 'Herald/0.1.0', 'webhook-id': 'msg_old', 'x-custom': 'a: b' };
  const answered = { date: 'Mon, 30 Nov 2026 12:00:00 GMT', 'set-cookie': 'a=1, b=2' };
  await withPgClient(dbUrl, async (db) => {
    await db.query(
      `insert into attempt (id, delivery_id, tenant_id, webhook_id, number, trigger, started_at, duration_ms, request_url,
                            request_headers, response_status, response_headers, response_body, error, error_message)
       select id, delivery_id, tenant_id, webhook_id, number, trigger, started_at, duration_ms, request_url,
              request_headers, response_status, response_headers, response_body, error, error_message
         from json_to_recordset($1::json) as x(id text, delivery_id text, tenant_id text, webhook_id text, number int,
              trigger text, started_at timestamptz, duration_ms int, request_url text, request_headers jsonb,
              response_status int, response_headers jsonb, response_body text, error text, error_message text)`,
      [
        JSON.stringify([
          {
            id: 'att_old_worker',
            delivery_id: 'dlv_3',
            tenant_id: 'ten_1',
            webhook_id: 'wh_1',
            number: 1,
            trigger: 'SCHEDULED',
            started_at: new Date(),
            duration_ms: 3,
            request_url: 'https://example.com/hook',
            request_headers: sent,
            response_status: 200,
            response_headers: answered,
            response_body: 'ok',
            error: null,
            error_message: null,
          },
        ]),
      ],
    );
  });
  const attempt = await orm!.em.fork().findOneOrFail(Attempt, { id: 'att_old_worker' });
  expect(attempt.requestHeaders).toEqual(sent);
  expect(attempt.responseHeaders).toEqual(answered);
}, 60_000);

test('going back down keeps an attempt the worker recorded after the migration, whose header value held a NUL (stored as U+FFFD)', async () => {
  // jsonb refuses "\u0000": the map must go back down all the same.
  await withPgClient(dbUrl, async (db) => {
    await insertAttempts(db as never, [
      {
        id: 'att_nul',
        deliveryId: 'dlv_2',
        webhookId: 'wh_1',
        number: 1,
        trigger: 'SCHEDULED',
        startedAt: new Date(),
        durationMs: 1,
        requestUrl: 'https://example.com',
        requestHeaders: { 'x-ref': 'a\u0000b' },
        responseStatus: null,
        responseHeaders: null,
        responseBody: null,
        error: 'UNKNOWN',
        errorMessage: 'x',
      } as never,
    ]);
  });
  await expect(down()).resolves.not.toThrow();
  await withPgClient(dbUrl, async (db) => {
    const { rows } = await db.query<{ v: string }>(`select request_headers->>'x-ref' as v from attempt where id = 'att_nul'`);
    expect(rows).toEqual([{ v: 'a\uFFFDb' }]);
  });
}, 60_000);
