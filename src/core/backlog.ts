import { BoundedMap } from './bounded-map.ts';

/**
 * When a webhook's lane already holds `maxInFlight × 20` claimed deliveries, the worker leaves
 * further ones in the table for later instead of holding them in memory. How much later: about
 * the time the endpoint needs to work through what is waiting, at its recent pace, between 2 s
 * and 60 s. A dead endpoint that hangs until its timeout then has its backlog read once a
 * minute, not every 2 s (which cost a claim and a write per waiting delivery each time).
 */
export const MIN_DEFER_MS = 2_000;
export const MAX_DEFER_MS = 60_000;

export function deferDelayMs(waiting: number, maxInFlight: number, recentDurationMs: number | undefined): number {
  const drainMs = recentDurationMs === undefined ? 0 : (waiting / Math.max(1, maxInFlight)) * recentDurationMs;
  return Math.min(MAX_DEFER_MS, Math.max(MIN_DEFER_MS, Math.round(drainMs)));
}

/** Weight of the newest attempt in the moving average. */
const ALPHA = 0.2;

/** A moving average of each webhook's attempt durations (timeouts count at their full length). */
export class Pace {
  private readonly averages = new BoundedMap<string, number>(10_000);

  record(webhookId: string, durationMs: number): void {
    const previous = this.averages.get(webhookId);
    this.averages.set(webhookId, previous === undefined ? durationMs : previous + ALPHA * (durationMs - previous));
  }

  of(webhookId: string): number | undefined {
    return this.averages.get(webhookId);
  }
}
