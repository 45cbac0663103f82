// Upgrading a database with webhooks and deliveries to delivery profiles loses nothing:
// signatureScheme becomes the built-in profile of the same name, for webhooks and for the
// deliveries already published.
import { expect, onTestFinished, test } from 'vitest';
import { initORM } from '../../src/db/orm.ts';
import { createTestDatabase, withPgClient } from '../helpers/db.ts';

test('webhooks and their deliveries keep signing as before the migration', async () => {
  const url = await createTestDatabase();
  const orm = await initORM(url, { poolSize: 2 });
  onTestFinished(() => orm.close());
  await orm.migrator.up({ to: 'Migration20261130034129_portal_session' });
  await withPgClient(url, async (c) => {
    await c.query(`insert into tenant (id, name, created_at) values ('ten_1', 'acme', now())`);
    for (const [id, scheme] of [
      ['wh_standard', 'STANDARD'],
      ['wh_stripe', 'STRIPE'],
      ['wh_hmac', 'HMAC_SHA256'],
    ]) {
      await c.query(
        `insert into webhook (id, tenant_id, url, events, status, signature_scheme, secrets, auth_type, headers, timeout_ms, max_in_flight,
                              consecutive_failures, created_at, updated_at)
         values ($1, 'ten_1', 'https://x.example.com', '["*"]', 'ACTIVE', $2, '[]', 'NONE', '[]', 15000, 10, 0, now(), now())`,
        [id, scheme],
      );
      await c.query(
        `insert into delivery (id, tenant_id, event_id, webhook_id, event_type, status, attempt_count, next_trigger, created_at, updated_at)
         values ($1, 'ten_1', 'evt_1', $2, 'message.sent', 'RETRYING', 1, 'SCHEDULED', now(), now())`,
        [`dlv_${id}`, id],
      );
    }
  });
  await orm.migrator.up();
  await withPgClient(url, async (c) => {
    const webhooks = await c.query('select id, profile from webhook order by id');
    expect(webhooks.rows).toEqual([
      { id: 'wh_hmac', profile: 'hmac-sha256' },
      { id: 'wh_standard', profile: null },
      { id: 'wh_stripe', profile: 'stripe' },
    ]);
    const deliveries = await c.query('select webhook_id, profile_version from delivery order by webhook_id');
    expect(deliveries.rows).toEqual([
      { webhook_id: 'wh_hmac', profile_version: 'hmac-sha256' },
      { webhook_id: 'wh_standard', profile_version: 'standard' },
      { webhook_id: 'wh_stripe', profile_version: 'stripe' },
    ]);
  });
});
