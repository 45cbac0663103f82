import type { OutboundResult } from '../delivery/http-client.ts';
import { nextRetryDelayMs, retryAfterDelayMs } from './retry.ts';

export type Outcome =
  | { kind: 'succeeded' }
  | { kind: 'retry'; delayMs: number }
  | { kind: 'failed' }
  /** 410 Gone: the endpoint asked to be removed; the webhook is disabled at once. */
  | { kind: 'gone' };

export function isSuccess(result: OutboundResult): boolean {
  return result.error === null && result.status !== null && result.status >= 200 && result.status < 300;
}

/**
 * What follows an attempt. An attempt within the retry schedule walks it; a one-off attempt
 * (a test, or a manual retry of a delivery that had already ended) is one try, and its
 * failure leaves the delivery FAILED (replayable).
 */
export function decideOutcome(input: {
  result: OutboundResult;
  attemptNumber: number;
  oneOff: boolean;
  schedule: readonly number[];
  random?: () => number;
  now?: number;
}): Outcome {
  const { result } = input;
  if (isSuccess(result)) return { kind: 'succeeded' };
  if (result.status === 410) return { kind: 'gone' };
  if (input.oneOff) return { kind: 'failed' };
  const delayMs = nextRetryDelayMs(input.schedule, input.attemptNumber, input.random);
  if (delayMs === null) return { kind: 'failed' };
  if (result.status === 429 || result.status === 503) {
    return { kind: 'retry', delayMs: retryAfterDelayMs(result.headers['retry-after'], delayMs, input.now) };
  }
  return { kind: 'retry', delayMs };
}
