// Between claim and prepare (worker.ts): which claimed deliveries go to their webhook's lane.
import { deferDelayMs, MIN_DEFER_MS, type Pace } from '../core/backlog.ts';
import { type Decision, decide, hold } from '../core/delivery-state.ts';
import type { Claimed } from './claim.ts';
import type { WebhookForDelivery } from './sql/claim-deliveries.ts';

/** Where a claimed delivery goes: its webhook's lane, or straight to the recorder with a decision. */
export type Admission = { to: 'lane'; webhook: WebhookForDelivery } | { to: 'record'; decision: Decision };

/** How many claimed deliveries may wait per webhook beyond its maxInFlight before new ones are deferred. */
export const LANE_BACKLOG_FACTOR = 20;

/**
 * Whether a claimed delivery is sent: to its webhook's lane, or not, with the decision to record
 * instead — held because of its webhook's state (hold(): deleted, or a scheduled attempt while
 * PAUSED or DISABLED), or deferred because the lane is far behind. `waiting` is how many of the
 * webhook's deliveries wait in its lane; `pace` knows its recent attempt durations.
 */
export function admit(claimed: Claimed, waiting: number, pace: Pace, now: Date): Admission {
  const { delivery, webhook } = claimed;
  const reason = hold(delivery, webhook);
  if (reason !== null || webhook === undefined) {
    return { to: 'record', decision: decide(delivery, { kind: 'held', reason: reason ?? 'WEBHOOK_DELETED' }, webhook, now) };
  }
  if (waiting < webhook.maxInFlight * LANE_BACKLOG_FACTOR) return { to: 'lane', webhook };
  // This endpoint is far behind: leave the delivery in the table for later rather than holding
  // it in memory. A retry or test asked for by hand is meant to run now: it waits the least.
  const delayMs = delivery.trigger === 'SCHEDULED' ? deferDelayMs(waiting, webhook.maxInFlight, pace.of(webhook.id)) : MIN_DEFER_MS;
  return { to: 'record', decision: decide(delivery, { kind: 'deferred', delayMs }, webhook, now) };
}
