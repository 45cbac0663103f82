// Part of stage 5 (record.ts): the operational events a recorded batch owes.
import { DELIVERY_RECOVERED, type Notice, WEBHOOK_DISABLED } from '../core/operational-events.ts';
import type { ResultRecord } from './record.ts';
import type { DisabledWebhook, EndedStreak } from './sql/record-results.ts';

/**
 * The operational events of one batch, in the order its attempts finished: each delivery that
 * ran out of attempts (`delivery.exhausted`), each success that ended a failure streak
 * (`delivery.recovered`: the streak before the batch, `before`, for a webhook's first success in
 * it; the failures since its previous success for a later one), and each webhook disabled
 * (`webhook.disabled`). None about operator webhooks or about deliveries of operational events.
 */
export function noticesOf(
  records: readonly ResultRecord[],
  before: readonly EndedStreak[],
  disabled: readonly DisabledWebhook[],
): Notice[] {
  const notices: Notice[] = [];
  const streakBefore = new Map(before.map((s) => [s.webhookId, s]));
  /** Per webhook: failures since its last success in this batch (or since the batch began), and when the first ended. */
  const streaks = new Map<string, { failures: number; since: Date | null; succeeded: boolean }>();
  for (const r of records) {
    if (r.exhausted) notices.push(r.exhausted);
    if (!r.health || !r.attempt) continue;
    const at = new Date(r.attempt.startedAt.getTime() + r.attempt.durationMs);
    let streak = streaks.get(r.webhookId);
    if (!streak) {
      streak = { failures: 0, since: null, succeeded: false };
      streaks.set(r.webhookId, streak);
    }
    if (r.health === 'failure') {
      streak.failures++;
      streak.since ??= at;
      continue;
    }
    const earlier = streak.succeeded ? undefined : streakBefore.get(r.webhookId);
    const failures = (earlier?.failures ?? 0) + streak.failures;
    if (failures > 0 && r.mayNotify && r.tenantId !== null) {
      notices.push({
        type: DELIVERY_RECOVERED,
        tenantId: r.tenantId,
        webhookId: r.webhookId,
        data: {
          webhookId: r.webhookId,
          url: r.attempt.requestUrl,
          deliveryId: r.change.id,
          eventId: r.eventId,
          eventType: r.eventType,
          failedAttempts: failures,
          failingSince: (earlier?.failingSince ?? streak.since ?? at).toISOString(),
          recoveredAt: at.toISOString(),
        },
      });
    }
    streaks.set(r.webhookId, { failures: 0, since: null, succeeded: true });
  }
  for (const w of disabled) {
    if (w.tenantId === null) continue; // an operator webhook tells nobody about itself
    notices.push({
      type: WEBHOOK_DISABLED,
      tenantId: w.tenantId,
      webhookId: w.id,
      data: { webhookId: w.id, url: w.url, reason: w.reason, disabledAt: w.disabledAt.toISOString() },
    });
  }
  return notices;
}
