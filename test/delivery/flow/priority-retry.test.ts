// Priority (issue 15) of a HIGH delivery's retries: their wake-up jobs are fetched before NORMAL
// ones too (pg-boss fetches by priority, then age), as its first one's was. One `--role worker`.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PRIORITY_RANK } from '../../../src/core/flow.ts';
import { DELIVERY_QUEUE, jobPriority } from '../../../src/jobs/queue.ts';
import { withPgClient } from '../../helpers/db.ts';
import { createWebhook, deliveryOf, publish, waitForDelivery } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { type Split, startSplit } from '../../helpers/process.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';

let api: TestHerald;
let tenant: Tenant;
let split: Split;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver({ handler: (_req, res) => res.writeHead(500).end() });
  split = await startSplit(1);
  ({ api, tenant } = split);
}, 180_000);
afterAll(() => split?.stop(receiver), 60_000);

test('a HIGH delivery that failed: its retry’s wake-up job is HIGH too', { timeout: 60_000 }, async () => {
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/optout`, retrySchedule: [60] });
  const { eventId } = await publish(api, tenant.key, { type: 'message.optout', data: { messageId: 'm1' } });
  const { id } = await deliveryOf(api, tenant.key, eventId, hook.id);
  await waitForDelivery(api, tenant.key, id, { status: 'RETRYING' });
  const jobs = await withPgClient(api.databaseUrl, async (client) => {
    const { rows } = await client.query<{ priority: number }>(
      `select priority from pgboss.job where name = $1 and data->'d' ? $2 and start_after > now()`,
      [DELIVERY_QUEUE, id],
    );
    return rows;
  });
  expect(jobs).toEqual([{ priority: jobPriority(PRIORITY_RANK.HIGH) }]);
});
