// Stage 1 of the worker (worker.ts): claim.
import type { Pool } from 'pg';
import type { Job, PgBoss } from 'pg-boss';
import { settlesBy } from '../core/deadline.ts';
import { type DeliveryJobData, enqueueDeliveries } from '../jobs/queue.ts';
import type { Logger } from '../logger.ts';
import {
  type ClaimedDelivery,
  type ClaimResult,
  claimDeliveries,
  pullDeliveries,
  releaseLeases,
  renewLeases,
  type WebhookForDelivery,
} from './sql/claim-deliveries.ts';
import { loadProfileMaterial, type ProfileMaterial } from './sql/profile-material.ts';

/**
 * A delivery this worker has leased, with its webhook's settings as read in the same statement
 * (undefined: none), and what its batch's operator-defined profile versions need.
 */
export interface Claimed {
  delivery: ClaimedDelivery;
  webhook: WebhookForDelivery | undefined;
  /** Shared by the batch; the same empty object when all of it is under built-in profiles. */
  profiles: ProfileMaterial;
}

/** The delivery ids a batch of wake-up jobs names, each once. */
export function deliveryIdsOf(jobs: readonly Job<DeliveryJobData>[]): string[] {
  return [...new Set(jobs.flatMap((job) => job.data?.d ?? []))];
}

/**
 * This worker's leases. claim() leases the due deliveries among those named, as far as this
 * worker has room for them (one statement, sql/claim-deliveries.ts, and a second one only for
 * deliveries under operator-defined profiles, sql/profile-material.ts); pull() leases more of a
 * webhook's due deliveries when its lane runs low. A lease held longer than lease/3 is renewed
 * until the delivery is recorded (recorded()) or let go of (letGo(), giveBack()); most are
 * recorded sooner and never written twice. A worker that dies lets its leases lapse, and the
 * sweep re-queues what they held.
 */
export class Leases {
  /** Leased deliveries, and when each lease was last written (epoch ms). */
  private readonly held = new Map<string, number>();
  /** Claims in progress, which a stop waits for so that it lets go of what they took. */
  private readonly claiming = new Set<Promise<unknown>>();
  private stopping = false;
  private readonly renewTimer: NodeJS.Timeout;
  private readonly deps: {
    pool: Pool;
    workerId: string;
    leaseMs: number;
    log: Logger;
    /** The current settings of the webhooks a claim or pull read, once per statement (before its deliveries are placed). */
    settings?: (webhooks: Iterable<WebhookForDelivery>) => void;
  };

  constructor(deps: Leases['deps']) {
    this.deps = deps;
    const every = Math.max(250, deps.leaseMs / 3);
    this.renewTimer = setInterval(() => {
      // Renewed before two thirds of the lease have passed, so it never lapses while held.
      const now = Date.now();
      const due = [...this.held].filter(([, at]) => now - at >= every).map(([id]) => id);
      for (const id of due) this.held.set(id, now);
      renewLeases(deps.pool, due, deps.workerId, deps.leaseMs).catch((err) => deps.log.warn({ err }, 'lease renewal failed'));
    }, every);
  }

  /**
   * Leases those of `ids` that are due now — of each webhook as many as `rooms` says this worker
   * has room for (sql/claim-deliveries.ts) — and hands each to `place` (a lane, or straight to
   * the recorder). Returns how many it leased and the webhooks some of whose due deliveries it
   * left in the table. If placing fails (e.g. the database went away) the rest are let go: held,
   * their leases would be renewed for ever and no worker, this one included, would try them
   * again; let go, they lapse and the sweep finds them.
   */
  async claim(
    ids: string[],
    place: (claimed: Claimed) => void,
    rooms?: ReadonlyMap<string, number>,
  ): Promise<{ count: number; leftOver: string[] }> {
    if (ids.length === 0 || this.stopping) return { count: 0, leftOver: [] };
    const result = await this.leasing(claimDeliveries(this.deps.pool, ids, this.deps.workerId, this.deps.leaseMs, rooms), place);
    return { count: result.deliveries.length, leftOver: result.leftOver };
  }

  /**
   * Leases up to `room` due deliveries of each webhook (sql/claim-deliveries.ts) and places them;
   * how many each got, and the current settings of every webhook asked for.
   */
  async pull(
    wanted: { webhookId: string; room: number; highOnly?: boolean }[],
    place: (claimed: Claimed) => void,
  ): Promise<{ got: Map<string, number>; webhooks: Map<string, WebhookForDelivery> }> {
    const got = new Map<string, number>();
    if (wanted.length === 0 || this.stopping) return { got, webhooks: new Map() };
    const { deliveries, webhooks } = await this.leasing(
      pullDeliveries(this.deps.pool, this.deps.workerId, this.deps.leaseMs, wanted),
      place,
    );
    for (const d of deliveries) got.set(d.webhookId, (got.get(d.webhookId) ?? 0) + 1);
    return { got, webhooks };
  }

  private async leasing(lease: Promise<ClaimResult>, place: (claimed: Claimed) => void): Promise<ClaimResult> {
    const claim = this.withProfiles(lease);
    this.claiming.add(claim);
    const result = await claim.finally(() => this.claiming.delete(claim));
    const { deliveries, webhooks, profiles } = result;
    // Claimed as the worker began to stop: the stop lets go of them with the rest.
    if (this.stopping) return result;
    this.deps.settings?.(webhooks.values());
    let placed = 0;
    try {
      for (const delivery of deliveries) {
        place({ delivery, webhook: webhooks.get(delivery.webhookId), profiles });
        placed++;
      }
    } catch (err) {
      for (const delivery of deliveries.slice(placed)) this.held.delete(delivery.id);
      throw err;
    }
    return result;
  }

  /**
   * Gives deliveries back untouched and without a wake-up job: they stay due in the table, with
   * delivery_due rows, for the worker that holds their webhook's slots, whose pulls take them.
   */
  giveBack(ids: string[]): void {
    if (ids.length === 0) return;
    // Not renewed from now on: if the release fails, the leases lapse and they are due again then.
    this.recorded(ids);
    releaseLeases(this.deps.pool, ids, this.deps.workerId, true).catch((err) =>
      this.deps.log.warn({ err, count: ids.length }, 'giving deliveries back failed'),
    );
  }

  /** Leases (held from then on), then reads what their profile versions need. */
  private async withProfiles(lease: Promise<ClaimResult>): Promise<ClaimResult & { profiles: ProfileMaterial }> {
    const result = await lease;
    const now = Date.now();
    for (const delivery of result.deliveries) this.held.set(delivery.id, now);
    try {
      return { ...result, profiles: await loadProfileMaterial(this.deps.pool, result.deliveries) };
    } catch (err) {
      // As when placing fails (below): let the leases lapse, and the sweep finds them.
      for (const delivery of result.deliveries) this.held.delete(delivery.id);
      throw err;
    }
  }

  /** Stops renewing deliveries whose recording has committed (their leases are cleared there). */
  recorded(ids: Iterable<string>): void {
    for (const id of ids) this.held.delete(id);
  }

  /** Claims nothing more; what claims in progress return is held for the stop to let go of. */
  stopClaiming(): void {
    this.stopping = true;
  }

  /** Waits until `deadline` (epoch ms) at most for the claims in progress. */
  async claimsSettled(deadline: number): Promise<void> {
    await settlesBy(Promise.allSettled([...this.claiming]), deadline);
  }

  /**
   * Gives deliveries back untouched, each with a fresh wake-up job so that another worker takes
   * it at once (on shutdown), waiting until `deadline` at most; what it lets go of is no longer held.
   */
  async letGo(ids: string[], boss: PgBoss, deadline: number): Promise<void> {
    if (ids.length === 0) return;
    const released = (async () => {
      await releaseLeases(this.deps.pool, ids, this.deps.workerId);
      this.recorded(ids);
      await enqueueDeliveries(boss, ids);
    })();
    released.catch((err) => this.deps.log.warn({ err, count: ids.length }, 'releasing leases failed'));
    await settlesBy(released, deadline);
  }

  /** Deliveries leased to this worker now. */
  get heldIds(): string[] {
    return [...this.held.keys()];
  }

  /** Stops renewing leases. */
  stop(): void {
    clearInterval(this.renewTimer);
  }
}
