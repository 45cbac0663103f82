import { describe, expect, it } from 'vitest';
import { deferDelayMs, MAX_DEFER_MS, MIN_DEFER_MS, Pace } from '../../src/core/backlog.ts';

describe('deferDelayMs: how long a delivery waits in the table when its webhook is far behind', () => {
  it('is the time the endpoint needs for what waits, at its recent pace', () => {
    // 200 waiting, 10 at a time, 500 ms each: 20 rounds of 500 ms.
    expect(deferDelayMs(200, 10, 500)).toBe(10_000);
  });

  it('is at least 2 s for a fast endpoint, and for one with no attempt yet', () => {
    expect(deferDelayMs(200, 10, 20)).toBe(MIN_DEFER_MS);
    expect(deferDelayMs(200, 10, undefined)).toBe(MIN_DEFER_MS);
  });

  it('is at most 60 s for an endpoint that hangs until its timeout', () => {
    expect(deferDelayMs(200, 10, 15_000)).toBe(MAX_DEFER_MS);
  });
});

describe('Pace: each webhook’s recent attempt duration', () => {
  it('follows the durations of each webhook apart, moving toward the newest', () => {
    const pace = new Pace();
    expect(pace.of('wh_a')).toBeUndefined();
    pace.record('wh_a', 100);
    pace.record('wh_b', 15_000);
    expect(pace.of('wh_a')).toBe(100);
    expect(pace.of('wh_b')).toBe(15_000);
    for (let i = 0; i < 30; i++) pace.record('wh_a', 15_000);
    expect(pace.of('wh_a')).toBeGreaterThan(14_000);
    expect(pace.of('wh_b')).toBe(15_000);
    // An endpoint that recovers is fast again after a handful of attempts.
    for (let i = 0; i < 30; i++) pace.record('wh_a', 50);
    expect(pace.of('wh_a')).toBeLessThan(100);
  });
});
