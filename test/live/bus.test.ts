// LiveBus on its own: what "too slow" means for a subscriber.
import { expect, test } from 'vitest';
import { LiveBus } from '../../src/live/bus.ts';
import type { DeliveryMessage, LiveMessage } from '../../src/live/messages.ts';

const message = (n: number, tenantId = 'ten_a'): DeliveryMessage => ({
  kind: 'delivery',
  tenantId,
  webhookId: 'wh_1',
  eventId: `evt_${n}`,
  deliveryId: `dlv_${n}`,
  phase: 'QUEUED',
  status: 'PENDING',
  attemptId: null,
  nextAttemptAt: null,
});
const all = (m: LiveMessage): m is LiveMessage => true;
const burst = (from: number, count: number) => Array.from({ length: count }, (_, i) => message(from + i));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a subscriber that keeps reading rides out a burst larger than the limit', async () => {
  const bus = new LiveBus();
  let overflows = 0;
  const sub = bus.subscribe(all, { limit: 100, stallMs: 200, onOverflow: () => overflows++ });
  bus.publish(burst(0, 500));
  const got: string[] = [];
  for (let i = 0; i < 500; i++) {
    got.push(((await sub.next()).value as DeliveryMessage).eventId);
    if (i % 50 === 0) await sleep(10);
  }
  expect(got).toEqual(burst(0, 500).map((m) => m.eventId));
  expect(overflows).toBe(0);
  expect(bus.subscriberCount).toBe(1);
  await sub.return!();
  expect(bus.subscriberCount).toBe(0);
});

test('a subscriber that stops reading with more than the limit waiting is dropped once stallMs passes', async () => {
  const bus = new LiveBus();
  const dropped: string[] = [];
  const stuck = bus.subscribe(all, { limit: 100, stallMs: 200, onOverflow: () => dropped.push('stuck') });
  const atLimit = bus.subscribe(all, { limit: 101, stallMs: 200, onOverflow: () => dropped.push('atLimit') });
  const reader = bus.subscribe(all, { limit: 100, stallMs: 200, onOverflow: () => dropped.push('reader') });
  const reading = (async () => {
    let n = 0;
    while (!(await reader.next()).done) n++;
    return n;
  })();
  bus.publish([message(0)]);
  await stuck.next(); // then they stop asking, like a WebSocket whose send never completes
  await atLimit.next();
  bus.publish(burst(1, 101));
  // 101 wait for `stuck` (limit 100), but it asked a moment ago: not yet dropped.
  expect(dropped).toEqual([]);
  await sleep(300);
  // No new message arrived; the timer noticed that it has not asked since.
  expect(dropped).toEqual(['stuck']);
  expect(await stuck.next()).toEqual({ value: undefined, done: true });
  // Exactly its limit waiting is kept, however long it waits.
  expect(atLimit.takeQueued(1000)).toHaveLength(101);
  bus.publish(burst(200, 5)); // a dropped subscriber gets nothing more; the others do
  await sleep(10);
  await reader.return!();
  await atLimit.return!();
  expect(await reading).toBe(107);
  expect(dropped).toEqual(['stuck']);
  expect(bus.subscriberCount).toBe(0);
});

test('no subscriber may have more than hardLimit waiting, even one that reads', async () => {
  const bus = new LiveBus();
  let overflows = 0;
  const sub = bus.subscribe(all, { limit: 10, hardLimit: 50, stallMs: 60_000, onOverflow: () => overflows++ });
  const pending = sub.next(); // it is reading…
  bus.publish(burst(0, 50)); // …and a burst of 50 arrives at once: all 50 wait, which is allowed
  expect(overflows).toBe(0);
  bus.publish([message(50)]);
  expect(overflows).toBe(1);
  // Dropped: the queue is freed and the stream ends.
  expect(await pending).toEqual({ value: undefined, done: true });
  expect(bus.subscriberCount).toBe(0);
});

test('takeQueued takes what waits now without waiting, and only what this subscriber accepts', async () => {
  const bus = new LiveBus();
  const onlyB = bus.subscribe((m): m is DeliveryMessage => m.kind === 'delivery' && m.tenantId === 'ten_b', {
    limit: 100,
    onOverflow: () => {},
  });
  expect(onlyB.takeQueued(10)).toEqual([]);
  bus.publish([message(1), message(2, 'ten_b'), message(3), message(4, 'ten_b'), message(5, 'ten_b')]);
  expect(onlyB.takeQueued(2).map((m) => m.eventId)).toEqual(['evt_2', 'evt_4']);
  expect((await onlyB.next()).value?.eventId).toBe('evt_5');
  await onlyB.return!();
});
