// Between claim and prepare (worker.ts): which claimed deliveries go to their webhook's lane.
import { type Decision, decide, hold } from '../core/delivery-state.ts';
import type { Claimed } from './claim.ts';
import type { WebhookForDelivery } from './sql/claim-deliveries.ts';

/** Where a claimed delivery goes: its webhook's lane, or straight to the recorder with a decision. */
export type Admission = { to: 'lane'; webhook: WebhookForDelivery } | { to: 'record'; decision: Decision };

/**
 * Whether a claimed delivery is sent: to its webhook's lane (where flow control decides when,
 * delivery/flow.ts), or not, with the decision to record instead — held because of its webhook's
 * state (hold(): deleted, or a scheduled attempt while PAUSED or DISABLED). How many a worker
 * claims of one webhook is bounded by the claim itself (sql/claim-deliveries.ts): the rest wait
 * in the table, unwritten.
 */
export function admit(claimed: Claimed, now: Date): Admission {
  const { delivery, webhook } = claimed;
  const reason = hold(delivery, webhook);
  if (reason !== null || webhook === undefined) {
    return { to: 'record', decision: decide(delivery, { kind: 'held', reason: reason ?? 'WEBHOOK_DELETED' }, webhook, now) };
  }
  return { to: 'lane', webhook };
}
