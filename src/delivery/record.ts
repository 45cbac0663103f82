import type { Pool } from 'pg';
import type { PgBoss } from 'pg-boss';
import { settlesBy } from '../core/deadline.ts';
import { fromPgClient } from '../jobs/pg-boss-db.ts';
import { enqueueDeliveries, enqueueDeliveriesAt } from '../jobs/queue.ts';
import { deliveryMessage, type LiveMessage, notifyLive } from '../live/messages.ts';
import type { Logger } from '../logger.ts';
import {
  type AttemptRow,
  type DeliveryChange,
  disableWebhooks,
  insertAttempts,
  updateDeliveries,
  updateWebhookHealth,
  type WebhookHealth,
} from './sql/record-results.ts';

export interface ResultRecord {
  change: DeliveryChange;
  attempt: AttemptRow | null;
  tenantId: string;
  webhookId: string;
  eventId: string;
  /** 'success' or 'failure' of the attempt, for the webhook's failure streak. */
  health: 'success' | 'failure' | null;
  gone: boolean;
  /** Live messages this result announces. */
  messages: LiveMessage[];
}

const FLUSH_INTERVAL_MS = 20;
const FLUSH_SIZE = 500;

/**
 * Buffers attempt results and writes them in batches: one transaction inserts the attempts,
 * updates the deliveries and webhooks and queues retries; live subscribers are notified right
 * after it commits. Batching keeps the database cost per delivery low. One write runs at a time;
 * a failed write is kept and tried again after a pause (1 s, doubling to 5 s), for as long as the
 * database is away, until `close()` sets an end.
 */
export class Recorder {
  private buffer: ResultRecord[] = [];
  private extraMessages: LiveMessage[] = [];
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
    logger: Logger;
    onRetryScheduled(at: Date): void;
    onRecorded(deliveryIds: string[]): void;
  };

  constructor(deps: Recorder['deps']) {
    this.deps = deps;
  }

  add(record: ResultRecord): void {
    this.buffer.push(record);
    this.schedule();
  }

  /** Live messages with no row change of their own (e.g. "attempt started"). */
  announce(message: LiveMessage): void {
    this.extraMessages.push(message);
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
    if (this.buffer.length === 0 && this.extraMessages.length === 0) return;
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
    this.inWrite = records;
    try {
      await this.write(records, extra);
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
        if (this.buffer.length === 0 && this.extraMessages.length === 0) break;
        this.writing = this.writeBatch().finally(() => {
          this.writing = null;
        });
      }
      if (!(await settlesBy(this.writing, deadline))) break;
    }
    this.endPause?.();
    return [...this.inWrite, ...this.buffer].map((r) => r.change.id);
  }

  private async write(records: ResultRecord[], extra: LiveMessage[]): Promise<void> {
    const client = await this.deps.pool.connect();
    const retries: { id: string; at: Date }[] = [];
    let wakeUps = new Map<number, string[]>();
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
      await updateWebhookHealth(client, foldHealth(records));
      const { webhooks: disabled, failed } = await disableWebhooks(client, {
        gone: [...new Set(records.filter((r) => r.gone).map((r) => r.webhookId))],
        checked: [...new Set(records.filter((r) => r.health === 'failure').map((r) => r.webhookId))],
        disableAfterMs: this.deps.disableAfterMs,
      });
      for (const r of records) {
        if (r.change.status === 'RETRYING' || r.change.status === 'PENDING') {
          if (r.change.nextAttemptAt) retries.push({ id: r.change.id, at: r.change.nextAttemptAt });
        }
      }
      wakeUps = groupByTime(retries);
      await enqueueDeliveriesAt(
        this.deps.boss,
        [...wakeUps].map(([at, ids]) => ({ ids, startAfter: new Date(at) })),
        { db: fromPgClient(client) },
      );
      const messages: LiveMessage[] = [...extra, ...records.flatMap((r) => r.messages)];
      for (const w of disabled) {
        this.deps.logger.warn({ webhookId: w.id, reason: w.reason }, 'webhook disabled');
        messages.push({ kind: 'webhook', tenantId: w.tenantId, webhookId: w.id, status: 'DISABLED', deleted: false });
      }
      for (const d of failed) messages.push(deliveryMessage(d, 'FAILED'));
      await client.query('commit');
      // Announced once the rows are committed, in a statement of its own: a transaction that
      // notifies holds PostgreSQL's one NOTIFY lock through its whole commit, and every other
      // notifying commit (publishing, other workers) waits for it. This one's commit is small.
      await notifyLive((sql, params) => client.query(sql, params), messages).catch((err) =>
        this.deps.logger.warn({ err, count: messages.length }, 'live status updates not sent'),
      );
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    // The wake-up jobs start at their group's time, a little after the retries in it are due;
    // waking the worker any earlier would find no job to fetch.
    for (const at of wakeUps.keys()) this.deps.onRetryScheduled(new Date(at));
    this.deps.onRecorded(records.map((r) => r.change.id));
  }
}

/** Retries due within the same 50 ms share one wake-up job. */
function groupByTime(retries: { id: string; at: Date }[]): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const { id, at } of retries) {
    const key = Math.ceil(at.getTime() / 50) * 50;
    const group = groups.get(key);
    if (group) group.push(id);
    else groups.set(key, [id]);
  }
  return groups;
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
