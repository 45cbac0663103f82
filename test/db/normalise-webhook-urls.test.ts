import { afterAll, expect, test } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import type { MikroORM } from '../../src/db/orm.ts';
import { databaseBefore, withPgClient } from '../helpers/db.ts';

// Webhook URLs stored as typed before normalisation are rewritten to the URL that was requested.
let orm: MikroORM | undefined;
afterAll(() => orm?.close());

const MIGRATION = 'Migration20261130023934_normalise_webhook_urls';

test('the migration rewrites stored URLs to their normalised form and leaves unparseable ones', async () => {
  // The schema as it was just before this migration.
  const before = await databaseBefore(MIGRATION);
  orm = before.orm;
  const { url } = before;
  const stored: Record<string, string> = {
    wh_tab: 'http://127.0.0.1:8080/a\tb',
    wh_crlf: 'https://example.com/hook\r\n',
    wh_case: 'HTTPS://Example.COM:443/x/../y',
    wh_fragment: 'https://example.com/hook#part',
    wh_normal: 'https://example.com/hook',
    wh_garbage: 'not a url',
  };
  await withPgClient(url, async (db) => {
    await db.query(`insert into tenant (id, name, created_at) values ('ten_1', 't', now())`);
    for (const [id, value] of Object.entries(stored)) {
      await db.query(
        `insert into webhook (id, tenant_id, url, events, secrets, headers, created_at, updated_at)
         values ($1, 'ten_1', $2, '["*"]', '[]', '[]', now(), now())`,
        [id, value],
      );
    }
  });

  expect(await migrate(orm, url)).toContain(MIGRATION);
  const rows = await withPgClient(url, async (db) => (await db.query('select id, url from webhook order by id')).rows);
  expect(Object.fromEntries(rows.map((r) => [r.id, r.url]))).toEqual({
    wh_tab: 'http://127.0.0.1:8080/ab',
    wh_crlf: 'https://example.com/hook',
    wh_case: 'https://example.com/y',
    wh_fragment: 'https://example.com/hook',
    wh_normal: 'https://example.com/hook',
    wh_garbage: 'not a url',
  });
});
