// The token buckets themselves, against the real PostgreSQL: taking tokens is atomic under
// concurrency (each take is one statement on a shared row), refills at the configured rate, and
// says when to come back. Across API processes and over HTTP: test/api/rate-limits.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RateLimits } from '../../src/config.ts';
import { HeraldError } from '../../src/core/errors.ts';
import { migrate } from '../../src/db/migrate.ts';
import { initORM, type MikroORM } from '../../src/db/orm.ts';
import { createLogger } from '../../src/logger.ts';
import type { Caller } from '../../src/services/caller.ts';
import { createRateLimiter } from '../../src/services/rate-limits.ts';
import { createTestDatabase, withPgClient } from '../helpers/db.ts';
import { sleep } from '../helpers/deliveries.ts';

let orm: MikroORM;
let url: string;
beforeAll(async () => {
  url = await createTestDatabase();
  orm = await initORM(url, { poolSize: 10 });
  await migrate(orm, url);
});
afterAll(() => orm?.close());

const OFF = { rate: 0, burst: 1 };
function limiter(limits: Partial<RateLimits>) {
  return createRateLimiter(
    orm,
    { rateLimits: { tenant: OFF, admin: OFF, authFailure: OFF, ...limits }, trustedProxies: [] },
    createLogger('silent'),
  );
}

const tenant = (tenantId: string, apiKeyId = 'key_1'): Caller => ({ kind: 'tenant', tenantId, apiKeyId });

/** `count` takes at once, with how long they lasted (ms); returns takeAll's answer and that time. */
async function timedTakeAll(count: number, take: () => Promise<void>) {
  const started = performance.now();
  const result = await takeAll(Array.from({ length: count }, take));
  return { ...result, ms: performance.now() - started };
}

/** Runs every take at once; returns how many got a token and the RATE_LIMITED errors. */
async function takeAll(takes: Promise<void>[]) {
  const results = await Promise.allSettled(takes);
  const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as HeraldError);
  for (const error of refused) expect(error).toBeInstanceOf(HeraldError);
  return { taken: results.length - refused.length, refused };
}

describe('a tenant bucket', () => {
  test('100 simultaneous requests with a burst of 10 and a negligible rate: exactly 10 get through, the rest are told when to retry', async () => {
    const limits = limiter({ tenant: { rate: 0.001, burst: 10 } });
    const { taken, refused } = await takeAll(Array.from({ length: 100 }, () => limits.take(tenant('ten_burst'))));
    expect(taken).toBe(10);
    expect(refused).toHaveLength(90);
    const [error] = refused;
    expect(error.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfter: 1000,
      http: { status: 429, headers: { 'retry-after': '1000' } },
    });
    expect(error.message).toMatch(/rate limit of 0\.001 requests\/s \(burst 10\) for this tenant: retry in 1000 s/);
    // One row, the time the bucket is full again: ten tokens of 1 000 s ahead.
    const row = await withPgClient(url, (c) =>
      c.query(`select extract(epoch from full_at - now())::float8 as ahead from rate_limit_bucket where key = 'tenant:ten_burst'`),
    );
    expect(row.rows[0].ahead).toBeGreaterThan(9_990);
    expect(row.rows[0].ahead).toBeLessThanOrEqual(10_000);
  });

  test('every key of a tenant draws from its one bucket; another tenant and the admin key have their own', async () => {
    const limits = limiter({ tenant: { rate: 0.001, burst: 3 }, admin: { rate: 0.001, burst: 5 } });
    const shared = await takeAll([1, 2, 3, 4, 5, 6].map((n) => limits.take(tenant('ten_shared', `key_${n}`))));
    expect(shared.taken).toBe(3);
    expect((await takeAll([1, 2, 3, 4].map(() => limits.take(tenant('ten_other'))))).taken).toBe(3);
    const admin = await takeAll(Array.from({ length: 8 }, () => limits.take({ kind: 'admin' })));
    expect(admin.taken).toBe(5);
    expect(admin.refused[0].message).toMatch(/for the admin key/);
  });

  test('refills at its rate: an empty bucket gives a token back after 1/rate seconds, and says 1 s when that is less', async () => {
    const limits = limiter({ tenant: { rate: 5, burst: 2 } });
    // 20 at once: the burst, plus a token per 200 ms that the takes themselves lasted (none on a
    // quiet machine; a loaded one may stretch them past 200 ms).
    const first = await timedTakeAll(20, () => limits.take(tenant('ten_refill')));
    expect(first.taken).toBeGreaterThanOrEqual(2);
    expect(first.taken).toBeLessThanOrEqual(2 + Math.floor((first.ms / 1000) * 5));
    // A token is back within 200 ms: "retry in 1 s", the least Retry-After says.
    for (const error of first.refused) expect(error.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 1 });
    await sleep(500); // two tokens back at 5/s (and no more: the burst is 2)
    const again = await timedTakeAll(20, () => limits.take(tenant('ten_refill')));
    expect(again.taken).toBeGreaterThanOrEqual(2);
    expect(again.taken).toBeLessThanOrEqual(2 + Math.floor((again.ms / 1000) * 5));
  });

  test('a take that waited for the bucket’s row while another process took a token still gets the token left', async () => {
    // Another API process takes a token: it locks the row first, and writes it a moment later.
    // The take here starts meanwhile, so it waits for that row, and reads the bucket after the
    // other's write: a later time than when it started. One token of the burst of 2 is left for it.
    const limits = limiter({ tenant: { rate: 0.001, burst: 2 } });
    const key = 'tenant:ten_waited';
    await withPgClient(url, (c) => c.query(`insert into rate_limit_bucket (key, full_at) values ($1, now() - interval '1 hour')`, [key]));
    await withPgClient(url, async (other) => {
      await other.query('begin');
      await other.query('select 1 from rate_limit_bucket where key = $1 for update', [key]);
      const take = limits.take(tenant('ten_waited')).then(
        () => 'taken',
        (e: HeraldError) => e.code,
      );
      await expect
        .poll(async () => {
          const { rows } = await other.query(
            `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%rate_limit_bucket%'`,
          );
          return rows[0].n;
        })
        .toBe(1);
      await other.query(`update rate_limit_bucket set full_at = clock_timestamp() + interval '1000 seconds' where key = $1`, [key]);
      await other.query('commit');
      expect(await take).toBe('taken');
    });
    // And that was the last one.
    await expect(limits.take(tenant('ten_waited'))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  test('a rate of 0 turns the limit off and touches no row', async () => {
    const limits = limiter({ tenant: OFF });
    expect(await takeAll(Array.from({ length: 50 }, () => limits.take(tenant('ten_off'))))).toMatchObject({ taken: 50 });
    const rows = await withPgClient(url, (c) => c.query(`select 1 from rate_limit_bucket where key = 'tenant:ten_off'`));
    expect(rows.rowCount).toBe(0);
  });
});
