import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Job, PgBoss } from 'pg-boss';
import type { Config } from '../config.ts';
import { settlesBy } from '../core/deadline.ts';
import { decide } from '../core/delivery-state.ts';
import { idTime } from '../core/ids.ts';
import { openPool } from '../db/pool.ts';
import { DELIVERY_QUEUE, type DeliveryJobData } from '../jobs/queue.ts';
import { deliveryMessage } from '../live/messages.ts';
import type { Logger } from '../logger.ts';
import { observeAttempt } from '../metrics.ts';
import { admit } from './admit.ts';
import { type Claimed, deliveryIdsOf, Leases } from './claim.ts';
import { FlowControl } from './flow.ts';
import { createDeliveryClient } from './http-client.ts';
import { warnOfHttpWebhooks } from './http-webhooks.ts';
import { Lanes } from './lanes.ts';
import { notify, WakeTimers } from './notify.ts';
import { type AttemptTask, batchCredentials, prepare } from './prepare.ts';
import { Recorder, recordOf } from './record.ts';
import { RETENTION_QUEUE, scheduleRetention } from './retention.ts';
import { send } from './send.ts';
import { SigningCache } from './signing-cache.ts';
import type { WebhookForDelivery } from './sql/claim-deliveries.ts';
import { startSweeper } from './sweeper.ts';

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

/**
 * The worker fetches its next wake-up jobs once fewer than this many times
 * HERALD_WORKER_CONCURRENCY deliveries in its lanes could start: enough to keep every request
 * slot busy while the fetch and the claim after it are on their way. At 1x the lanes ran dry
 * between claims (the benchmark's throughput scenario, one process: fewer than 100 requests under
 * way in 16 of 73 samples taken every 100 ms, none queued); at 3x in 5 of 72.
 */
const PREFETCH_FACTOR = 3;

/** The part of the stop's time kept for recording results and letting go of leases: at most 5 s. */
const STOP_RESERVE_SHARE = 1 / 4;
const STOP_RESERVE_MAX_MS = 5000;

/**
 * The delivery worker, in stages (each in its own file):
 *
 *   claim ──▶ admit ──▶ (lane, flow) ──▶ prepare ──▶ send ──▶ decide ──▶ record ──▶ notify
 *
 * claim leases the deliveries a batch of pg-boss wake-up jobs names (with what their delivery
 * profile versions need), as many of each webhook as this worker has room for; admit puts each in
 * its webhook's lane or settles it at once (held); flow control (flow.ts) starts a lane's task once
 * it holds one of the webhook's slots and, under a rate, a send time, and pulls more of a
 * webhook's due deliveries when its lane runs low; prepare renders the signed request under the
 * delivery's profile version; send POSTs it; decide (core/delivery-state.ts) chooses what
 * follows; record writes batches of results; notify announces them once committed.
 */
export async function startDeliveryWorker(options: DeliveryWorkerOptions): Promise<DeliveryWorker> {
  const { boss, config } = options;
  const workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const logger = options.logger.child({ component: 'worker', workerId });
  const pool = openPool(options.databaseUrl, 8, logger);
  const client = createDeliveryClient({ allowedCidrs: config.allowedCidrs, allowHttp: config.allowHttp, ca: options.ca });
  const signingCache = new SigningCache(options.encryptionKey);
  let workId = '';
  let stopping = false;
  /** Ends the requests still in flight when a stop runs out of time. */
  const abortAttempts = new AbortController();

  const leases = new Leases({
    pool,
    workerId,
    leaseMs: config.leaseMs,
    log: logger,
    // Once per webhook a claim or pull read, not once per delivery: limits, ordering, the shared
    // throttle (a raised rateLimit applies at the next pull, not at the next send time reserved
    // at the old one).
    settings: (webhooks) => {
      for (const webhook of webhooks) flow.update(webhook);
    },
  });
  const wakeTimers = new WakeTimers(() => {
    if (workId && !stopping) boss.notifyWorker(workId);
  });
  const recorder = new Recorder({
    pool,
    boss,
    workerId,
    disableAfterMs: config.disableAfterMs,
    exhaustedWindowMs: config.exhaustedWindowMs,
    defaultProfile: config.defaultProfile,
    logger,
    notify: (committed, query) =>
      notify(committed, query, {
        logger,
        wakeTimers,
        recorded: (ids) => leases.recorded(ids),
        claimNow: (ids) => void claim(ids),
        throttled: (webhookId, throttle, writtenAt) => flow.written(webhookId, throttle, writtenAt),
      }),
  });
  const flow = new FlowControl({
    pool,
    workerId,
    leaseMs: config.leaseMs,
    logger,
    pull: async (wanted) => {
      const { got, webhooks } = await leases.pull(wanted, place(batchCredentials(signingCache)));
      // A webhook paused, disabled or deleted since: what waits for it here is not sent.
      for (const webhook of webhooks.values()) settleQueued(webhook);
      return got;
    },
    giveBack: (webhookId) => leases.giveBack(lanes.takeWaiting(webhookId).map((task) => task.delivery.id)),
    persist: (change) => recorder.throttle(change),
  });
  const lanes = new Lanes<AttemptTask, number>(config.workerConcurrency, flow, attempt);
  flow.attach(lanes);
  const sweeper = startSweeper({ pool, boss, leaseMs: config.leaseMs, defaultProfile: config.defaultProfile, logger });

  /**
   * The queued deliveries of a webhook paused, disabled or deleted since they were claimed are
   * settled as a claim would settle them now (admit.ts: parked, failed, cancelled), not sent: a
   * lane may hold several times maxInFlight of them, or seconds of a rate.
   */
  function settleQueued(webhook: WebhookForDelivery): void {
    if (webhook.status === 'ACTIVE' && !webhook.deleted) return;
    const now = new Date();
    const stopped = (task: AttemptTask) => admit({ delivery: task.delivery, webhook, profiles: task.profiles }, now);
    for (const task of lanes.takeWaitingWhere(webhook.id, (t) => stopped(t).to === 'record')) {
      const admission = stopped(task);
      if (admission.to === 'record') recorder.add(recordOf(task.delivery, admission.decision));
    }
  }

  /** Where each claimed delivery goes: its webhook's lane, or straight to the recorder. */
  function place(credentials: ReturnType<typeof batchCredentials>): (claimed: Claimed) => void {
    return (claimed) => {
      const { delivery } = claimed;
      const admission = admit(claimed, new Date());
      if (admission.to === 'record') return recorder.add(recordOf(delivery, admission.decision));
      const { webhook } = admission;
      lanes.push(webhook.id, {
        delivery,
        webhook,
        priority: delivery.priority,
        credentials: credentials(webhook),
        profiles: claimed.profiles,
        signing: signingCache,
      });
    };
  }

  /** Claims the due ones of `ids`, as many of each webhook as there is room for. */
  async function claim(ids: string[]): Promise<void> {
    if (stopping) return;
    try {
      const { leftOver } = await leases.claim(ids, place(batchCredentials(signingCache)), flow.rooms());
      flow.leftOver(leftOver);
    } catch (err) {
      logger.warn({ err }, 'claiming deliveries failed');
    }
  }

  async function onJobs(jobs: Job<DeliveryJobData>[]): Promise<void> {
    if (stopping) return;
    const { leftOver } = await leases.claim(deliveryIdsOf(jobs), place(batchCredentials(signingCache)), flow.rooms());
    flow.leftOver(leftOver);
    if (stopping) return;
    // Backpressure: take no more jobs while the lanes have plenty ready to run.
    await lanes.belowCapacity(PREFETCH_FACTOR * config.workerConcurrency);
  }

  async function attempt(task: AttemptTask): Promise<void> {
    const { delivery, webhook } = task;
    try {
      const preparing = prepare(task, new Date());
      // Awaited only when it is a promise (header expressions ran): none for the built-ins.
      const prepared = preparing instanceof Promise ? await preparing : preparing;
      recorder.announce(deliveryMessage(delivery, 'ATTEMPT_STARTED', { status: delivery.status, attemptId: prepared.id }));
      // What the profile could not render is not sent: its result is error TRANSFORM, and decide() fails it.
      const result = prepared.refused ?? (await send(client, prepared, abortAttempts.signal));
      // A delivery's id is made when its event is published: its first scheduled attempt measures the pipeline.
      observeAttempt(
        result,
        prepared.number === 1 && delivery.trigger === 'SCHEDULED' ? prepared.startedAt.getTime() - idTime(delivery.id) : null,
      );
      // Adaptive throttling learns from the endpoint's answers only (a refused render sent nothing).
      if (!prepared.refused)
        flow.observe(webhook.id, {
          startedAt: prepared.startedAt.getTime(),
          durationMs: result.durationMs,
          status: result.status,
          error: result.error,
        });
      const decision = decide(delivery, { kind: 'attempted', response: result }, webhook, new Date());
      recorder.add(recordOf(delivery, decision, { prepared, result }));
    } catch (err) {
      // Ended by a stop that ran out of time: no outcome; the stop lets go of its lease.
      if (abortAttempts.signal.aborted) return;
      // A bug or a broken setting (e.g. an undecryptable secret), not the endpoint's fault:
      // try again later rather than lose the delivery.
      logger.error({ err, deliveryId: delivery.id }, 'attempt could not be made');
      recorder.add(recordOf(delivery, decide(delivery, { kind: 'not-attempted' }, webhook, new Date())));
    }
  }

  workId = await boss.work<DeliveryJobData>(
    DELIVERY_QUEUE,
    { batchSize: 10, pollingIntervalSeconds: 2, notifyPollingIntervalSeconds: 2, burstWhenBatchFull: true },
    onJobs,
  );
  await scheduleRetention(boss, pool, config.retentionMs, logger);
  if (!config.allowHttp) await warnOfHttpWebhooks(pool, logger);
  logger.info({ concurrency: config.workerConcurrency }, 'delivery worker started');

  return {
    id: workerId,
    async stop(deadline = Date.now() + config.shutdownTimeoutMs) {
      stopping = true;
      leases.stopClaiming();
      await boss.offWork(DELIVERY_QUEUE, { wait: false }).catch(() => {});
      await boss.offWork(RETENTION_QUEUE, { wait: false }).catch(() => {});
      sweeper.stop();
      wakeTimers.stop();
      const reserve = Math.min(STOP_RESERVE_MAX_MS, (deadline - Date.now()) * STOP_RESERVE_SHARE);
      const attemptsUntil = deadline - reserve;
      await leases.claimsSettled(attemptsUntil);
      // Hand back what has not started (another worker takes it at once, not lease/2 later).
      await leases.letGo(
        lanes.drainWaiting().map((t) => t.delivery.id),
        boss,
        attemptsUntil,
      );
      // Let the attempts in flight finish, keeping a reserve of time to record them; end the rest.
      if (!(await settlesBy(lanes.idle(), attemptsUntil))) {
        logger.warn({ count: lanes.held }, 'attempts still in flight at the shutdown timeout: ending them');
        abortAttempts.abort(new Error('the worker is stopping'));
        await settlesBy(lanes.idle(), deadline - reserve / 2);
      }
      const unrecorded = await recorder.close(deadline - reserve / 4);
      leases.stop();
      // Nothing runs: every slot this worker holds is free for the others at once.
      await settlesBy(
        flow.stop().catch((err) => logger.warn({ err }, 'freeing slots failed: they lapse with the lease')),
        deadline,
      );
      // Ended attempts, and results that could not be recorded: let go so they are sent again at once.
      await leases.letGo(leases.heldIds, boss, deadline);
      const leftLeased = leases.heldIds.length;
      if (leftLeased > 0) {
        logger.warn(
          { count: leftLeased, unrecorded: unrecorded.length, leaseMs: config.leaseMs },
          'stopped with deliveries still leased: they are sent again once the lease lapses',
        );
      }
      await settlesBy(client.close(), deadline);
      await settlesBy(pool.end(), deadline);
      logger.info('delivery worker stopped');
      return { leftLeased };
    },
  };
}
