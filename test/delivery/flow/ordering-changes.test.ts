// Keyed ordering when the webhook changes under it (issue 15, README "Ordered delivery per key"):
// switching KEYED to NONE, pausing and resuming, a retry by hand out of turn. Nothing may be left
// waiting for ever. One API process and one `--role worker` process.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { withPgClient } from '../../helpers/db.ts';
import { createWebhook, publishEvents, updateWebhook } from '../../helpers/deliveries.ts';
import type { Tenant, TestHerald } from '../../helpers/herald.ts';
import { type Split, startSplit } from '../../helpers/process.ts';
import { type Receiver, type ReceiverHandler, startReceiver } from '../../helpers/receiver.ts';

let api: TestHerald;
let tenant: Tenant;
let split: Split;
const receivers: Receiver[] = [];

beforeAll(async () => {
  split = await startSplit(1);
  ({ api, tenant } = split);
}, 180_000);
afterAll(() => split?.stop(...receivers), 60_000);

interface Row {
  n: number;
  status: string;
  next_attempt_at: Date | null;
  ordering_key: string | null;
}

async function rowsOf(webhookId: string): Promise<Row[]> {
  return withPgClient(api.databaseUrl, async (client) => {
    const { rows } = await client.query<Row>(
      `select (e.payload::json->'data'->>'n')::int as n, d.status, d.next_attempt_at, d.ordering_key
         from delivery d join event e on e.id = d.event_id where d.webhook_id = $1 order by n`,
      [webhookId],
    );
    return rows;
  });
}

/**
 * A receiver that holds the first request open until `release(status)` answers it; every later
 * request gets 200 at once.
 */
function firstHeld() {
  let first: ((status: number) => void) | null = null;
  let seen = 0;
  const handler: ReceiverHandler = (_req, res) => {
    seen++;
    if (seen === 1) first = (status) => res.writeHead(status).end('held');
    else res.writeHead(200).end('ok');
  };
  return {
    handler,
    get seen() {
      return seen;
    },
    release(status: number) {
      first?.(status);
    },
  };
}

test('KEYED switched to NONE while the key’s head is in flight: when that attempt fails, the delivery is retried on its schedule (not left waiting for ever)', {
  timeout: 60_000,
}, async () => {
  const held = firstHeld();
  const receiver = await startReceiver({ handler: held.handler });
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, {
    url: `${receiver.url}/switch`,
    ordering: 'KEYED',
    channels: ['switch'],
    retrySchedule: [1],
  });
  await publishEvents(
    api,
    tenant.key,
    [0, 1].map((n) => ({ type: 'message.sent', channel: 'switch', orderingKey: 'k', data: { n } })),
  );
  await expect.poll(() => held.seen, { timeout: 20_000 }).toBe(1);
  // Event 1 waits behind event 0, whose attempt is open at the receiver; the webhook stops ordering.
  await updateWebhook(api, tenant.key, hook.id, { ordering: 'NONE' });
  held.release(500);

  // Event 1 was made due by the switch; event 0 failed once and is owed its retry 1 s later.
  await expect
    .poll(async () => (await rowsOf(hook.id)).map((r) => r.status), { timeout: 20_000, interval: 250 })
    .toEqual(['SUCCEEDED', 'SUCCEEDED']);
});

test('KEYED switched to NONE while a publish of a waiting key is being written: the new delivery is not left behind a key nobody ends', {
  timeout: 60_000,
}, async () => {
  // Event 0 fails its first attempt and is retried 3 s later; everything after succeeds.
  let seen = 0;
  const receiver = await startReceiver({
    handler: (_req, res) => {
      seen++;
      res.writeHead(seen === 1 ? 500 : 200).end();
    },
  });
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, {
    url: `${receiver.url}/race`,
    ordering: 'KEYED',
    channels: ['race'],
    retrySchedule: [3],
  });
  await publishEvents(api, tenant.key, [{ type: 'message.sent', channel: 'race', orderingKey: 'k', data: { n: 0 } }]);
  await expect.poll(async () => (await rowsOf(hook.id))[0]?.status, { timeout: 20_000 }).toBe('RETRYING');

  await withPgClient(api.databaseUrl, async (blocker) => {
    // Holds the publish of event 1 after it looked at its key (event 0 waits: event 1 goes behind
    // it) and before it commits, while the webhook is switched to NONE.
    await blocker.query('begin');
    await blocker.query('lock table event_body in exclusive mode');
    const published = publishEvents(api, tenant.key, [{ type: 'message.sent', channel: 'race', orderingKey: 'k', data: { n: 1 } }]);
    await expect
      .poll(
        async () =>
          (
            await blocker.query(
              `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
            )
          ).rows[0].n,
        { timeout: 10_000, interval: 50 },
      )
      .toBe(1);
    const switched = updateWebhook(api, tenant.key, hook.id, { ordering: 'NONE' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await blocker.query('rollback');
    await Promise.all([published, switched]);
  });

  // Event 0 is retried (now without a key) and succeeds; event 1 must follow.
  await expect
    .poll(async () => (await rowsOf(hook.id)).map((r) => r.status), { timeout: 20_000, interval: 250 })
    .toEqual(['SUCCEEDED', 'SUCCEEDED']);
});

test('a key whose deliveries have all ended keeps no sequence row; its next events are ordered from the start again', {
  timeout: 60_000,
}, async () => {
  const receiver = await startReceiver();
  receivers.push(receiver);
  const hook = await createWebhook(api, tenant.key, { url: `${receiver.url}/done`, ordering: 'KEYED', channels: ['done'] });
  const sequences = () =>
    withPgClient(api.databaseUrl, async (client) => {
      const { rows } = await client.query<{ n: number }>('select count(*)::int as n from ordering_sequence where webhook_id = $1', [
        hook.id,
      ]);
      return rows[0].n;
    });
  const publishRound = (round: number) =>
    publishEvents(
      api,
      tenant.key,
      Array.from({ length: 20 }, (_, i) => ({
        type: 'message.sent',
        channel: 'done',
        orderingKey: `m${i % 10}`,
        data: { n: round * 20 + i },
      })),
    );
  await publishRound(0);
  await expect.poll(async () => (await rowsOf(hook.id)).filter((r) => r.status === 'SUCCEEDED').length, { timeout: 20_000 }).toBe(20);
  await expect.poll(sequences, { timeout: 5000 }).toBe(0);

  await publishRound(1);
  await expect.poll(async () => (await rowsOf(hook.id)).filter((r) => r.status === 'SUCCEEDED').length, { timeout: 20_000 }).toBe(40);
  // Per key, in publish order: m0 got n 0, 10, 20, 30 in that order.
  const order = new Map<string, number[]>();
  for (const r of receiver.requests) {
    const body = JSON.parse(r.body) as { data: { n: number } };
    const key = `m${body.data.n % 10}`;
    order.set(key, [...(order.get(key) ?? []), body.data.n]);
  }
  for (const [key, ns] of order) expect(ns, key).toEqual([...ns].sort((a, b) => a - b));
  await expect.poll(sequences, { timeout: 5000 }).toBe(0);
});
