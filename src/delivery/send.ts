// Stage 3 of the worker (worker.ts): send.
import type { Pace } from '../core/backlog.ts';
import type { DeliveryClient, OutboundResult } from './http-client.ts';
import type { PreparedAttempt } from './prepare.ts';

/**
 * POSTs a prepared attempt through the delivery client (SSRF guard, timeouts, capped response
 * body) and notes its duration in the webhook's pace. Never rejects for network problems:
 * every outcome is an OutboundResult; rejects only when `signal` ends it (the worker stopping).
 */
export async function send(client: DeliveryClient, attempt: PreparedAttempt, pace: Pace, signal?: AbortSignal): Promise<OutboundResult> {
  const result = await client.send({ ...attempt.request, signal });
  pace.record(attempt.webhookId, result.durationMs);
  return result;
}
