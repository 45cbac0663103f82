import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LANE_FACTOR, laneCap, laneCapSql, RATE_HOLD_SECONDS, reserve, reserveCount, spacingMs } from '../../src/core/flow.ts';
import { createMigratedDatabase } from '../helpers/db.ts';

describe('laneCap: what a worker holds of one webhook', () => {
  it('is LANE_FACTOR × the concurrency, and under a rate at most RATE_HOLD_SECONDS of it (at least 1)', () => {
    expect(laneCap(10, null)).toBe(10 * LANE_FACTOR);
    expect(laneCap(10, 5)).toBe(5 * RATE_HOLD_SECONDS);
    expect(laneCap(2, 1000)).toBe(2 * LANE_FACTOR);
    expect(laneCap(3, 0.1)).toBe(1);
  });

  describe('its SQL form, over webhook rows (configured limits lowered by a throttle)', () => {
    let pool: pg.Pool;
    beforeAll(async () => {
      pool = new pg.Pool({ connectionString: await createMigratedDatabase(), max: 1 });
    });
    afterAll(() => pool?.end());

    it('agrees with laneCap for every combination', async () => {
      const cases = [];
      for (const maxInFlight of [1, 3, 10, 100])
        for (const throttleConcurrency of [null, 1, 2, 50])
          for (const rateLimit of [null, 0.1, 2.5, 20, 1000])
            for (const throttleRate of [null, 0.1, 7, 5000]) cases.push({ maxInFlight, throttleConcurrency, rateLimit, throttleRate });
      const { rows } = await pool.query<{ cap: number }>(
        `select ${laneCapSql('w')} as cap
           from json_to_recordset($1::json) as w(n int, max_in_flight int, throttle_concurrency int, rate_limit double precision,
                throttle_rate double precision)
          order by w.n`,
        [
          JSON.stringify(
            cases.map((c, n) => ({
              n,
              max_in_flight: c.maxInFlight,
              throttle_concurrency: c.throttleConcurrency,
              rate_limit: c.rateLimit,
              throttle_rate: c.throttleRate,
            })),
          ),
        ],
      );
      const expected = cases.map((c) => {
        const concurrency = Math.min(c.maxInFlight, c.throttleConcurrency ?? c.maxInFlight);
        const rates = [c.rateLimit, c.throttleRate].filter((r): r is number => r !== null);
        return laneCap(concurrency, rates.length > 0 ? Math.min(...rates) : null);
      });
      expect(rows.map((r) => r.cap)).toEqual(expected);
    });
  });
});

describe('a rate as a schedule', () => {
  it('reserves times spacingMs apart from max(nextAt, now), and moves nextAt past them', () => {
    expect(spacingMs(20)).toBe(50);
    expect(reserve(null, 1000, 3, 20)).toEqual({ times: [1000, 1050, 1100], nextAt: 1150 });
    // Idle for a while: no burst to make up for it.
    expect(reserve(500, 1000, 2, 20)).toEqual({ times: [1000, 1050], nextAt: 1100 });
    // Busy: after the times reserved before.
    expect(reserve(1150, 1000, 2, 20).times).toEqual([1150, 1200]);
  });

  it('reserves a quarter of a second at a time at most, for the deliveries ready', () => {
    expect(reserveCount(100, 20)).toBe(5);
    expect(reserveCount(2, 20)).toBe(2);
    expect(reserveCount(100, 1)).toBe(1);
    expect(reserveCount(0, 20)).toBe(0);
  });
});
