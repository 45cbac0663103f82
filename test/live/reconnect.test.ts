// The API's LISTEN connection is cut from the database side (as a failover, a restart or an
// idle-connection killer would); it reconnects by itself and the same subscribers, on the same
// WebSocket, receive updates again: no server restart.
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LISTENER_APPLICATION_NAME } from '../../src/live/listener.ts';
import { LIVE_CHANNEL } from '../../src/live/messages.ts';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, publish } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { collect, connectLive, DELIVERY_UPDATED, type DeliveryUpdate, subscriptionsRunning } from '../helpers/live.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let client: Client | undefined;

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
});
afterAll(async () => {
  await client?.dispose();
  await h?.stop();
  await receiver?.close();
});

interface Backend {
  pid: number;
  application_name: string;
  query: string;
  state: string;
}

/** Connections of this test's database whose last statement was a LISTEN. */
async function listeners(): Promise<Backend[]> {
  return withPgClient(h.databaseUrl, async (db) => {
    const { rows } = await db.query<Backend>(
      `select pid, application_name, query, state from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen%'`,
    );
    return rows;
  });
}

/** Herald's live-status listener among them (pg-boss has a LISTEN connection of its own). */
async function liveListener(): Promise<Backend | undefined> {
  return (await listeners()).find((b) => b.application_name === LISTENER_APPLICATION_NAME);
}

async function waitForNewListener(oldPid: number): Promise<Backend> {
  let found: Backend | undefined;
  await expect
    .poll(
      async () => {
        found = await liveListener();
        // Idle: the LISTEN has completed, so a notification committed from now on reaches it.
        return found && found.pid !== oldPid && found.state === 'idle';
      },
      { timeout: 15_000, interval: 100 },
    )
    .toBe(true);
  return found!;
}

test('after its LISTEN connection is terminated by the database, the API listens again and subscribers resume receiving', async () => {
  const tenant = await createTenant(h, 'reconnect');
  const { id: webhookId } = await createWebhook(h, tenant.key, { url: `${receiver.url}/hook` });
  client = await connectLive(h.url, tenant.key);
  let closed: unknown = null;
  client.on('closed', (event) => (closed = event));
  const sub = collect<DeliveryUpdate>(client, DELIVERY_UPDATED, { webhookId });
  await subscriptionsRunning(h.url, 1);
  const publishOne = async () => (await publish(h, tenant.key, { data: {} })).eventId;
  const lifecycle = (eventId: string) => sub.items.filter((u) => u.delivery.eventId === eventId).map((u) => u.phase);

  const before = await publishOne();
  await sub.waitFor((u) => u.delivery.eventId === before && u.phase === 'SUCCEEDED', 15_000, 'the first delivery');

  // What pg_stat_activity shows for it: an idle connection named by Herald whose last query is
  // the LISTEN (pg-boss's own LISTEN connection is left alone).
  const first = await liveListener();
  expect(first).toMatchObject({ application_name: LISTENER_APPLICATION_NAME, query: `listen ${LIVE_CHANNEL}`, state: 'idle' });
  for (let cut = 1; cut <= 2; cut++) {
    const current = (await liveListener())!;
    const terminated = await withPgClient(h.databaseUrl, async (db) => {
      const { rows } = await db.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [current.pid]);
      return rows[0].ok;
    });
    expect(terminated).toBe(true);
    const next = await waitForNewListener(current.pid);
    expect(next.query).toBe(`listen ${LIVE_CHANNEL}`);

    // The same subscription on the same WebSocket sees the whole life of a new delivery.
    const after = await publishOne();
    await sub.waitFor((u) => u.delivery.eventId === after && u.phase === 'SUCCEEDED', 15_000, `a delivery after cut ${cut}`);
    expect(lifecycle(after)).toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED']);
  }
  expect(lifecycle(before)).toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED']);
  expect(closed).toBeNull();
  expect(sub.errors).toEqual([]);
  expect(sub.completed).toBe(false);
}, 60_000);
