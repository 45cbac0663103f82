// Flow control of one webhook, the pure parts: ordering and priority names, how much of a
// webhook's work a worker holds at once, and how a rate is spaced. The shared state (slots,
// the rate's next free time, keyed sequences) lives in PostgreSQL: delivery/sql/flow.ts.

/** A webhook's delivery order: NONE (any), or KEYED (one at a time per orderingKey, in publish order). */
export const ORDERINGS = ['NONE', 'KEYED'] as const;
export type Ordering = (typeof ORDERINGS)[number];

/** An event type's priority; a delivery carries its event type's as a rank (lower goes first). */
export const PRIORITIES = ['HIGH', 'NORMAL', 'LOW'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { HIGH: 0, NORMAL: 1, LOW: 2 };
export const HIGH_RANK = PRIORITY_RANK.HIGH;
export const NORMAL_RANK = PRIORITY_RANK.NORMAL;

/** An orderingKey: 1 to 255 characters. */
export const ORDERING_KEY_MAX = 255;

/** A worker holds at most this many times a webhook's concurrency of its deliveries (in flight and queued). */
export const LANE_FACTOR = 4;
/** …and, under a rate, at most this many seconds of it. */
export const RATE_HOLD_SECONDS = 2;
/** A rate is reserved this many seconds ahead at most (each reservation is one statement). */
export const RATE_RESERVE_SECONDS = 0.25;

/**
 * How many deliveries of one webhook a worker holds at most, in flight and queued: enough that the
 * endpoint never waits for the database, few enough that a queued delivery waits seconds, not the
 * lease's renewal (a write), and that a HIGH delivery behind them is not held up long.
 */
export function laneCap(concurrency: number, rate: number | null): number {
  const byConcurrency = LANE_FACTOR * concurrency;
  return rate === null ? byConcurrency : Math.max(1, Math.min(byConcurrency, Math.ceil(rate * RATE_HOLD_SECONDS)));
}

/**
 * laneCap() over a webhook row aliased `w` (its configured limits lowered by its throttle): what a
 * claim takes of a webhook the worker holds nothing of yet. A test compares both forms.
 */
export function laneCapSql(w: string): string {
  const concurrency = `least(${w}.max_in_flight, coalesce(${w}.throttle_concurrency, ${w}.max_in_flight))`;
  const rate = `least(${w}.rate_limit, ${w}.throttle_rate)`; // least() skips nulls
  return `(case when ${rate} is null then ${LANE_FACTOR} * ${concurrency}
                else greatest(1, least(${LANE_FACTOR} * ${concurrency}, ceil(${rate} * ${RATE_HOLD_SECONDS})::int)) end)`;
}

/** How many send times to reserve at once for `ready` deliveries under `rate`. */
export function reserveCount(ready: number, rate: number): number {
  return Math.max(0, Math.min(ready, Math.max(1, Math.ceil(rate * RATE_RESERVE_SECONDS))));
}

/** Milliseconds between two sends at `rate` a second. */
export function spacingMs(rate: number): number {
  return 1000 / rate;
}

/**
 * A rate as a schedule (GCRA's virtual scheduling, no burst): `nextAt` is when the next send may
 * go. Reserving `count` sends gives them times `spacingMs` apart from max(nextAt, now), and moves
 * nextAt past the last. Every worker reserves from the same nextAt (in PostgreSQL, in one
 * statement: delivery/sql/flow.ts), so sends are spaced evenly whoever makes them.
 */
export function reserve(nextAt: number | null, now: number, count: number, rate: number): { times: number[]; nextAt: number } {
  const first = Math.max(nextAt ?? now, now);
  const spacing = spacingMs(rate);
  return { times: Array.from({ length: count }, (_, i) => first + i * spacing), nextAt: first + count * spacing };
}
