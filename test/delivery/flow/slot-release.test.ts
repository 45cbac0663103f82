// A worker's slots (issue 15, "a dead worker's slots free themselves"): a slot this worker meant
// to free, but whose release failed (the database connection dropped), must not stay held for ever
// by the worker's renewals. One API process and one `--role worker` process.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { heldSlots, statusCounts, withPgClient } from '../../helpers/db.ts';
import { createWebhook, publish, sleep } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { type Split, startSplit } from '../../helpers/process.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';

let api: TestHerald;
let tenant: Tenant;
let split: Split;
let receiver: Receiver;

beforeAll(async () => {
  // A short lease: the slot lapses within 3 s unless the worker renews it.
  split = await startSplit(1, { HERALD_LEASE: '3s' });
  ({ api, tenant } = split);
  receiver = await startReceiver();
}, 180_000);
afterAll(() => split?.stop(receiver), 60_000);

test('a slot whose release failed is not renewed for ever: the webhook’s next delivery is sent', { timeout: 60_000 }, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/slot`, maxInFlight: 1, channels: ['slot'] });
  await publish(api, tenant.key, { channel: 'slot', data: { n: 1 } });
  await expect.poll(() => statusCounts(api.databaseUrl, hook.id), { timeout: 20_000 }).toEqual({ SUCCEEDED: 1 });

  await withPgClient(api.databaseUrl, async (blocker) => {
    // The worker keeps its free slot for a second after its last task, then frees it: hold the
    // table so that the release waits, and drop the connection it waits on.
    await blocker.query('begin');
    await blocker.query('lock table webhook_slot in access exclusive mode');
    // Another connection: pg_stat_activity is read once per transaction.
    const waitingRelease = () =>
      withPgClient(api.databaseUrl, async (c) => {
        const { rows } = await c.query<{ pid: number }>(
          `select pid from pg_stat_activity where wait_event_type = 'Lock' and query like 'update webhook_slot f set held_by = null%'`,
        );
        return rows.map((r) => r.pid);
      });
    await expect.poll(async () => (await waitingRelease()).length, { timeout: 10_000, interval: 50 }).toBe(1);
    await blocker.query('select pg_terminate_backend($1)', [(await waitingRelease())[0]]);
    await blocker.query('rollback');
  });

  // Longer than the lease: a slot nobody means to hold has lapsed by now.
  await sleep(4000);
  await publish(api, tenant.key, { channel: 'slot', data: { n: 2 } });
  await expect
    .poll(async () => ({ counts: await statusCounts(api.databaseUrl, hook.id), slots: await heldSlots(api.databaseUrl, hook.id) }), {
      timeout: 15_000,
      interval: 250,
    })
    .toMatchObject({ counts: { SUCCEEDED: 2 } });
});
