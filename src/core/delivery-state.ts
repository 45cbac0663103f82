// The delivery lifecycle (DESIGN.md, "Delivery semantics"). Pure: the worker asks decide() what
// follows each claim; claim, sweep and retention select rows with dueSql(); services change rows
// with the statements named below. Nothing else decides a delivery's status.
//
// A delivery is one event on its way to one webhook. Its status is one of:
//
//   PENDING    waiting for its first attempt          ┐ waiting: the schedule still owes it
//   RETRYING   an attempt failed; another is due      ┘ an attempt
//   SUCCEEDED  an attempt got a 2xx                   ┐ ended: only an attempt asked for by
//   FAILED     out of attempts, or cannot be sent     │ hand (retryDelivery, replay) makes
//   CANCELLED  its webhook was deleted                ┘ another
//
// Besides its status a delivery has `next_attempt_at` (null: none planned — ended, or parked
// while its webhook is paused), `next_trigger` (SCHEDULED, or MANUAL/TEST for a one-off attempt
// asked for by hand) and a worker's lease (`locked_by`, `locked_until`) while one holds it.
//
// ## Due
//
// A delivery is due by time t when (1) it is owed an attempt — its status is waiting or its
// next trigger is MANUAL/TEST — and (2) next_attempt_at ≤ t and (3) no live lease holds it.
// Claim takes due-by-now; the sweep re-queues due-by-(now − lease/2) (its wake-up job was lost
// or its worker died); retention keeps every event with a delivery owed an attempt (1 alone).
//
// ## Where owed deliveries are found
//
// The delivery row is the truth, but the delivery table has no index on status or due time: its
// worker's updates (lease, then the final status) touch no indexed column, so they are HOT
// updates that write no index entries. A delivery owed an attempt is found in one of two places:
//
//   delivery_due    one row per delivery owed an attempt beyond its first (retry, put off, asked
//                   for by hand, test event, parked behind a paused webhook), its due time beside
//                   it; written and removed with the delivery's own changes
//   delivery_batch  one row per publish call: the id range of the fresh deliveries it wrote, which
//                   their wake-up jobs send within moments; once a batch is lease/2 old, the sweep
//                   gives its deliveries still owed a delivery_due row and removes it
//
// owedCandidatesSql() reads both. A delivery_due row whose delivery is no longer owed is harmless
// (every reader checks the delivery row with dueSql) and the sweep removes it.
//
// ## Transitions
//
// | from              | trigger                                              | to        | next attempt             | announced (phases)                |
// |-------------------|------------------------------------------------------|-----------|--------------------------|-----------------------------------|
// | –                 | published, webhook ACTIVE (services/events)          | PENDING   | now                      | QUEUED                            |
// | –                 | published, webhook PAUSED                            | PENDING   | none: parked             | QUEUED                            |
// | –                 | published KEYED, its key has a waiting delivery      | PENDING   | none: behind its key     | QUEUED                            |
// | behind its key    | the key's waiting ones before it ended (recorder)    | unchanged | now                      | –                                 |
// | –                 | sendTestEvent (services/deliveries)                  | PENDING   | now, TEST                | QUEUED                            |
// | any               | retryDelivery (services/deliveries)                  | unchanged | now, MANUAL              | QUEUED                            |
// | FAILED, SCHEDULED | replayFailedDeliveries (none already asked)          | unchanged | now, MANUAL              | QUEUED                            |
// | parked            | webhook resumed (services/webhooks), not behind key  | unchanged | now                      | QUEUED                            |
// | waiting           | webhook deleted (services/webhooks)                  | CANCELLED | none                     | CANCELLED                         |
// | waiting, unleased | webhook disabled (410, failing too long; the worker) | FAILED    | none                     | FAILED                            |
// | due, lease lapsed | sweep (delivery/sql/sweep)                           | unchanged | now                      | –                                 |
// | claimed           | hold(): webhook deleted                              | CANCELLED | none                     | CANCELLED                         |
// | claimed SCHEDULED | hold(): webhook PAUSED                               | unchanged | none: parked             | –                                 |
// | claimed SCHEDULED | hold(): webhook DISABLED                             | FAILED    | none                     | FAILED                            |
// | claimed           | not attempted: a bug or a broken setting             | unchanged | in 60 s, same trigger    | –                                 |
// | claimed           | not sent: its profile could not render it²           | FAILED    | none                     | ATTEMPT_FINISHED, FAILED          |
// | claimed           | attempt answered 2xx                                 | SUCCEEDED | none                     | ATTEMPT_FINISHED, SUCCEEDED       |
// | claimed           | attempt answered 410 Gone (disables the webhook)     | FAILED    | none                     | ATTEMPT_FINISHED, FAILED          |
// | claimed, one-off  | attempt failed (TEST, or MANUAL of an ended one)     | FAILED    | none                     | ATTEMPT_FINISHED, FAILED          |
// | claimed, waiting  | attempt failed, schedule exhausted                   | FAILED    | none                     | ATTEMPT_FINISHED, FAILED          |
// | claimed, waiting  | attempt failed, schedule left                        | RETRYING  | after the delay¹         | ATTEMPT_FINISHED, RETRY_SCHEDULED |
// | claimed           | retry asked while the worker held it (settle())      | decided   | now, the asked trigger   | as decided                        |
//
// Every row from "claimed" down is decide() (with hold() choosing among the first three); "any"
// includes ended deliveries. A one-off attempt of a waiting delivery walks its schedule like a
// scheduled one. A delivery waiting for a slot, a send time or room in a worker (flow control,
// delivery/flow.ts) is due and simply not claimed yet: no row changes while it waits. A KEYED
// webhook's delivery waits behind its key with no next attempt time, as a parked one does; only
// the first waiting delivery of a key (its head) has one, and a retry by hand goes regardless
// (a scheduled retry of one that is not the head waits behind its key again). ¹ The webhook's
// retrySchedule (or the default) with ±20 % jitter; a 429 or 503 may ask for more with
// Retry-After, up to 24 h (core/retry.ts). ² An attempt with error TRANSFORM (a profile
// expression failed, or nothing to sign with): every retry would fail alike, and it is not the
// endpoint's doing, so it does not count against the webhook's health.
import { DEFAULT_RETRY_SCHEDULE, nextRetryDelayMs, retryAfterDelayMs } from './retry.ts';

export const DELIVERY_STATUSES = ['PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** What asks for an attempt: the retry schedule, a person (retryDelivery, replay), or sendTestEvent. */
export const ATTEMPT_TRIGGERS = ['SCHEDULED', 'MANUAL', 'TEST'] as const;
export type AttemptTrigger = (typeof ATTEMPT_TRIGGERS)[number];

/** What live subscribers are told (`deliveryUpdated.phase`). */
export const DELIVERY_PHASES = [
  'QUEUED',
  'ATTEMPT_STARTED',
  'ATTEMPT_FINISHED',
  'RETRY_SCHEDULED',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
] as const;
export type DeliveryPhase = (typeof DELIVERY_PHASES)[number];

/** A webhook's status; Herald itself sets DISABLED (410 Gone, or failing for HERALD_DISABLE_AFTER). */
export const WEBHOOK_STATUSES = ['ACTIVE', 'PAUSED', 'DISABLED'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

/** The states: whether the schedule still owes an attempt, and the phase that announces reaching it. */
export const DELIVERY_STATES = {
  PENDING: { waiting: true, announcedAs: 'QUEUED' },
  RETRYING: { waiting: true, announcedAs: 'RETRY_SCHEDULED' },
  SUCCEEDED: { waiting: false, announcedAs: 'SUCCEEDED' },
  FAILED: { waiting: false, announcedAs: 'FAILED' },
  CANCELLED: { waiting: false, announcedAs: 'CANCELLED' },
} as const satisfies Record<DeliveryStatus, { waiting: boolean; announcedAs: DeliveryPhase }>;

/** A phase that announces reaching a status (DELIVERY_STATES' announcedAs): QUEUED, RETRY_SCHEDULED and the final ones. */
export type AnnouncingPhase = (typeof DELIVERY_STATES)[DeliveryStatus]['announcedAs'];

/** The status each announcing phase announces (QUEUED: PENDING), DELIVERY_STATES read backwards. */
export const STATUS_ANNOUNCED_BY = Object.fromEntries(
  DELIVERY_STATUSES.map((status) => [DELIVERY_STATES[status].announcedAs, status]),
) as Record<AnnouncingPhase, DeliveryStatus>;

/** PENDING and RETRYING. */
export const WAITING_STATUSES: readonly DeliveryStatus[] = DELIVERY_STATUSES.filter((s) => DELIVERY_STATES[s].waiting);

/** `('PENDING', 'RETRYING')`, for SQL that selects waiting deliveries. */
export const WAITING_SQL = `(${WAITING_STATUSES.map((s) => `'${s}'`).join(', ')})`;

export function isWaiting(status: DeliveryStatus): boolean {
  return DELIVERY_STATES[status].waiting;
}

/** The columns of a delivery row the due rule reads. */
export interface DueFields {
  status: DeliveryStatus;
  nextTrigger: AttemptTrigger;
  nextAttemptAt: Date | null;
  lockedUntil: Date | null;
}

/** Whether an attempt is owed at all: waiting, or a one-off attempt was asked for. */
function owed(d: Pick<DueFields, 'status' | 'nextTrigger'>): boolean {
  return isWaiting(d.status) || d.nextTrigger !== 'SCHEDULED';
}

/**
 * The due rule (see the top of this file): owed an attempt, due by `by` and not held by a live
 * lease at `now`. `by: null` asks only whether an attempt is owed at all.
 */
export function isDue(d: DueFields, by: Date | null, now: Date): boolean {
  if (!owed(d)) return false;
  if (by === null) return true;
  return d.nextAttemptAt !== null && d.nextAttemptAt <= by && (d.lockedUntil === null || d.lockedUntil < now);
}

/**
 * isDue() in SQL over a `delivery` row aliased `d`: the one form that claim, sweep and retention
 * use. `by` is an SQL time (`now()` for a claim, an earlier time for the sweep); `null` asks
 * only whether an attempt is owed (retention). A test runs both forms over the same rows.
 */
export function dueSql(d: string, by: string | null): string {
  const owedSql = `(${d}.status in ${WAITING_SQL} or ${d}.next_trigger <> 'SCHEDULED')`;
  if (by === null) return owedSql;
  return `${owedSql} and ${d}.next_attempt_at <= ${by} and (${d}.locked_until is null or ${d}.locked_until < now())`;
}

/**
 * The ids (column `id`) of the deliveries of the webhooks `webhookIds` (an SQL text[], e.g. a
 * parameter) that may be owed an attempt: those with a delivery_due row, and those of publish
 * batches not yet looked over. A superset: check each delivery with dueSql. Index-served:
 * delivery_due's (webhook_id, delivery_id) index, and delivery's (webhook_id, id) index from the
 * oldest batch on.
 */
export function owedCandidatesSql(webhookIds: string): string {
  return `select delivery_id as id from delivery_due where webhook_id = any(${webhookIds})
          union
          select id from delivery where webhook_id = any(${webhookIds}) and id >= (select min(first_delivery_id) from delivery_batch)`;
}

/** The columns of a delivery_due row, in the order dueRowOf() gives them. */
export const DUE_COLUMNS = 'delivery_id, webhook_id, priority, due_at, ordering_key, ordering_seq';

/** A delivery_due row (DUE_COLUMNS) from a delivery row aliased `d`: its due time is its next attempt's. */
export function dueRowOf(d: string): string {
  return `${d}.id, ${d}.webhook_id, ${d}.priority, ${d}.next_attempt_at, ${d}.ordering_key, ${d}.ordering_seq`;
}

/**
 * Gives deliveries (`$1`, ids) their delivery_due rows, or brings those they have in line with
 * the delivery row (due time, ordering key) — run after the change that made them owed.
 */
export const MARK_OWED_SQL = `insert into delivery_due (${DUE_COLUMNS})
  select ${dueRowOf('d')} from delivery d where d.id = any($1::text[]) order by d.id
  on conflict (delivery_id) do update
     set due_at = excluded.due_at, ordering_key = excluded.ordering_key, ordering_seq = excluded.ordering_seq`;

/** What decide() needs to know of a claimed delivery. */
export interface DeliveryState {
  status: DeliveryStatus;
  /** Attempts made so far. */
  attemptCount: number;
  /** The trigger it was claimed with. */
  trigger: AttemptTrigger;
}

/** What decide() needs to know of the delivery's webhook, as read with the claim. */
export interface WebhookState {
  status: WebhookStatus;
  deleted: boolean;
  /** Seconds between attempts after the first; null: DEFAULT_RETRY_SCHEDULE. */
  retrySchedule: readonly number[] | null;
}

/** The answer to an attempt, as far as the lifecycle cares. */
export interface AttemptResponse {
  /** HTTP status; null when no response arrived. */
  status: number | null;
  /** Why the attempt failed other than by its status (TIMEOUT, REDIRECT, …); null if it did not. */
  error: string | null;
  /** Response headers, lowercase names (`retry-after` is read). */
  headers: Readonly<Record<string, string>>;
}

/**
 * The attempt error of a delivery whose profile could not render the request (core/profiles):
 * nothing was sent.
 */
export const TRANSFORM_ERROR = 'TRANSFORM';

/** Why a claimed delivery is not sent (hold()). */
export type HoldReason = 'WEBHOOK_DELETED' | 'WEBHOOK_PAUSED' | 'WEBHOOK_DISABLED';

/** What happened to a claimed delivery. */
export type Outcome =
  /** An HTTP attempt was made, whatever came of it. */
  | { kind: 'attempted'; response: AttemptResponse }
  /** Not sent because of its webhook's state (hold()). */
  | { kind: 'held'; reason: HoldReason }
  /** The attempt could not be made (a bug, or a setting such as an undecryptable secret). */
  | { kind: 'not-attempted' };

/** The table row that applied, for logs and metrics. */
export type DecisionKind =
  | 'succeeded'
  | 'gone'
  | 'failed'
  | 'untransformable'
  | 'retry'
  | 'cancelled'
  | 'parked'
  | 'webhook-disabled'
  | 'not-attempted';

/** The delivery's new state after a claim, as decide() chooses it. */
export interface Decision {
  kind: DecisionKind;
  status: DeliveryStatus;
  attemptCount: number;
  /** When the next attempt is due; null: none planned (ended, or parked). */
  nextAttemptAt: Date | null;
  /** The trigger of that attempt: one asked for by hand stays so while it is only put off. */
  nextTrigger: AttemptTrigger;
  completedAt: Date | null;
  /** Phases to announce, in order (ATTEMPT_STARTED is announced when the attempt starts). */
  phases: DeliveryPhase[];
  /** The attempt's part in the webhook's failure streak; null when none was made. */
  health: 'success' | 'failure' | null;
  /** Set when the webhook must be disabled now, with the reason shown on it. */
  disableWebhook: string | null;
}

/** The reason a webhook shows after its endpoint answered 410. */
export const GONE_REASON = 'The endpoint answered 410 Gone';
/** How long a delivery whose attempt could not be made waits before the next try. */
export const NOT_ATTEMPTED_DELAY_MS = 60_000;

/** Whether a claimed delivery must not be sent now, and why; null: send it. */
export function hold(
  delivery: Pick<DeliveryState, 'trigger'>,
  webhook: Pick<WebhookState, 'status' | 'deleted'> | undefined,
): HoldReason | null {
  if (!webhook || webhook.deleted) return 'WEBHOOK_DELETED';
  // An attempt asked for by hand is made whatever the webhook's status.
  if (delivery.trigger !== 'SCHEDULED') return null;
  if (webhook.status === 'PAUSED') return 'WEBHOOK_PAUSED';
  if (webhook.status === 'DISABLED') return 'WEBHOOK_DISABLED';
  return null;
}

export function isSuccess(response: AttemptResponse): boolean {
  return response.error === null && response.status !== null && response.status >= 200 && response.status < 300;
}

/**
 * What follows a claim (the rows of the table from "claimed" down). `now` is when the outcome
 * was known (the attempt's end); `random` draws the retry jitter, as Math.random does.
 */
export function decide(
  delivery: DeliveryState,
  outcome: Outcome,
  webhook: Pick<WebhookState, 'retrySchedule'> | undefined,
  now: Date,
  random: () => number = Math.random,
): Decision {
  switch (outcome.kind) {
    case 'attempted':
      return afterAttempt(delivery, outcome.response, webhook?.retrySchedule ?? DEFAULT_RETRY_SCHEDULE, now, random);
    case 'held':
      if (outcome.reason === 'WEBHOOK_DELETED') return ended(delivery, 'cancelled', 'CANCELLED', now);
      if (outcome.reason === 'WEBHOOK_DISABLED') return ended(delivery, 'webhook-disabled', 'FAILED', now);
      // Parked: no due time until the webhook is resumed.
      return unchanged(delivery, 'parked', null, 'SCHEDULED');
    case 'not-attempted':
      return unchanged(delivery, 'not-attempted', new Date(now.getTime() + NOT_ATTEMPTED_DELAY_MS), delivery.trigger);
  }
}

function afterAttempt(
  delivery: DeliveryState,
  response: AttemptResponse,
  schedule: readonly number[],
  now: Date,
  random: () => number,
): Decision {
  const attemptCount = delivery.attemptCount + 1;
  const attempted = (kind: DecisionKind, status: DeliveryStatus, nextAttemptAt: Date | null = null): Decision => ({
    kind,
    status,
    attemptCount,
    nextAttemptAt,
    nextTrigger: 'SCHEDULED',
    completedAt: isWaiting(status) ? null : now,
    phases: ['ATTEMPT_FINISHED', DELIVERY_STATES[status].announcedAs],
    health: kind === 'untransformable' ? null : status === 'SUCCEEDED' ? 'success' : 'failure',
    disableWebhook: kind === 'gone' ? GONE_REASON : null,
  });
  if (response.error === TRANSFORM_ERROR) return attempted('untransformable', 'FAILED');
  if (isSuccess(response)) return attempted('succeeded', 'SUCCEEDED');
  if (response.status === 410) return attempted('gone', 'FAILED');
  // A test, or a manual retry of an ended delivery, is one try.
  if (delivery.trigger === 'TEST' || !isWaiting(delivery.status)) return attempted('failed', 'FAILED');
  let delayMs = nextRetryDelayMs(schedule, attemptCount, random);
  if (delayMs === null) return attempted('failed', 'FAILED');
  if (response.status === 429 || response.status === 503)
    delayMs = retryAfterDelayMs(response.headers['retry-after'], delayMs, now.getTime());
  return attempted('retry', 'RETRYING', new Date(now.getTime() + delayMs));
}

function ended(delivery: DeliveryState, kind: DecisionKind, status: 'CANCELLED' | 'FAILED', now: Date): Decision {
  return {
    kind,
    status,
    attemptCount: delivery.attemptCount,
    nextAttemptAt: null,
    nextTrigger: 'SCHEDULED',
    completedAt: now,
    phases: [status],
    health: null,
    disableWebhook: null,
  };
}

/** No attempt and no new status: only when (and with what trigger) it is due next. */
function unchanged(delivery: DeliveryState, kind: DecisionKind, nextAttemptAt: Date | null, nextTrigger: AttemptTrigger): Decision {
  return {
    kind,
    status: delivery.status,
    attemptCount: delivery.attemptCount,
    nextAttemptAt,
    nextTrigger,
    // Not complete while an attempt is owed, even for an ended delivery retried by hand.
    completedAt: null,
    phases: [],
    health: null,
    disableWebhook: null,
  };
}

/** The columns a decision writes, after settle(). */
export interface Settled {
  status: DeliveryStatus;
  nextAttemptAt: Date | null;
  nextTrigger: AttemptTrigger;
  completedAt: Date | null;
  /** A retry was asked for meanwhile: the delivery needs a new wake-up job. */
  requeue: boolean;
}

/**
 * What is written when a worker lets go of a delivery it claimed with `claimedTrigger`. A retry
 * asked for while the worker held it changed the row's trigger to `currentTrigger`: that request
 * is kept — the delivery is due again at `now` with it, and not complete — over the decision.
 * The recorder does this in SQL in the same statement (sql/record-results.ts, updateDeliveries),
 * since the request may come up to the last moment; a test runs both over the same cases.
 */
export function settle(decision: Decision, claimedTrigger: AttemptTrigger, currentTrigger: AttemptTrigger, now: Date): Settled {
  if (currentTrigger !== claimedTrigger) {
    // requeue as the SQL computes it: the trigger left in the row differs from the decided one.
    return {
      status: decision.status,
      nextAttemptAt: now,
      nextTrigger: currentTrigger,
      completedAt: null,
      requeue: currentTrigger !== decision.nextTrigger,
    };
  }
  return {
    status: decision.status,
    nextAttemptAt: decision.nextAttemptAt,
    nextTrigger: decision.nextTrigger,
    completedAt: decision.completedAt,
    requeue: false,
  };
}
