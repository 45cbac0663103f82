// Retry timing (DESIGN.md, "Delivery semantics"). Pure: callers pass the clock
// and the random source, so tests can pin both.

/**
 * Seconds to wait after attempt 1, 2, …: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 14 h, 20 h, 24 h. With the first try that is 10 attempts; the last comes
 * about 3.1 days (272 105 s, before jitter) after the first.
 */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = Object.freeze([5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]);

/** Each delay varies by up to this fraction either way, so endpoints that fail together don't get retried in lockstep. */
export const RETRY_JITTER = 0.2;

/** A `Retry-After` may push a retry out, but never further than this. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/** Attempts a delivery gets in total under `schedule`: the first try plus one per entry. */
export function totalAttempts(schedule: readonly number[]): number {
  return schedule.length + 1;
}

/**
 * Milliseconds until the next attempt after `attemptsMade` attempts, jittered
 * by ±20 %; `null` once the schedule is exhausted (the delivery has failed).
 * `random` returns a number in [0, 1), like `Math.random`.
 */
export function nextRetryDelayMs(schedule: readonly number[], attemptsMade: number, random: () => number = Math.random): number | null {
  if (!Number.isSafeInteger(attemptsMade) || attemptsMade < 1) {
    throw new RangeError(`attemptsMade must be a positive integer, got ${attemptsMade}`);
  }
  if (attemptsMade > schedule.length) return null;
  const baseMs = schedule[attemptsMade - 1] * 1000;
  const factor = 1 + (random() * 2 - 1) * RETRY_JITTER;
  return Math.round(baseMs * factor);
}

/**
 * The delay to use when a 429/503 response carries `Retry-After`
 * (delta-seconds or an HTTP-date). The endpoint may ask for more time than the
 * schedule gives, up to 24 h, but never for less: a busy endpoint must not be
 * able to make Herald retry faster. Missing or unreadable → `scheduledMs`.
 */
export function retryAfterDelayMs(header: string | undefined, scheduledMs: number, now: number = Date.now()): number {
  const requestedMs = parseRetryAfterMs(header, now);
  if (requestedMs === null) return scheduledMs;
  return Math.max(scheduledMs, Math.min(requestedMs, MAX_RETRY_AFTER_MS));
}

function parseRetryAfterMs(header: string | undefined, now: number): number | null {
  if (header === undefined) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP-date always names a month; requiring letters keeps Date.parse's
  // leniency from reading inputs like "1.5" as a date.
  if (!/[a-z]/i.test(value)) return null;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return date - now;
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = Object.freeze({
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
});

/**
 * Parses a configured duration into milliseconds: `5d`, `12h`, `30m`, `45s`,
 * `1500ms`, or a plain number of seconds. Throws on anything else, so a typo
 * in the environment stops the process instead of meaning "0".
 */
export function parseDuration(input: string | number): number {
  const text = String(input).trim();
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text);
  if (!match) {
    throw new Error(
      `Invalid duration ${JSON.stringify(input)}: use a number of seconds or a number ` +
        'with a unit ms, s, m, h or d (e.g. "5d", "12h", "1500ms")',
    );
  }
  const unit = (match[2] ?? 's').toLowerCase();
  const ms = Math.round(Number(match[1]) * DURATION_UNITS_MS[unit]);
  if (!Number.isSafeInteger(ms)) throw new Error(`Duration ${JSON.stringify(input)} is too large`);
  return ms;
}
