// FlowControl (src/delivery/flow.ts) of one worker against a real database: the rate a throttle
// starts from when the webhook has no rateLimit.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FlowControl, type ThrottleChange } from '../../src/delivery/flow.ts';
import type { WebhookForDelivery } from '../../src/delivery/sql/claim-deliveries.ts';
import { createLogger } from '../../src/logger.ts';
import { createMigratedDatabase } from '../helpers/db.ts';
import { sleep } from '../helpers/deliveries.ts';

let pool: pg.Pool;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await createMigratedDatabase(), max: 4 });
}, 60_000);
afterAll(() => pool?.end());

function webhook(id: string): WebhookForDelivery {
  return {
    id,
    tenantId: 'ten_1',
    url: 'https://example.com/hook',
    status: 'ACTIVE',
    deleted: false,
    secrets: [],
    authEncrypted: null,
    headers: [],
    retrySchedule: null,
    timeoutMs: 15_000,
    maxInFlight: 10,
    rateLimit: null,
    adaptiveThrottling: true,
    ordering: 'NONE',
    throttleConcurrency: null,
    throttleRate: null,
    throttleReason: null,
    throttleSince: null,
    throttleWrittenAt: null,
  };
}

/**
 * One worker's FlowControl sends to `hook` at a steady 10 a second for 1.5 s from a second's start
 * (so the answer comes half a second before the next second: a late timer does not move it into
 * another), each send answered 200, then gets a 429. Returns the throttle it then offers to write.
 */
async function steadyThen429(hook: WebhookForDelivery): Promise<ThrottleChange['throttle']> {
  const changes: ThrottleChange[] = [];
  const flow = new FlowControl({
    pool,
    workerId: `w_${hook.id}`,
    leaseMs: 30_000,
    logger: createLogger('silent'),
    pull: async () => new Map(),
    giveBack: () => {},
    persist: (change) => changes.push(change),
  });
  let waiting = 1;
  flow.attach({ waiting: () => waiting, waitingHigh: () => 0, running: () => 0, pump: () => {} });
  try {
    flow.update(hook);
    flow.wants(hook.id); // takes a slot
    const held = () =>
      pool.query('select 1 from webhook_slot where webhook_id = $1 and held_until > now()', [hook.id]).then((r) => r.rowCount);
    await expect.poll(held, { timeout: 5000 }).toBe(1);
    await sleep(1000 - (Date.now() % 1000) + 5);
    const startedAt = Date.now();
    for (let i = 0; i < 15; i++) {
      await sleep(startedAt + i * 100 - Date.now());
      const slot = flow.take(hook.id);
      expect(slot).not.toBeNull();
      flow.done(hook.id, slot!);
      flow.observe(hook.id, { startedAt: Date.now(), durationMs: 5, status: 200, error: null });
    }
    await sleep(startedAt + 1500 - Date.now());
    waiting = 0;
    flow.observe(hook.id, { startedAt: Date.now() - 5, durationMs: 5, status: 429, error: null });
    return changes.at(-1)?.throttle ?? null;
  } finally {
    await flow.stop();
  }
}

test('a 429 after a steady 10 a second halves the rate to about 5 a second (the rate of the last second, not of up to two)', {
  timeout: 20_000,
}, async () => {
  const throttle = await steadyThen429(webhook('wh_rate_seen'));
  expect(throttle?.rate).toBeGreaterThan(4);
  expect(throttle?.rate).toBeLessThan(6.5);
});

test('a 429 at a worker that read another’s throttle without a rate (its rate had climbed back) halves the rate seen, not to the minimum', {
  timeout: 20_000,
}, async () => {
  // Another worker's throttle: concurrency still lowered, the rate back to none.
  const throttle = await steadyThen429({
    ...webhook('wh_shared_no_rate'),
    throttleConcurrency: 5,
    throttleRate: null,
    throttleReason: 'HTTP_429',
    throttleSince: new Date(Date.now() - 60_000).toISOString(),
    throttleWrittenAt: new Date().toISOString(),
  });
  expect(throttle?.concurrency).toBeLessThan(5);
  expect(throttle?.rate).toBeGreaterThan(4);
  expect(throttle?.rate).toBeLessThan(6.5);
});

/** A FlowControl whose throttle writes land in `changes`, over this file's database, with `waiting` deliveries queued (a campaign under way). */
function flowControl(workerId: string, changes: ThrottleChange[], waiting = 0): FlowControl {
  const flow = new FlowControl({
    pool,
    workerId,
    leaseMs: 30_000,
    logger: createLogger('silent'),
    pull: async () => new Map(),
    giveBack: () => {},
    persist: (change) => changes.push(change),
  });
  flow.attach({ waiting: () => waiting, waitingHigh: () => 0, running: () => 0, pump: () => {} });
  return flow;
}

const throttled = (id: string, concurrency: number, writtenAgoMs: number): WebhookForDelivery => ({
  ...webhook(id),
  throttleConcurrency: concurrency,
  throttleRate: concurrency / 10,
  throttleReason: 'HTTP_503',
  throttleSince: new Date(Date.now() - 26_000).toISOString(),
  throttleWrittenAt: new Date(Date.now() - writtenAgoMs).toISOString(),
});

test('another worker’s climbs do not keep a throttle alive: it lapses 30 s after the signal it was first seen with', {
  timeout: 20_000,
}, async () => {
  const changes: ThrottleChange[] = [];
  const flow = flowControl('w_climbs', changes, 1);
  try {
    flow.update(throttled('wh_climbs', 5, 26_000)); // seen first: a decrease 26 s ago
    flow.update(throttled('wh_climbs', 6, 2_000)); // a climb by the other worker, 2 s ago
    // Lifted at 30 s after the decrease (about 4 s from now), not 30 s after the climb.
    await expect.poll(() => changes.some((c) => c.throttle === null), { timeout: 8_000, interval: 100 }).toBe(true);
  } finally {
    await flow.stop();
  }
});

test('a throttle lifted elsewhere takes its window with it: the next 503 here lowers the limits again', { timeout: 20_000 }, async () => {
  const changes: ThrottleChange[] = [];
  const hook = webhook('wh_window');
  const flow = flowControl('w_window', changes);
  try {
    flow.update(hook);
    // One 503: 5 at once, and a window of the next 10 answers.
    flow.observe(hook.id, { startedAt: Date.now(), durationMs: 5, status: 503, error: null });
    expect(changes.at(-1)?.throttle?.concurrency).toBe(5);
    // Lifted elsewhere (the sweep, or updateWebhook): read with the next claim.
    await sleep(5);
    flow.update({ ...hook, throttleWrittenAt: new Date().toISOString() });
    await sleep(5);
    flow.observe(hook.id, { startedAt: Date.now(), durationMs: 5, status: 503, error: null });
    await expect.poll(() => changes.at(-1)?.throttle?.concurrency, { timeout: 3_000, interval: 50 }).toBe(5);
    expect(changes.filter((c) => c.throttle !== null)).toHaveLength(2);
  } finally {
    await flow.stop();
  }
});
