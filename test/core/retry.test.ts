import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_SCHEDULE,
  MAX_RETRY_AFTER_MS,
  nextRetryDelayMs,
  parseDuration,
  retryAfterDelayMs,
  totalAttempts,
} from '../../src/core/retry.ts';

/** A deterministic stand-in for Math.random (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('DEFAULT_RETRY_SCHEDULE', () => {
  it('gives 10 attempts, the last about 3.1 days after the first', () => {
    expect(totalAttempts(DEFAULT_RETRY_SCHEDULE)).toBe(10);
    const totalSeconds = DEFAULT_RETRY_SCHEDULE.reduce((a, b) => a + b, 0);
    expect(totalSeconds).toBe(272_105);
  });
});

describe('nextRetryDelayMs', () => {
  it('uses the scheduled delay after each attempt, without jitter at the midpoint', () => {
    const midpoint = () => 0.5;
    DEFAULT_RETRY_SCHEDULE.forEach((seconds, index) => {
      expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, index + 1, midpoint)).toBe(seconds * 1000);
    });
  });

  it('stays within ±20 % and spreads across the range', () => {
    const random = seededRandom(42);
    for (const [index, seconds] of DEFAULT_RETRY_SCHEDULE.entries()) {
      const baseMs = seconds * 1000;
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < 2000; i++) {
        const delay = nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, index + 1, random)!;
        expect(delay).toBeGreaterThanOrEqual(baseMs * 0.8);
        expect(delay).toBeLessThanOrEqual(baseMs * 1.2);
        min = Math.min(min, delay);
        max = Math.max(max, delay);
      }
      // Real jitter, not a constant: the samples reach near both ends.
      expect(min).toBeLessThan(baseMs * 0.82);
      expect(max).toBeGreaterThan(baseMs * 1.18);
    }
  });

  it('hits the exact bounds for the extreme random values', () => {
    expect(nextRetryDelayMs([100], 1, () => 0)).toBe(80_000);
    expect(nextRetryDelayMs([100], 1, () => 0.999999999)).toBe(120_000);
  });

  it('returns null once the schedule is exhausted', () => {
    expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 9)).not.toBeNull();
    expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 10)).toBeNull();
    expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 11)).toBeNull();
  });

  it('with an empty schedule allows one attempt only', () => {
    expect(totalAttempts([])).toBe(1);
    expect(nextRetryDelayMs([], 1)).toBeNull();
  });

  it('follows a custom schedule', () => {
    const schedule = [1, 60];
    expect(nextRetryDelayMs(schedule, 2, () => 0.5)).toBe(60_000);
    expect(nextRetryDelayMs(schedule, 3)).toBeNull();
  });

  it('refuses a non-positive attempt count', () => {
    expect(() => nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 0)).toThrow(RangeError);
    expect(() => nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 1.5)).toThrow(RangeError);
  });
});

describe('retryAfterDelayMs', () => {
  const now = Date.parse('2026-11-22T10:00:00.000Z');
  const scheduledMs = 300_000;

  it('returns the scheduled delay when the header is missing or unreadable', () => {
    expect(retryAfterDelayMs(undefined, scheduledMs, now)).toBe(scheduledMs);
    expect(retryAfterDelayMs('', scheduledMs, now)).toBe(scheduledMs);
    expect(retryAfterDelayMs('soon', scheduledMs, now)).toBe(scheduledMs);
    expect(retryAfterDelayMs('1.5', scheduledMs, now)).toBe(scheduledMs);
    expect(retryAfterDelayMs('-30', scheduledMs, now)).toBe(scheduledMs);
  });

  it('honours delta-seconds longer than the schedule', () => {
    expect(retryAfterDelayMs('600', scheduledMs, now)).toBe(600_000);
    expect(retryAfterDelayMs(' 3600 ', scheduledMs, now)).toBe(3_600_000);
  });

  it('never retries sooner than scheduled', () => {
    expect(retryAfterDelayMs('0', scheduledMs, now)).toBe(scheduledMs);
    expect(retryAfterDelayMs('10', scheduledMs, now)).toBe(scheduledMs);
  });

  it('never waits longer than 24 h', () => {
    expect(retryAfterDelayMs('172800', scheduledMs, now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterDelayMs('99999999999999999999', scheduledMs, now)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('keeps a scheduled delay that is itself longer than 24 h', () => {
    const twoDays = 2 * MAX_RETRY_AFTER_MS;
    expect(retryAfterDelayMs('60', twoDays, now)).toBe(twoDays);
    expect(retryAfterDelayMs('999999', twoDays, now)).toBe(twoDays);
  });

  it('reads an HTTP-date', () => {
    const inOneHour = new Date(now + 3_600_000).toUTCString(); // "Sun, 22 Nov 2026 11:00:00 GMT"
    expect(retryAfterDelayMs(inOneHour, scheduledMs, now)).toBe(3_600_000);
    expect(retryAfterDelayMs(new Date(now - 60_000).toUTCString(), scheduledMs, now)).toBe(scheduledMs);
    expect(retryAfterDelayMs(new Date(now + 3 * 86_400_000).toUTCString(), scheduledMs, now)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('parseDuration', () => {
  it.each([
    ['5d', 5 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['30m', 30 * 60_000],
    ['45s', 45_000],
    ['1500ms', 1500],
    ['90', 90_000],
    [' 2h ', 7_200_000],
    ['1.5h', 5_400_000],
    ['0', 0],
  ])('parses %j', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it('treats a plain number as seconds', () => {
    expect(parseDuration(90)).toBe(90_000);
  });

  it.each(['', 'abc', '5x', '-5s', '5 days', 'd', '1e3', '5d3h'])('rejects %j', (input) => {
    expect(() => parseDuration(input)).toThrow(/Invalid duration/);
  });

  it('rejects negative and non-finite numbers', () => {
    expect(() => parseDuration(-1)).toThrow(/Invalid duration/);
    expect(() => parseDuration(Number.NaN)).toThrow(/Invalid duration/);
    expect(() => parseDuration(Infinity)).toThrow(/Invalid duration/);
  });
});
