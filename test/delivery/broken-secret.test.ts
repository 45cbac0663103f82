import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { encryptSecret } from '../../src/core/secrets.ts';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, deliveryOf, getDelivery, publish } from '../helpers/deliveries.ts';
import { startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import type { Receiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;

beforeAll(async () => ({ h, tenant, receiver } = await startWithReceiver()));
afterAll(() => stopAll(h, receiver));

test('a webhook whose secret cannot be decrypted: its delivery waits 60 s, untried; the rest of the batch goes out', async () => {
  const bad = await createWebhook(h, tenant.key, { url: `${receiver.url}/bad` });
  const good = await createWebhook(h, tenant.key, { url: `${receiver.url}/good` });
  // The stored secret encrypted under another key: as after restoring a backup with the wrong HERALD_ENCRYPTION_KEY.
  await withPgClient(h.databaseUrl, (c) =>
    c.query(`update webhook set secrets = $2 where id = $1`, [
      bad.id,
      JSON.stringify([{ encrypted: encryptSecret('whsec_AAAA', randomBytes(32)), createdAt: new Date().toISOString(), expiresAt: null }]),
    ]),
  );

  // One event, two deliveries: claimed together by one wake-up job.
  const published = Date.now();
  const { eventId, deliveryCount } = await publish(h, tenant.key);
  expect(deliveryCount).toBe(2);
  await receiver.waitFor(1);
  const badDelivery = await deliveryOf(h, tenant.key, eventId, bad.id);
  await expect
    .poll(async () => (await getDelivery(h, tenant.key, badDelivery.id)).nextAttemptAt, { timeout: 5000 })
    .toSatisfy((at: string | null) => at !== null && Date.parse(at) >= published + 55_000);
  const after = await getDelivery(h, tenant.key, badDelivery.id);
  expect(after).toMatchObject({ status: 'PENDING', attemptCount: 0, attempts: [] });
  expect(Date.parse(after.nextAttemptAt!)).toBeLessThan(Date.now() + 61_000);
  expect(receiver.requests.map((r) => r.url)).toEqual(['/good']);
  expect((await deliveryOf(h, tenant.key, eventId, good.id)).status).toBe('SUCCEEDED');
});
