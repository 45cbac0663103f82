import { describe, expect, it } from 'vitest';
import {
  type AttemptResponse,
  type AttemptTrigger,
  type DeliveryState,
  type DeliveryStatus,
  decide,
  GONE_REASON,
  hold,
  isDue,
  NOT_ATTEMPTED_DELAY_MS,
  settle,
  TRANSFORM_ERROR,
  WAITING_SQL,
  WAITING_STATUSES,
  type WebhookState,
} from '../../src/core/delivery-state.ts';
import { dueCases } from '../helpers/due-cases.ts';

/**
 * Every row of the lifecycle table that decide(), hold(), the due rule and settle() own
 * (core/delivery-state.ts), one test each; the SQL twins run over the same cases in
 * delivery-state-sql.test.ts.
 */
const now = new Date('2026-11-23T10:00:00.000Z');
const at = (ms: number) => new Date(now.getTime() + ms);
/** Jitter pinned to none: random() = 0.5 gives a factor of exactly 1. */
const noJitter = () => 0.5;

const webhook: WebhookState = { status: 'ACTIVE', deleted: false, retrySchedule: [5, 300] };
const pending: DeliveryState = { status: 'PENDING', attemptCount: 0, trigger: 'SCHEDULED' };
const response = (status: number | null, extra: Partial<AttemptResponse> = {}): AttemptResponse => ({
  status,
  error: null,
  headers: {},
  ...extra,
});
const attempted = (delivery: DeliveryState, r: AttemptResponse, w: Pick<WebhookState, 'retrySchedule'> = webhook) =>
  decide(delivery, { kind: 'attempted', response: r }, w, now, noJitter);

describe('the states', () => {
  it('PENDING and RETRYING wait for an attempt; the others have ended', () => {
    expect(WAITING_STATUSES).toEqual(['PENDING', 'RETRYING']);
    expect(WAITING_SQL).toBe("('PENDING', 'RETRYING')");
  });
});

describe('hold(): may a claimed delivery be sent?', () => {
  it('not when its webhook is deleted (or gone), whatever the trigger', () => {
    for (const trigger of ['SCHEDULED', 'MANUAL', 'TEST'] as const) {
      expect(hold({ trigger }, { ...webhook, deleted: true })).toBe('WEBHOOK_DELETED');
      expect(hold({ trigger }, undefined)).toBe('WEBHOOK_DELETED');
    }
  });

  it('a scheduled attempt waits while its webhook is PAUSED and is not made when it is DISABLED', () => {
    expect(hold({ trigger: 'SCHEDULED' }, { ...webhook, status: 'PAUSED' })).toBe('WEBHOOK_PAUSED');
    expect(hold({ trigger: 'SCHEDULED' }, { ...webhook, status: 'DISABLED' })).toBe('WEBHOOK_DISABLED');
    expect(hold({ trigger: 'SCHEDULED' }, webhook)).toBeNull();
  });

  it('an attempt asked for by hand is made whatever the webhook’s status', () => {
    for (const status of ['ACTIVE', 'PAUSED', 'DISABLED'] as const) {
      expect(hold({ trigger: 'MANUAL' }, { ...webhook, status })).toBeNull();
      expect(hold({ trigger: 'TEST' }, { ...webhook, status })).toBeNull();
    }
  });
});

describe('decide() without an attempt', () => {
  it('webhook deleted: CANCELLED and complete, announced', () => {
    const d = decide(
      { status: 'RETRYING', attemptCount: 2, trigger: 'SCHEDULED' },
      { kind: 'held', reason: 'WEBHOOK_DELETED' },
      undefined,
      now,
    );
    expect(d).toMatchObject({ kind: 'cancelled', status: 'CANCELLED', attemptCount: 2, nextAttemptAt: null, completedAt: now });
    expect(d.phases).toEqual(['CANCELLED']);
    expect(d.health).toBeNull();
  });

  it('webhook PAUSED: parked, status unchanged, no due time, nothing announced', () => {
    const d = decide(
      { status: 'RETRYING', attemptCount: 1, trigger: 'SCHEDULED' },
      { kind: 'held', reason: 'WEBHOOK_PAUSED' },
      webhook,
      now,
    );
    expect(d).toMatchObject({ kind: 'parked', status: 'RETRYING', attemptCount: 1, nextAttemptAt: null, completedAt: null });
    expect(d.nextTrigger).toBe('SCHEDULED');
    expect(d.phases).toEqual([]);
  });

  it('webhook DISABLED: FAILED and complete, announced', () => {
    const d = decide(pending, { kind: 'held', reason: 'WEBHOOK_DISABLED' }, webhook, now);
    expect(d).toMatchObject({ kind: 'webhook-disabled', status: 'FAILED', nextAttemptAt: null, completedAt: now, phases: ['FAILED'] });
  });

  it('not attempted (a bug, a broken secret): tried again in 60 s, nothing lost', () => {
    const d = decide({ status: 'FAILED', attemptCount: 3, trigger: 'TEST' }, { kind: 'not-attempted' }, webhook, now);
    expect(d).toMatchObject({
      kind: 'not-attempted',
      status: 'FAILED',
      attemptCount: 3,
      nextAttemptAt: at(NOT_ATTEMPTED_DELAY_MS),
      nextTrigger: 'TEST',
      completedAt: null,
      health: null,
    });
  });
});

describe('decide() after an attempt', () => {
  it('2xx: SUCCEEDED, complete, a success for the webhook', () => {
    const d = attempted({ status: 'RETRYING', attemptCount: 2, trigger: 'SCHEDULED' }, response(204));
    expect(d).toMatchObject({ kind: 'succeeded', status: 'SUCCEEDED', attemptCount: 3, nextAttemptAt: null, completedAt: now });
    expect(d).toMatchObject({ phases: ['ATTEMPT_FINISHED', 'SUCCEEDED'], health: 'success', disableWebhook: null });
  });

  it('a 2xx with an error (body still trickling at the deadline) is not a success', () => {
    expect(attempted(pending, response(200, { error: 'TIMEOUT' })).status).toBe('RETRYING');
  });

  it('410 Gone: FAILED at once and the webhook disabled, even with retries left', () => {
    const d = attempted(pending, response(410));
    expect(d).toMatchObject({ kind: 'gone', status: 'FAILED', completedAt: now, phases: ['ATTEMPT_FINISHED', 'FAILED'] });
    expect(d).toMatchObject({ health: 'failure', disableWebhook: GONE_REASON });
  });

  it('not sent because its profile could not render it (TRANSFORM): FAILED at once, not against the webhook’s health', () => {
    const d = attempted(pending, response(null, { error: TRANSFORM_ERROR }));
    expect(d).toMatchObject({ kind: 'untransformable', status: 'FAILED', attemptCount: 1, nextAttemptAt: null, completedAt: now });
    expect(d).toMatchObject({ phases: ['ATTEMPT_FINISHED', 'FAILED'], health: null, disableWebhook: null });
  });

  it('failed with the schedule left: RETRYING after the scheduled delay, announced RETRY_SCHEDULED', () => {
    const first = attempted(pending, response(500));
    expect(first).toMatchObject({ kind: 'retry', status: 'RETRYING', attemptCount: 1, nextAttemptAt: at(5000), completedAt: null });
    expect(first).toMatchObject({ nextTrigger: 'SCHEDULED', phases: ['ATTEMPT_FINISHED', 'RETRY_SCHEDULED'], health: 'failure' });
    const second = attempted({ status: 'RETRYING', attemptCount: 1, trigger: 'SCHEDULED' }, response(null, { error: 'CONNECTION' }));
    expect(second.nextAttemptAt).toEqual(at(300_000));
  });

  it('the retry delay is jittered by up to 20 % either way', () => {
    const low = decide(pending, { kind: 'attempted', response: response(500) }, webhook, now, () => 0);
    const high = decide(pending, { kind: 'attempted', response: response(500) }, webhook, now, () => 0.999999);
    expect(low.nextAttemptAt).toEqual(at(4000));
    expect(high.nextAttemptAt!.getTime() - now.getTime()).toBeCloseTo(6000, -1);
  });

  it('no schedule of its own: the default one (5 s first)', () => {
    expect(attempted(pending, response(500), { retrySchedule: null }).nextAttemptAt).toEqual(at(5000));
  });

  it('429/503 with Retry-After: waits longer when asked, never shorter than scheduled', () => {
    expect(attempted(pending, response(429, { headers: { 'retry-after': '120' } })).nextAttemptAt).toEqual(at(120_000));
    expect(attempted(pending, response(503, { headers: { 'retry-after': '1' } })).nextAttemptAt).toEqual(at(5000));
    // Other statuses do not get to ask.
    expect(attempted(pending, response(500, { headers: { 'retry-after': '120' } })).nextAttemptAt).toEqual(at(5000));
  });

  it('failed with the schedule exhausted: FAILED', () => {
    const d = attempted({ status: 'RETRYING', attemptCount: 2, trigger: 'SCHEDULED' }, response(500));
    expect(d).toMatchObject({ kind: 'failed', status: 'FAILED', attemptCount: 3, nextAttemptAt: null, completedAt: now });
    expect(d.phases).toEqual(['ATTEMPT_FINISHED', 'FAILED']);
    expect(attempted(pending, response(500), { retrySchedule: [] }).status).toBe('FAILED');
  });

  it('a failed test event is one try: FAILED', () => {
    expect(attempted({ status: 'PENDING', attemptCount: 0, trigger: 'TEST' }, response(500))).toMatchObject({
      kind: 'failed',
      status: 'FAILED',
    });
  });

  it('a failed manual retry of an ended delivery is one try: FAILED again', () => {
    for (const status of ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const) {
      const d = attempted({ status, attemptCount: 4, trigger: 'MANUAL' }, response(500));
      expect(d).toMatchObject({ status: 'FAILED', attemptCount: 5, nextAttemptAt: null, nextTrigger: 'SCHEDULED' });
    }
  });

  it('a manual retry of a waiting delivery walks its schedule like a scheduled attempt', () => {
    const d = attempted({ status: 'RETRYING', attemptCount: 1, trigger: 'MANUAL' }, response(500));
    expect(d).toMatchObject({ status: 'RETRYING', attemptCount: 2, nextAttemptAt: at(300_000), nextTrigger: 'SCHEDULED' });
  });

  it('a manual retry that succeeds ends the delivery whatever it was', () => {
    expect(attempted({ status: 'FAILED', attemptCount: 10, trigger: 'MANUAL' }, response(200)).status).toBe('SUCCEEDED');
  });
});

describe('settle(): a retry asked for while the worker held the delivery', () => {
  const success = attempted(pending, response(200));
  const retry = attempted(pending, response(500));
  const putOff = decide({ status: 'PENDING', attemptCount: 0, trigger: 'TEST' }, { kind: 'not-attempted' }, webhook, now);

  it('none asked: the decision is written as it is', () => {
    expect(settle(success, 'SCHEDULED', 'SCHEDULED', now)).toEqual({
      status: 'SUCCEEDED',
      nextAttemptAt: null,
      nextTrigger: 'SCHEDULED',
      completedAt: now,
      requeue: false,
    });
    expect(settle(putOff, 'TEST', 'TEST', now)).toMatchObject({ nextAttemptAt: at(60_000), nextTrigger: 'TEST', requeue: false });
  });

  it('asked during an in-flight attempt that succeeded: the status is the attempt’s, but another attempt is due now', () => {
    expect(settle(success, 'SCHEDULED', 'MANUAL', at(10))).toEqual({
      status: 'SUCCEEDED',
      nextAttemptAt: at(10),
      nextTrigger: 'MANUAL',
      completedAt: null,
      requeue: true,
    });
  });

  it('asked during an attempt that failed with retries left: due now rather than after the delay', () => {
    expect(settle(retry, 'SCHEDULED', 'MANUAL', now)).toMatchObject({
      status: 'RETRYING',
      nextAttemptAt: now,
      nextTrigger: 'MANUAL',
      requeue: true,
    });
  });

  it('asked while a test was only put off: the manual request replaces it, due now', () => {
    expect(settle(putOff, 'TEST', 'MANUAL', now)).toMatchObject({ nextAttemptAt: now, nextTrigger: 'MANUAL', requeue: true });
  });
});

describe('the due rule', () => {
  const cases = dueCases(now);
  const named = (name: string) => cases.find((c) => c.name === name)!;

  it('due: owed an attempt, its time has come, no live lease', () => {
    expect(isDue(named('PENDING/SCHEDULED/next past/lease none'), now, now)).toBe(true);
    expect(isDue(named('RETRYING/SCHEDULED/next past/lease lapsed'), now, now)).toBe(true);
    expect(isDue(named('SUCCEEDED/MANUAL/next past/lease none'), now, now)).toBe(true);
    expect(isDue(named('FAILED/TEST/next past/lease none'), now, now)).toBe(true);
  });

  it('not due: ended without a request, not yet, parked, or leased', () => {
    expect(isDue(named('SUCCEEDED/SCHEDULED/next past/lease none'), now, now)).toBe(false);
    expect(isDue(named('PENDING/SCHEDULED/next future/lease none'), now, now)).toBe(false);
    expect(isDue(named('PENDING/SCHEDULED/next none/lease none'), now, now)).toBe(false);
    expect(isDue(named('PENDING/SCHEDULED/next past/lease live'), now, now)).toBe(false);
  });

  it('the sweep’s "due by a while ago" leaves out what only just came due', () => {
    expect(isDue(named('PENDING/SCHEDULED/next justPast/lease none'), at(-120_000), now)).toBe(false);
    expect(isDue(named('PENDING/SCHEDULED/next past/lease none'), at(-120_000), now)).toBe(true);
  });

  it('owed at all (by: null) ignores time and lease: parked and in-flight deliveries keep their event', () => {
    const owed = (status: DeliveryStatus, trigger: AttemptTrigger) => isDue(named(`${status}/${trigger}/next none/lease live`), null, now);
    expect(owed('PENDING', 'SCHEDULED')).toBe(true);
    expect(owed('FAILED', 'MANUAL')).toBe(true);
    expect(owed('FAILED', 'SCHEDULED')).toBe(false);
    expect(owed('CANCELLED', 'SCHEDULED')).toBe(false);
  });
});
