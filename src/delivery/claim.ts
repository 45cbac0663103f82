// Stage 1 of the worker (worker.ts): claim.
import type { Pool } from 'pg';
import type { Job, PgBoss } from 'pg-boss';
import { settlesBy } from '../core/deadline.ts';
import { type DeliveryJobData, enqueueDeliveries } from '../jobs/queue.ts';
import type { Logger } from '../logger.ts';
import { type ClaimedDelivery, claimDeliveries, releaseLeases, renewLeases, type WebhookForDelivery } from './sql/claim-deliveries.ts';
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
 * This worker's leases. claim() leases the due deliveries among those named (one statement,
 * sql/claim-deliveries.ts, and a second one only for deliveries under operator-defined profiles,
 * sql/profile-material.ts); each lease is renewed every lease/3 until the delivery is recorded
 * (recorded()) or let go of (letGo()). A worker that dies lets its leases lapse, and the
 * sweep re-queues what they held.
 */
export class Leases {
  private readonly held = new Set<string>();
  /** Claims in progress, which a stop waits for so that it lets go of what they took. */
  private readonly claiming = new Set<Promise<unknown>>();
  private stopping = false;
  private readonly renewTimer: NodeJS.Timeout;
  private readonly deps: { pool: Pool; workerId: string; leaseMs: number; log: Logger };

  constructor(deps: Leases['deps']) {
    this.deps = deps;
    this.renewTimer = setInterval(
      () => {
        renewLeases(deps.pool, [...this.held], deps.workerId, deps.leaseMs).catch((err) => deps.log.warn({ err }, 'lease renewal failed'));
      },
      Math.max(250, deps.leaseMs / 3),
    );
  }

  /**
   * Leases those of `ids` that are due now and hands each to `place` (a lane, or straight to the
   * recorder); returns how many it leased. If placing fails (e.g. the database went away) the
   * rest are let go: held, their leases would be renewed for ever and no worker, this one
   * included, would try them again; let go, they lapse and the sweep finds them.
   */
  async claim(ids: string[], place: (claimed: Claimed) => void): Promise<number> {
    if (ids.length === 0 || this.stopping) return 0;
    const claim = this.leaseWithProfiles(ids);
    this.claiming.add(claim);
    const { deliveries, webhooks, profiles } = await claim.finally(() => this.claiming.delete(claim));
    // Claimed as the worker began to stop: the stop lets go of them with the rest.
    if (this.stopping) return deliveries.length;
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
    return deliveries.length;
  }

  /** Leases (held from then on), then reads what their profile versions need. */
  private async leaseWithProfiles(ids: string[]) {
    const { deliveries, webhooks } = await claimDeliveries(this.deps.pool, ids, this.deps.workerId, this.deps.leaseMs);
    for (const delivery of deliveries) this.held.add(delivery.id);
    try {
      return { deliveries, webhooks, profiles: await loadProfileMaterial(this.deps.pool, deliveries) };
    } catch (err) {
      // As when placing fails (below): let the leases lapse, and the sweep finds them.
      for (const delivery of deliveries) this.held.delete(delivery.id);
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
    return [...this.held];
  }

  /** Stops renewing leases. */
  stop(): void {
    clearInterval(this.renewTimer);
  }
}
