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

test('a 429 after a steady 10 a second halves the rate to about 5 a second (the rate of the last second, not of up to two)', {
  timeout: 20_000,
}, async () => {
  const changes: ThrottleChange[] = [];
  const flow = new FlowControl({
    pool,
    workerId: 'w1',
    leaseMs: 30_000,
    logger: createLogger('silent'),
    pull: async () => new Map(),
    giveBack: () => {},
    persist: (change) => changes.push(change),
  });
  const id = 'wh_rate_seen';
  let waiting = 1;
  flow.attach({ waiting: () => waiting, waitingHigh: () => 0, running: () => 0, pump: () => {} });
  try {
    flow.update(webhook(id));
    flow.wants(id); // takes a slot
    await expect
      .poll(() => flow.rooms().get(id) !== undefined && pool.query('select 1 from webhook_slot').then((r) => r.rowCount), { timeout: 5000 })
      .toBe(1);
    // 10 starts a second from a second's start, for 1.5 s (the 429 comes half a second before the
    // next second: a late timer does not move it into another).
    await sleep(1000 - (Date.now() % 1000) + 5);
    const startedAt = Date.now();
    for (let i = 0; i < 15; i++) {
      await sleep(startedAt + i * 100 - Date.now());
      const slot = flow.take(id);
      expect(slot).not.toBeNull();
      flow.done(id, slot!);
    }
    await sleep(startedAt + 1500 - Date.now());
    waiting = 0;
    flow.observe(id, { startedAt: Date.now() - 5, durationMs: 5, status: 429, error: null });
    const rate = changes.at(-1)?.throttle?.rate;
    expect(rate).toBeGreaterThan(4);
    expect(rate).toBeLessThan(6.5);
  } finally {
    await flow.stop();
  }
});
