// Stage 5 of the worker (worker.ts): record.
import type { Pool, PoolClient } from 'pg';
import type { PgBoss } from 'pg-boss';
import { settlesBy } from '../core/deadline.ts';
import type { Decision, DecisionKind } from '../core/delivery-state.ts';
import { DELIVERY_EXHAUSTED, exhausts, mayNotify, type Notice } from '../core/operational-events.ts';
import type { Throttle } from '../core/throttle.ts';
import { fromPgClient } from '../jobs/pg-boss-db.ts';
import { enqueueDeliveries, enqueueDeliveriesAt } from '../jobs/queue.ts';
import { deliveryMessage, type LiveMessage, webhookStatusMessage } from '../live/messages.ts';
import type { Logger } from '../logger.ts';
import { type CompletedStatus, countCompleted } from '../metrics.ts';
import { emitNotices } from '../outbox/notices.ts';
import type { ThrottleChange } from './flow.ts';
import type { OutboundResult } from './http-client.ts';
import { noticesOf } from './notices.ts';
import type { Committed, Query } from './notify.ts';
import type { PreparedAttempt } from './prepare.ts';
import type { ClaimedDelivery } from './sql/claim-deliveries.ts';
import { advanceKeys } from './sql/ordering.ts';
import {
  type AttemptRow,
  type DeliveryChange,
  disableWebhooks,
  insertAttempts,
  updateDeliveries,
  updateWebhookHealth,
  type WebhookHealth,
  writeThrottles,
} from './sql/record-results.ts';

/** How long after a key's next delivery is made due its wake-up job may wake another worker (ms). */
const READY_BACKSTOP_MS = 2000;
/** What becomes of one claimed delivery, as the recorder writes it. */
export interface ResultRecord {
  /** The table row that decide() applied. */
  kind: DecisionKind;
  change: DeliveryChange;
  attempt: AttemptRow | null;
  /** null: a delivery to an operator webhook. */
  tenantId: string | null;
  webhookId: string;
  eventId: string;
  eventType: string;
  /** The delivery's ordering key (KEYED webhooks): its key's next delivery may be due after this. */
  orderingKey: string | null;
  /** The delivery's priority rank (core/flow.ts): its retry's wake-up job carries it. */
  priority: number;
  /** 'success' or 'failure' of the attempt, for the webhook's failure streak. */
  health: 'success' | 'failure' | null;
  /** Whether this delivery may be the subject of an operational event (core/operational-events.ts). */
  mayNotify: boolean;
  /** The `delivery.exhausted` this attempt owes (its delivery ran out of attempts), if any. */
  exhausted: Notice | null;
  /** 410 Gone: the webhook is disabled in the same transaction. */
  gone: boolean;
  /** Live messages this result announces. */
  messages: LiveMessage[];
}

/**
 * The record of a decision about a claimed delivery: its new row, the attempt row when an
 * attempt was made (`attempt`), and the phases to announce.
 */
export function recordOf(
  delivery: ClaimedDelivery,
  decision: Decision,
  attempt?: { prepared: PreparedAttempt; result: OutboundResult },
): ResultRecord {
  const prepared = attempt?.prepared;
  const result = attempt?.result;
  const attemptId = prepared?.id ?? null;
  return {
    kind: decision.kind,
    change: {
      id: delivery.id,
      status: decision.status,
      attemptCount: decision.attemptCount,
      nextAttemptAt: decision.nextAttemptAt,
      completedAt: decision.completedAt,
      nextTrigger: decision.nextTrigger,
      claimedTrigger: delivery.trigger,
      attempt: prepared && result ? { at: prepared.startedAt, responseStatus: result.status, error: result.error } : null,
    },
    attempt:
      prepared && result
        ? {
            id: prepared.id,
            deliveryId: delivery.id,
            webhookId: delivery.webhookId,
            number: prepared.number,
            trigger: delivery.trigger,
            startedAt: prepared.startedAt,
            durationMs: result.durationMs,
            requestUrl: prepared.request.url,
            requestHeaders: prepared.loggedHeaders,
            responseStatus: result.status,
            responseHeaders: result.status === null ? null : result.headers,
            responseBody: result.status === null ? null : result.body,
            error: result.error,
            errorMessage: result.errorMessage,
          }
        : null,
    tenantId: delivery.tenantId,
    webhookId: delivery.webhookId,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    orderingKey: delivery.orderingKey,
    priority: delivery.priority,
    health: decision.health,
    mayNotify: mayNotify(delivery),
    exhausted:
      prepared && result && exhausts(delivery, { status: decision.status, attempted: true })
        ? exhaustedNotice(delivery, decision, prepared, result)
        : null,
    gone: decision.disableWebhook !== null,
    messages: decision.phases.map((phase) =>
      deliveryMessage(delivery, phase, { status: decision.status, attemptId, nextAttemptAt: decision.nextAttemptAt }),
    ),
  };
}

function exhaustedNotice(delivery: ClaimedDelivery, decision: Decision, prepared: PreparedAttempt, result: OutboundResult): Notice {
  const failedAt = new Date(prepared.startedAt.getTime() + result.durationMs).toISOString();
  return {
    type: DELIVERY_EXHAUSTED,
    tenantId: delivery.tenantId!, // exhausts() holds only for a tenant's delivery
    webhookId: delivery.webhookId,
    data: {
      webhookId: delivery.webhookId,
      url: prepared.request.url,
      deliveryId: delivery.id,
      eventId: delivery.eventId,
      eventType: delivery.eventType,
      attemptCount: decision.attemptCount,
      lastResponseStatus: result.status,
      lastError: result.error,
      failedAt,
      count: 1,
      since: failedAt,
    },
  };
}

const FLUSH_INTERVAL_MS = 20;
const FLUSH_SIZE = 500;

/**
 * Buffers attempt results and writes them in batches: one transaction inserts the attempts,
 * updates the deliveries and webhooks, queues retries and writes the operational events they
 * cause (notices.ts); live subscribers are notified right after it commits. Batching keeps the database cost per delivery low. One write runs at a time;
 * a failed write is kept and tried again after a pause (1 s, doubling to 5 s), for as long as the
 * database is away, until `close()` sets an end.
 */
export class Recorder {
  private buffer: ResultRecord[] = [];
  private extraMessages: LiveMessage[] = [];
  /** Throttles to write, the latest per webhook. */
  private throttles = new Map<string, ThrottleChange>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private writeAgain = false;
  /** The records of the write in progress: neither buffered nor recorded yet. */
  private inWrite: ResultRecord[] = [];
  private failures = 0;
  private closed = false;
  private endPause: (() => void) | null = null;
  private readonly deps: {
    pool: Pool;
    boss: PgBoss;
    workerId: string;
    disableAfterMs: number;
    /** HERALD_EXHAUSTED_WINDOW: delivery.exhausted events of a webhook within it are folded. */
    exhaustedWindowMs: number;
    /** HERALD_DEFAULT_PROFILE: operational events go to each webhook under its delivery profile, this one where no other applies. */
    defaultProfile: string;
    logger: Logger;
    /** Stage 6: told what each batch changed once it has committed, on the same connection. */
    notify(committed: Committed, query: Query): Promise<void>;
  };

  constructor(deps: Recorder['deps']) {
    this.deps = deps;
  }

  add(record: ResultRecord): void {
    if (record.attempt) logAttempt(this.deps.logger, record, record.attempt);
    this.buffer.push(record);
    this.schedule();
  }

  /** Live messages with no row change of their own (e.g. "attempt started"). */
  announce(message: LiveMessage): void {
    this.extraMessages.push(message);
    this.schedule();
  }

  /** A webhook's throttle to write with the next batch (sql/record-results.ts, writeThrottles). */
  throttle(change: ThrottleChange): void {
    this.throttles.set(change.webhookId, change);
    this.schedule();
  }

  get pending(): number {
    return this.buffer.length;
  }

  private schedule(): void {
    if (this.closed) return; // close() drives the last writes itself
    if (this.buffer.length >= FLUSH_SIZE) {
      this.startWrite();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.startWrite();
      }, FLUSH_INTERVAL_MS);
    }
  }

  /** Starts a write, or, while one runs, asks for the next to follow it at once. */
  private startWrite(): void {
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    if (this.buffer.length === 0 && this.extraMessages.length === 0 && this.throttles.size === 0) return;
    this.writing = this.writeBatch().finally(() => {
      this.writing = null;
      const again = this.writeAgain;
      this.writeAgain = false;
      if (again && !this.closed) this.startWrite();
      else this.schedule();
    });
  }

  /** Writes one batch; a failed one goes back to the front of the buffer, and the next waits a while. */
  private async writeBatch(): Promise<void> {
    const records = this.buffer.splice(0, FLUSH_SIZE * 4);
    const extra = this.extraMessages.splice(0);
    // A throttle that cannot be written now is offered again by flow control; none is kept here.
    const throttles = [...this.throttles.values()];
    this.throttles.clear();
    this.inWrite = records;
    try {
      await this.write(records, extra, throttles);
      this.inWrite = [];
      this.failures = 0;
    } catch (err) {
      // Keep the results: they are facts about attempts that happened. Leases may lapse
      // meanwhile and another worker may send again, which at-least-once allows.
      this.deps.logger.error({ err, count: records.length }, 'recording attempts failed; will retry');
      this.inWrite = [];
      this.buffer.unshift(...records);
      this.failures++;
      await this.pause(Math.min(1000 * 2 ** (this.failures - 1), 5000));
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.endPause = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /**
   * Stops batching and writes what is buffered, trying again after failures until `deadline`
   * (epoch ms). Resolves with the ids of the deliveries whose results could not be recorded.
   */
  async close(deadline: number): Promise<string[]> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (Date.now() < deadline) {
      if (!this.writing) {
        if (this.buffer.length === 0 && this.extraMessages.length === 0 && this.throttles.size === 0) break;
        this.writing = this.writeBatch().finally(() => {
          this.writing = null;
        });
      }
      if (!(await settlesBy(this.writing, deadline))) break;
    }
    this.endPause?.();
    return [...this.inWrite, ...this.buffer].map((r) => r.change.id);
  }

  /**
   * Writes a batch's operational events in its transaction — none unless a delivery ran out of
   * attempts, a failure streak ended or a webhook was disabled (no statement otherwise) — and
   * returns their QUEUED messages. Behind a savepoint: should writing them fail for a reason of
   * their own, the batch is recorded without them (logged) rather than tried again for ever; a
   * connection lost fails the batch as before.
   */
  private async writeNotices(client: PoolClient, notices: Notice[]): Promise<LiveMessage[]> {
    if (notices.length === 0) return [];
    await client.query('savepoint notices');
    try {
      const queued = await emitNotices(fromPgClient(client), this.deps.boss, notices, {
        announce: false,
        exhaustedWindowMs: this.deps.exhaustedWindowMs,
        defaultProfile: this.deps.defaultProfile,
      });
      await client.query('release savepoint notices');
      return queued;
    } catch (err) {
      await client.query('rollback to savepoint notices');
      this.deps.logger.error(
        { err, notices: notices.map((n) => n.type) },
        'operational events not written; the batch is recorded without them',
      );
      return [];
    }
  }

  private async write(records: ResultRecord[], extra: LiveMessage[], throttles: ThrottleChange[]): Promise<void> {
    const client = await this.deps.pool.connect();
    const retries: { id: string; at: Date; priority: number }[] = [];
    try {
      await client.query('begin');
      await insertAttempts(
        client,
        records.flatMap((r) => (r.attempt ? [r.attempt] : [])),
      );
      const requested = await updateDeliveries(
        client,
        records.map((r) => r.change),
        this.deps.workerId,
      );
      await enqueueDeliveries(this.deps.boss, requested, { db: fromPgClient(client) });
      // A KEYED webhook's key moves on to its next delivery once the one before has ended.
      const keyed = records.filter((r) => r.orderingKey !== null);
      const ready = await advanceKeys(
        client,
        keyed.map((r) => ({ webhookId: r.webhookId, orderingKey: r.orderingKey! })),
        keyed.filter((r) => r.change.status === 'RETRYING').map((r) => r.change.id),
      );
      // This worker takes them at once once committed (Committed.ready); their wake-up jobs are
      // only a backstop, should it not. Due at once, another worker fetched them first and held
      // them until this one let the webhook's slot go: 1-2 s between the deliveries of a key.
      await enqueueDeliveries(
        this.deps.boss,
        ready.map((r) => r.id),
        { db: fromPgClient(client), startAfter: new Date(Date.now() + READY_BACKSTOP_MS) },
      );
      const endedStreaks = await updateWebhookHealth(client, foldHealth(records));
      const written = await writeThrottles(client, throttles.map(throttleRow));
      const { webhooks: disabled, failed } = await disableWebhooks(client, {
        gone: [...new Set(records.filter((r) => r.gone).map((r) => r.webhookId))],
        checked: [...new Set(records.filter((r) => r.health === 'failure').map((r) => r.webhookId))],
        disableAfterMs: this.deps.disableAfterMs,
      });
      for (const r of records) {
        // Every delivery given a next attempt time is owed that attempt (a retry, or one put
        // off — an ended delivery retried by hand too): each gets its wake-up job.
        if (r.change.nextAttemptAt) retries.push({ id: r.change.id, at: r.change.nextAttemptAt, priority: r.priority });
      }
      const wakeUps = groupByTime(retries);
      await enqueueDeliveriesAt(
        this.deps.boss,
        wakeUps.map(({ at, priority, ids }) => ({ ids, priority, startAfter: new Date(at) })),
        { db: fromPgClient(client) },
      );
      const messages: LiveMessage[] = [...extra, ...records.flatMap((r) => r.messages)];
      for (const w of disabled) {
        this.deps.logger.warn({ webhookId: w.id, reason: w.reason }, 'webhook disabled');
        messages.push(webhookStatusMessage({ id: w.id, tenantId: w.tenantId, status: 'DISABLED', deleted: false }));
      }
      for (const d of failed) messages.push(deliveryMessage(d, 'FAILED'));
      messages.push(...(await this.writeNotices(client, noticesOf(records, endedStreaks, disabled))));
      for (const w of written)
        messages.push(webhookStatusMessage({ id: w.webhookId, tenantId: w.tenantId, status: w.status, deleted: false }));
      await client.query('commit');
      countCompleted(completions(records, failed.length));
      // Announced once the rows are committed, in a statement of its own: a transaction that
      // notifies holds PostgreSQL's one NOTIFY lock through its whole commit, and every other
      // notifying commit (publishing, other workers) waits for it. This one's commit is small.
      // The wake-up jobs start at their group's time, a little after the retries in it are due.
      const committed: Committed = {
        messages,
        wakeAt: [...new Set(wakeUps.map((w) => w.at))].map((at) => new Date(at)),
        deliveryIds: records.map((r) => r.change.id),
        ready: ready.map((r) => r.id),
        throttles: written.map((w) => ({
          webhookId: w.webhookId,
          writtenAt: w.writtenAt,
          throttle: throttles.find((t) => t.webhookId === w.webhookId)!.throttle,
        })),
      };
      // The rows are written: whatever goes wrong from here must not make them be written again.
      await this.deps
        .notify(committed, (sql, params) => client.query(sql, params))
        .catch((err) => this.deps.logger.error({ err }, 'notifying a recorded batch failed'));
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
}

function throttleRow(change: ThrottleChange) {
  const t: Throttle | null = change.throttle;
  return {
    webhookId: change.webhookId,
    concurrency: t?.concurrency ?? null,
    rate: t?.rate ?? null,
    reason: t?.reason ?? null,
    since: t?.since ?? null,
    basedOn: change.basedOn,
    lowered: change.lowered,
  };
}

/** Retries due within the same 50 ms and of one priority share one wake-up job, at that priority. */
function groupByTime(retries: { id: string; at: Date; priority: number }[]): { at: number; priority: number; ids: string[] }[] {
  const groups = new Map<string, { at: number; priority: number; ids: string[] }>();
  for (const { id, at, priority } of retries) {
    const time = Math.ceil(at.getTime() / 50) * 50;
    const key = `${time} ${priority}`;
    const group = groups.get(key);
    if (group) group.ids.push(id);
    else groups.set(key, { at: time, priority, ids: [id] });
  }
  return [...groups.values()];
}

/** Per webhook, in the order the attempts finished: the latest success and the failures after it. */
function foldHealth(records: ResultRecord[]): WebhookHealth[] {
  const byWebhook = new Map<string, WebhookHealth>();
  for (const r of records) {
    if (!r.health || !r.attempt) continue;
    const at = new Date(r.attempt.startedAt.getTime() + r.attempt.durationMs);
    let h = byWebhook.get(r.webhookId);
    if (!h) {
      h = {
        webhookId: r.webhookId,
        lastSuccessAt: null,
        lastFailureAt: null,
        hadSuccess: false,
        trailingFailures: 0,
        firstTrailingFailureAt: null,
      };
      byWebhook.set(r.webhookId, h);
    }
    if (r.health === 'success') {
      h.hadSuccess = true;
      h.lastSuccessAt = at;
      h.trailingFailures = 0;
      h.firstTrailingFailureAt = null;
    } else {
      h.lastFailureAt = at;
      h.trailingFailures++;
      h.firstTrailingFailureAt ??= at;
    }
  }
  return [...byWebhook.values()];
}

/** One line per attempt, at info. */
function logAttempt(logger: Logger, record: ResultRecord, attempt: AttemptRow): void {
  logger.info(
    {
      deliveryId: record.change.id,
      webhookId: record.webhookId,
      eventId: record.eventId,
      attempt: attempt.number,
      trigger: attempt.trigger,
      status: attempt.responseStatus,
      error: attempt.error,
      durationMs: attempt.durationMs,
      outcome: record.kind,
    },
    'delivery attempt',
  );
}

/** The final statuses these results reached, and `alsoFailed` deliveries failed with their disabled webhook. */
function completions(records: ResultRecord[], alsoFailed: number): CompletedStatus[] {
  const statuses: CompletedStatus[] = [];
  for (const { change } of records) {
    if (change.completedAt && change.status !== 'PENDING' && change.status !== 'RETRYING') statuses.push(change.status);
  }
  for (let i = 0; i < alsoFailed; i++) statuses.push('FAILED');
  return statuses;
}
