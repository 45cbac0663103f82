import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import type { Job, PgBoss } from 'pg-boss';
import type { Config } from '../config.ts';
import { authHeaders } from '../core/auth.ts';
import { deferDelayMs, MIN_DEFER_MS, Pace } from '../core/backlog.ts';
import { settlesBy } from '../core/deadline.ts';
import { type Decision, decide, hold } from '../core/delivery-state.ts';
import { newId } from '../core/ids.ts';
import { fromPgClient } from '../jobs/pg-boss-db.ts';
import { DELIVERY_QUEUE, type DeliveryJobData, enqueueDeliveries } from '../jobs/queue.ts';
import { type DeliveryMessage, type DeliveryPhase, deliveryMessage } from '../live/messages.ts';
import type { Logger } from '../logger.ts';
import { createDeliveryClient, type DeliveryClient } from './http-client.ts';
import { Lanes } from './lanes.ts';
import { buildAttemptHeaders } from './prepare.ts';
import { Recorder, type ResultRecord } from './record.ts';
import { RETENTION_QUEUE, scheduleRetention } from './retention.ts';
import { SigningCache } from './signing-cache.ts';
import { type ClaimedDelivery, claimDeliveries, releaseLeases, renewLeases, type WebhookForDelivery } from './sql/claim-deliveries.ts';
import { sweepOverdue } from './sql/sweep.ts';

export interface DeliveryWorkerOptions {
  databaseUrl: string;
  boss: PgBoss;
  config: Readonly<Config>;
  encryptionKey: Buffer;
  logger: Logger;
  /** Extra CA certificates for endpoints (tests); NODE_EXTRA_CA_CERTS works too. */
  ca?: string | Buffer | (string | Buffer)[];
}

export interface DeliveryWorker {
  id: string;
  /**
   * Stops claiming, hands back what has not started, lets attempts in flight finish until shortly
   * before `deadline` (epoch ms), ends the rest, records what was done and lets go of the other
   * leases. Resolves with the number of deliveries it could neither record nor let go of (the
   * database unreachable): they stay leased to this worker until the lease lapses, then are sent again.
   */
  stop(deadline?: number): Promise<{ leftLeased: number }>;
}

interface Task {
  delivery: ClaimedDelivery;
  webhook: WebhookForDelivery;
  signing: { secrets: string[]; auth: Record<string, string> };
}

/** How many claimed deliveries may wait per webhook beyond its maxInFlight before new ones are deferred. */
const LANE_BACKLOG_FACTOR = 20;
/** The part of the stop's time kept for recording results and letting go of leases: at most 5 s. */
const STOP_RESERVE_SHARE = 1 / 4;
const STOP_RESERVE_MAX_MS = 5000;

/**
 * The delivery worker: wakes on pg-boss jobs, leases the named deliveries, POSTs them through
 * per-webhook lanes (maxInFlight) and records every attempt in batches.
 */
export async function startDeliveryWorker(options: DeliveryWorkerOptions): Promise<DeliveryWorker> {
  const { boss, config, logger } = options;
  const workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const log = logger.child({ component: 'worker', workerId });
  const leaseMs = config.leaseMs;
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 8 });
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  // A connection that drops while checked out between queries (e.g. PostgreSQL restarting)
  // emits 'error' on its client, where pg-pool does not listen: unheard, it would crash the
  // process. Its next query fails instead, and the pool discards it on release.
  pool.on('connect', (c) => c.on('error', (err) => log.warn({ err }, 'database connection failed')));
  const client: DeliveryClient = createDeliveryClient({ allowedCidrs: config.allowedCidrs, allowHttp: config.allowHttp, ca: options.ca });
  const held = new Set<string>();
  const signingCache = new SigningCache(options.encryptionKey);
  let workId = '';
  let stopping = false;
  /** Ends the requests still in flight when a stop runs out of time. */
  const abortAttempts = new AbortController();
  /** Claims in progress, which a stop waits for so that it lets go of what they took. */
  const claims = new Set<Promise<unknown>>();

  const recorder = new Recorder({
    pool,
    boss,
    workerId,
    disableAfterMs: config.disableAfterMs,
    logger: log,
    onRetryScheduled: (at) => wakeAt(at),
    onRecorded: (ids) => {
      for (const id of ids) held.delete(id);
    },
  });

  const lanes = new Lanes<Task>(config.workerConcurrency, attempt);
  const pace = new Pace();

  async function handle(jobs: Job<DeliveryJobData>[]): Promise<void> {
    const ids = [...new Set(jobs.flatMap((job) => job.data?.d ?? []))];
    if (ids.length === 0 || stopping) return;
    const claim = claimDeliveries(pool, ids, workerId, leaseMs);
    claims.add(claim);
    const { deliveries: claimed, webhooks } = await claim.finally(() => claims.delete(claim));
    if (claimed.length === 0) return;
    for (const delivery of claimed) held.add(delivery.id);
    // Claimed as the worker began to stop: the stop lets go of them with the rest.
    if (stopping) return;
    // Until each delivery is in a lane or the recorder, a failure here (e.g. the database
    // going away) must let go of it: held, its lease would be renewed for ever and no worker,
    // this one included, would try it again.
    const unplaced = new Set(claimed.map((d) => d.id));
    try {
      place(claimed, webhooks, unplaced);
    } catch (err) {
      for (const id of unplaced) held.delete(id);
      throw err;
    }
    // Backpressure: take no more jobs while the lanes have plenty ready to run.
    await lanes.belowCapacity(config.workerConcurrency);
  }

  /** Puts claimed deliveries in their webhook's lane, or records why not; removes each placed one from `unplaced`. */
  function place(claimed: ClaimedDelivery[], webhooks: Map<string, WebhookForDelivery>, unplaced: Set<string>): void {
    const signing = new Map<string, Task['signing']>();
    for (const delivery of claimed) {
      const webhook = webhooks.get(delivery.webhookId);
      const held = hold(delivery, webhook);
      if (held || !webhook) {
        recorder.add(noAttempt(delivery, decide(delivery, { kind: 'held', reason: held ?? 'WEBHOOK_DELETED' }, webhook, new Date())));
      } else if (lanes.waiting(webhook.id) >= webhook.maxInFlight * LANE_BACKLOG_FACTOR) {
        // This endpoint is far behind: leave the delivery in the table for later rather than
        // holding it in memory. A retry or test asked for by hand is meant to run now: it waits the least.
        const delayMs =
          delivery.trigger === 'SCHEDULED'
            ? deferDelayMs(lanes.waiting(webhook.id), webhook.maxInFlight, pace.of(webhook.id))
            : MIN_DEFER_MS;
        recorder.add(noAttempt(delivery, decide(delivery, { kind: 'deferred', delayMs }, webhook, new Date())));
      } else {
        let keys = signing.get(webhook.id);
        if (!keys) {
          const { secrets, auth } = signingCache.get(webhook);
          keys = { secrets, auth: authHeaders(auth) };
          signing.set(webhook.id, keys);
        }
        lanes.push(webhook.id, webhook.maxInFlight, { delivery, webhook, signing: keys });
      }
      unplaced.delete(delivery.id);
    }
  }

  async function attempt(task: Task): Promise<void> {
    const { delivery, webhook } = task;
    const number = delivery.attemptCount + 1;
    const startedAt = new Date();
    const attemptId = newId('att', startedAt.getTime());
    recorder.announce(message(delivery, 'ATTEMPT_STARTED', delivery.status, attemptId, null));
    let record: ResultRecord;
    try {
      const { headers, logged } = buildAttemptHeaders({
        eventId: delivery.eventId,
        eventType: delivery.eventType,
        deliveryId: delivery.id,
        attemptNumber: number,
        payload: delivery.payload,
        scheme: webhook.signatureScheme,
        secrets: task.signing.secrets,
        customHeaders: webhook.headers,
        authHeaders: task.signing.auth,
        now: startedAt,
      });
      const result = await client.send({
        url: webhook.url,
        headers,
        body: delivery.payload,
        timeoutMs: webhook.timeoutMs,
        signal: abortAttempts.signal,
      });
      pace.record(webhook.id, result.durationMs);
      const decision = decide(delivery, { kind: 'attempted', response: result }, webhook, new Date());
      const { status, nextAttemptAt } = decision;
      record = {
        change: {
          id: delivery.id,
          status,
          attemptCount: decision.attemptCount,
          nextAttemptAt,
          completedAt: decision.completedAt,
          nextTrigger: decision.nextTrigger,
          claimedTrigger: delivery.trigger,
          attempt: { at: startedAt, responseStatus: result.status, error: result.error },
        },
        attempt: {
          id: attemptId,
          deliveryId: delivery.id,
          tenantId: delivery.tenantId,
          webhookId: webhook.id,
          number,
          trigger: delivery.trigger,
          startedAt,
          durationMs: result.durationMs,
          requestUrl: webhook.url,
          requestHeaders: logged,
          responseStatus: result.status,
          responseHeaders: result.status === null ? null : result.headers,
          responseBody: result.status === null ? null : result.body,
          error: result.error,
          errorMessage: result.errorMessage,
        },
        tenantId: delivery.tenantId,
        webhookId: webhook.id,
        eventId: delivery.eventId,
        health: decision.health,
        gone: decision.disableWebhook !== null,
        messages: decision.phases.map((phase) => message(delivery, phase, status, attemptId, nextAttemptAt)),
      };
      log.info(
        {
          deliveryId: delivery.id,
          webhookId: webhook.id,
          eventId: delivery.eventId,
          attempt: number,
          trigger: delivery.trigger,
          status: result.status,
          error: result.error,
          durationMs: result.durationMs,
          outcome: decision.kind,
        },
        'delivery attempt',
      );
    } catch (err) {
      // Ended by a stop that ran out of time: no outcome; the stop lets go of its lease.
      if (abortAttempts.signal.aborted) return;
      // A bug or a broken setting (e.g. undecryptable secret), not the endpoint's fault:
      // retry later rather than lose the delivery.
      log.error({ err, deliveryId: delivery.id }, 'attempt could not be made');
      record = noAttempt(delivery, decide(delivery, { kind: 'not-attempted' }, webhook, new Date()));
    }
    recorder.add(record);
  }

  function noAttempt(delivery: ClaimedDelivery, decision: Decision): ResultRecord {
    return {
      change: {
        id: delivery.id,
        status: decision.status,
        attemptCount: decision.attemptCount,
        nextAttemptAt: decision.nextAttemptAt,
        completedAt: decision.completedAt,
        nextTrigger: decision.nextTrigger,
        claimedTrigger: delivery.trigger,
        attempt: null,
      },
      attempt: null,
      tenantId: delivery.tenantId,
      webhookId: delivery.webhookId,
      eventId: delivery.eventId,
      health: null,
      gone: false,
      messages: decision.phases.map((phase) => message(delivery, phase, decision.status, null, decision.nextAttemptAt)),
    };
  }

  function message(
    delivery: ClaimedDelivery,
    phase: DeliveryPhase,
    status: string,
    attemptId: string | null,
    next: Date | null,
  ): DeliveryMessage {
    return deliveryMessage(delivery, phase, { status, attemptId, nextAttemptAt: next });
  }

  // pg-boss NOTIFY wakes workers for new jobs only; a delayed retry would wait for the
  // backstop poll. This process wakes its own worker when each retry it scheduled is due.
  // Every pending time is kept (not only the earliest), so a later retry is not left to the poll.
  const wakeTimes: number[] = []; // ascending, unique
  let wakeTimer: NodeJS.Timeout | null = null;
  function wakeAt(at: Date): void {
    if (stopping) return;
    const time = at.getTime();
    let i = 0;
    for (let hi = wakeTimes.length; i < hi; ) {
      const mid = (i + hi) >>> 1;
      if (wakeTimes[mid] < time) i = mid + 1;
      else hi = mid;
    }
    if (wakeTimes[i] === time) return;
    wakeTimes.splice(i, 0, time);
    if (i === 0) armWakeTimer();
  }
  function armWakeTimer(): void {
    if (wakeTimer) clearTimeout(wakeTimer);
    wakeTimer = null;
    if (wakeTimes.length === 0 || stopping) return;
    wakeTimer = setTimeout(
      () => {
        wakeTimer = null;
        const now = Date.now();
        while (wakeTimes.length > 0 && wakeTimes[0] <= now) wakeTimes.shift();
        if (workId && !stopping) boss.notifyWorker(workId);
        armWakeTimer();
      },
      Math.max(0, wakeTimes[0] - Date.now()) + 5,
    );
  }

  const renewTimer = setInterval(
    () => {
      renewLeases(pool, [...held], workerId, leaseMs).catch((err) => log.warn({ err }, 'lease renewal failed'));
    },
    Math.max(250, leaseMs / 3),
  );

  const sweepIntervalMs = Math.min(5000, Math.max(500, leaseMs / 2));
  const sweepTimer = setInterval(() => {
    sweep().catch((err) => log.warn({ err }, 'sweep failed'));
  }, sweepIntervalMs);

  async function sweep(): Promise<void> {
    const db = await pool.connect();
    try {
      await db.query('begin');
      const ids = await sweepOverdue(db, leaseMs / 2);
      if (ids && ids.length > 0) {
        await enqueueDeliveries(boss, ids, { db: fromPgClient(db) });
        log.info({ count: ids.length }, 're-queued overdue deliveries');
      }
      await db.query('commit');
    } catch (err) {
      await db.query('rollback').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }

  workId = await boss.work<DeliveryJobData>(
    DELIVERY_QUEUE,
    {
      batchSize: 10,
      pollingIntervalSeconds: 2,
      notifyPollingIntervalSeconds: 2,
      burstWhenBatchFull: true,
    },
    handle,
  );
  await scheduleRetention(boss, pool, config.retentionMs, log);
  log.info({ concurrency: config.workerConcurrency }, 'delivery worker started');

  return {
    id: workerId,
    async stop(deadline = Date.now() + config.shutdownTimeoutMs) {
      stopping = true;
      await boss.offWork(DELIVERY_QUEUE, { wait: false }).catch(() => {});
      await boss.offWork(RETENTION_QUEUE, { wait: false }).catch(() => {});
      clearInterval(sweepTimer);
      if (wakeTimer) clearTimeout(wakeTimer);
      const reserve = Math.min(STOP_RESERVE_MAX_MS, (deadline - Date.now()) * STOP_RESERVE_SHARE);
      const attemptsUntil = deadline - reserve;
      await settlesBy(Promise.allSettled([...claims]), attemptsUntil);
      // Hand back what has not started, with a fresh wake-up job so another worker takes it at
      // once (its job is done; the sweep would find it only lease/2 later).
      await letGo(
        lanes.drainWaiting().map((t) => t.delivery.id),
        attemptsUntil,
      );
      // Let the attempts in flight finish, keeping a reserve of time to record them; end the rest.
      if (!(await settlesBy(lanes.idle(), attemptsUntil))) {
        log.warn({ count: lanes.held }, 'attempts still in flight at the shutdown timeout: ending them');
        abortAttempts.abort(new Error('the worker is stopping'));
        await settlesBy(lanes.idle(), deadline - reserve / 2);
      }
      const unrecorded = await recorder.close(deadline - reserve / 4);
      clearInterval(renewTimer);
      // Ended attempts, and results that could not be recorded: let go so they are sent again at once.
      await letGo([...held], deadline);
      if (held.size > 0) {
        log.warn(
          { count: held.size, unrecorded: unrecorded.length, leaseMs },
          'stopped with deliveries still leased: they are sent again once the lease lapses',
        );
      }
      await settlesBy(client.close(), deadline);
      await settlesBy(pool.end(), deadline);
      log.info('delivery worker stopped');
      return { leftLeased: held.size };
    },
  };

  /** Releases leases (and queues a wake-up job for them) before `deadline`; what it lets go of is no longer held. */
  async function letGo(ids: string[], deadline: number): Promise<void> {
    if (ids.length === 0) return;
    const released = (async () => {
      await releaseLeases(pool, ids, workerId);
      for (const id of ids) held.delete(id);
      await enqueueDeliveries(boss, ids);
    })();
    released.catch((err) => log.warn({ err, count: ids.length }, 'releasing leases failed'));
    await settlesBy(released, deadline);
  }
}
