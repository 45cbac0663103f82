// A WebSocket client that stops reading cannot make the server hold its updates without bound:
// past 1 000 waiting updates the server closes it with 4429, while a client that keeps up
// stays connected and receives everything.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { SLOW_SUBSCRIBER_CLOSE_CODE, SUBSCRIBER_QUEUE_LIMIT } from '../../src/graphql/types/subscriptions.ts';
import { createWebhook, publishEvents, within } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { collect, connectLive, subscriptionsRunning, wsUrlOf } from '../helpers/live.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const EVENTS = 1000;
const WEBHOOKS = 2;
/** Each event's data is this big, so the slow client's updates fill the TCP buffers quickly. */
const DATA_BYTES = 4096;

// A full garbage collection before reading the heap, so what is measured is what is retained.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const retainedHeap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

let h: TestHerald;
let receiver: Receiver;
let normal: Client | undefined;
let slow: WebSocket | undefined;

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
});
afterAll(async () => {
  slow?.terminate();
  await normal?.dispose();
  await h?.stop();
  await receiver?.close();
});

/** A raw graphql-transport-ws client: connection_init with the key, wait for the ack, subscribe. */
async function rawSubscriber(
  key: string,
  query: string,
): Promise<{ ws: WebSocket; received: () => number; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(wsUrlOf(h.url), 'graphql-transport-ws');
  let count = 0;
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const acked = new Promise<void>((resolve, reject) => {
    ws.on('message', (raw) => {
      const message = JSON.parse(raw.toString());
      if (message.type === 'connection_ack') resolve();
      if (message.type === 'next') count++;
    });
    ws.once('close', (code) => reject(new Error(`closed with ${code} before connection_ack`)));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
  await acked;
  ws.send(JSON.stringify({ id: 'slow-1', type: 'subscribe', payload: { query } }));
  return { ws, received: () => count, closed };
}

test('a client that stops reading is closed with 4429 once 1 000 updates wait for it; a client that keeps up is unaffected', async () => {
  const tenant = await createTenant(h, 'backpressure');
  for (let i = 0; i < WEBHOOKS; i++) {
    await createWebhook(h, tenant.key, { url: `${receiver.url}/fast-${i}` });
  }

  const slowSub = await rawSubscriber(
    tenant.key,
    'subscription { deliveryUpdated { phase delivery { id status event { id data } } attempt { id responseStatus durationMs } } }',
  );
  slow = slowSub.ws;
  normal = await connectLive(h.url, tenant.key);
  let normalClosed: unknown = null;
  normal.on('closed', (event) => (normalClosed = event));
  const fast = collect<{ phase: string; delivery: { id: string } }>(normal, 'subscription { deliveryUpdated { phase delivery { id } } }');
  await subscriptionsRunning(h.url, 2);

  // Stop reading: the server's writes pile up in the TCP buffers, then it stops sending and
  // updates wait in this subscriber's queue.
  (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  const pausedAt = Date.now();
  let droppedAfterMs = -1;

  const heapBefore = retainedHeap();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
  try {
    const filler = 'x'.repeat(DATA_BYTES);
    const inputs = Array.from({ length: EVENTS }, (_, i) => ({ type: 'message.delivered', data: { n: i, filler } }));
    expect(await publishEvents(h, tenant.key, inputs)).toHaveLength(EVENTS);

    // Four updates per delivery (queued, started, finished, succeeded): 8 000 in all, far more
    // than the slow client's TCP buffers and its 1 000-update queue hold. Herald drops the slow
    // subscriber 2 s after more than 1 000 wait for it: wait for that (its subscription ends,
    // the fast one's runs on), then read again — before graphql-ws's keep-alive (a ping every
    // 12 s, answered within 12 s) would end the silent connection itself.
    const total = EVENTS * WEBHOOKS;
    const dropped = await subscriptionsRunning(h.url, 1, { timeoutMs: 60_000 }).then(
      () => null,
      (error: Error) => new Error(`${error.message}; the fast client has ${fast.items.length} of ${total * 4} updates`),
    );
    droppedAfterMs = Date.now() - pausedAt;
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    if (dropped) throw dropped;

    // What was already in flight arrives, then the close frame.
    const closed = await within(slowSub.closed, 30_000, 'the slow client’s close');
    expect(closed.code).toBe(SLOW_SUBSCRIBER_CLOSE_CODE);
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/too slow/i);
    // It got part of the stream, not all of it (it was dropped, not buffered without bound).
    expect(slowSub.received()).toBeGreaterThan(0);
    expect(slowSub.received()).toBeLessThan(total * 4);

    await fast.waitUntil((items) => items.filter((u) => u.phase === 'SUCCEEDED').length === total, 90_000, `${total} SUCCEEDED updates`);
    expect(fast.items.length).toBe(total * 4);
  } finally {
    clearInterval(sampler);
  }
  // What the test itself keeps (the receiver's log of 2 000 requests) is not the server's.
  receiver.requests.splice(0);
  const heapGrowthMb = (retainedHeap() - heapBefore) / 2 ** 20;

  // The client that kept up is still connected and still receiving.
  expect(normalClosed).toBeNull();
  expect(fast.errors).toEqual([]);
  const before = fast.items.length;
  await publishEvents(h, tenant.key, [{ type: 'message.delivered', data: { after: true } }]);
  await fast.waitUntil((items) => items.length >= before + WEBHOOKS * 4, 15_000, 'updates after the slow client was dropped');

  // Memory: the burst (1 000 events of 4 KiB, 2 000 deliveries, 8 000 updates, all in this
  // process: API, worker and both clients) left little behind, and the peak stayed moderate.
  const total = EVENTS * WEBHOOKS;
  const rssGrowthMb = (rssPeak - rssBefore) / 2 ** 20;
  console.info(
    `backpressure: retained heap +${heapGrowthMb.toFixed(1)} MiB, rss peak +${rssGrowthMb.toFixed(1)} MiB; ` +
      `slow client got ${slowSub.received()} of ${total * 4} updates (limit ${SUBSCRIBER_QUEUE_LIMIT}), dropped ${droppedAfterMs} ms after it stopped reading`,
  );
  expect(heapGrowthMb).toBeLessThan(32);
  expect(rssGrowthMb).toBeLessThan(768);
}, 180_000);
