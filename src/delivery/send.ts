// Stage 3 of the worker (worker.ts): send.
import type { DeliveryClient, OutboundResult } from './http-client.ts';
import type { PreparedAttempt } from './prepare.ts';

/**
 * POSTs a prepared attempt through the delivery client (SSRF guard, timeouts, capped response
 * body). Never rejects for network problems: every outcome is an OutboundResult; rejects only
 * when `signal` ends it (the worker stopping).
 */
export async function send(client: DeliveryClient, attempt: PreparedAttempt, signal?: AbortSignal): Promise<OutboundResult> {
  return client.send({ ...attempt.request, signal });
}
