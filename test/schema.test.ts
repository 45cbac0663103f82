import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
import { initORM, type MikroORM } from '../src/db/orm.ts';
import { printedSchema, SCHEMA_FILE } from '../src/graphql/print-schema.ts';
import { createTestDatabase } from './helpers/db.ts';

let orm: MikroORM;
let url: string;
beforeAll(async () => {
  url = await createTestDatabase();
  orm = await initORM(url, { poolSize: 2 });
});
afterAll(() => orm?.close());

test('the committed schema.graphql is the printed Pothos schema (run `npm run schema`)', () => {
  expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(printedSchema());
});

test('the entities agree with the migrations', async () => {
  const applied = await migrate(orm, url);
  expect(applied.length).toBeGreaterThan(0);
  const sql = await orm.schema.getUpdateSchemaSQL({ wrap: false });
  // Whatever wrapping the generator adds (`set names …`, session settings) is not a change.
  const statements = sql
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^set\s/i.test(line));
  expect(statements).toEqual([]);
});
