// The shared throttle of a webhook (issue 15): workers write it at most once a second, and one that
// has not yet read another's newer throttle cannot put its older climb back over it.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ThrottleRow, writeThrottles } from '../../../src/delivery/sql/record-results.ts';
import { createMigratedDatabase } from '../../helpers/db.ts';

let pool: pg.Pool;
beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await createMigratedDatabase(), max: 1 });
  await pool.query(`insert into tenant (id, name, created_at) values ('ten_a', 'a', now())`);
  await pool.query(
    `insert into webhook (id, tenant_id, url, events, secrets, headers, max_in_flight, created_at, updated_at)
     values ('wh_1', 'ten_a', 'https://example.com', '["*"]', '[]', '[]', 50, now(), now())`,
  );
});
afterAll(() => pool?.end());

const since = new Date('2026-11-30T08:00:00Z');
const row = (concurrency: number | null, basedOn: number, lowered: boolean): ThrottleRow => ({
  webhookId: 'wh_1',
  concurrency,
  rate: concurrency === null ? null : concurrency * 2,
  reason: concurrency === null ? null : 'HTTP_429',
  since: concurrency === null ? null : since,
  basedOn,
  lowered,
});

/** Writes with one client, as the recorder does; returns the written time or null. */
async function write(throttle: ThrottleRow): Promise<number | null> {
  const client = await pool.connect();
  try {
    const written = await writeThrottles(client, [throttle]);
    return written[0]?.writtenAt ?? null;
  } finally {
    client.release();
  }
}

async function shared(): Promise<number | null> {
  const { rows } = await pool.query<{ c: number | null }>(`select throttle_concurrency as c from webhook where id = 'wh_1'`);
  return rows[0].c;
}

/** Lets the once-a-second rule pass. */
const aSecondLater = () => new Promise((r) => setTimeout(r, 1050));

describe('writeThrottles', () => {
  it('a climb from an older write is refused over a newer one; a decrease below the shared throttle is written whoever is behind', async () => {
    // Worker A lowers the limits (nothing written before).
    const first = await write(row(25, 0, true));
    expect(first).not.toBeNull();
    expect(await shared()).toBe(25);
    // Within the second: nothing else is written, not even a decrease.
    expect(await write(row(12, first!, true))).toBeNull();

    await aSecondLater();
    // Worker A climbs all the way and lifts the throttle, from the write it made.
    const lifted = await write(row(null, first!, false));
    expect(lifted).not.toBeNull();
    expect(await shared()).toBeNull();

    await aSecondLater();
    // Worker B still climbs from A's first write: its climb (28) is below the lift but must not replace it.
    expect(await write(row(28, first!, false))).toBeNull();
    expect(await shared()).toBeNull();
    // A decrease of B's, even from the older write, is news: written.
    expect(await write(row(14, first!, true))).not.toBeNull();
    expect(await shared()).toBe(14);

    await aSecondLater();
    // B, behind again, lowers to 20 — above the shared 14: not written (it reads 14 with its next claim).
    expect(await write(row(20, first!, true))).toBeNull();
    expect(await shared()).toBe(14);
  });
});
