/**
 * Runs tasks with at most `limit` at once per key (a webhook's maxInFlight) and at most
 * `globalLimit` in all, so a slow endpoint only ever occupies its own lane.
 */
export class Lanes<T> {
  private readonly lanes = new Map<string, { active: number; limit: number; queue: T[] }>();
  private active = 0;
  /** Items waiting in all lanes (kept as a count: pump runs after every task). */
  private queued = 0;
  private readonly globalLimit: number;
  private readonly run: (item: T) => Promise<void>;
  private idleWaiters: (() => void)[] = [];
  private capacityWaiters: { threshold: number; resolve: () => void }[] = [];

  constructor(globalLimit: number, run: (item: T) => Promise<void>) {
    this.globalLimit = globalLimit;
    this.run = run;
  }

  /** Tasks running now plus tasks waiting. */
  get held(): number {
    return this.active + this.queued;
  }

  /** Waiting tasks of one key. */
  waiting(key: string): number {
    return this.lanes.get(key)?.queue.length ?? 0;
  }

  /** Items that could start at once if the global limit allowed it (saturated lanes excluded). */
  private get startable(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += Math.min(lane.queue.length, Math.max(0, lane.limit - lane.active));
    return n;
  }

  push(key: string, limit: number, item: T): void {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { active: 0, limit, queue: [] };
      this.lanes.set(key, lane);
    }
    lane.limit = limit;
    lane.queue.push(item);
    this.queued++;
    this.pump();
  }

  /** Takes every waiting item out (on shutdown); running ones finish. */
  drainWaiting(): T[] {
    const items: T[] = [];
    for (const lane of this.lanes.values()) items.push(...lane.queue.splice(0));
    this.queued = 0;
    return items;
  }

  /** Resolves once fewer than `threshold` items are waiting for global capacity. */
  async belowCapacity(threshold: number): Promise<void> {
    if (this.startable < threshold) return;
    await new Promise<void>((resolve) => this.capacityWaiters.push({ threshold, resolve }));
  }

  /** Resolves once nothing runs (waiting items are not started after drainWaiting). */
  async idle(): Promise<void> {
    if (this.held === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    for (const [key, lane] of this.lanes) {
      while (lane.queue.length > 0 && lane.active < lane.limit && this.active < this.globalLimit) {
        const item = lane.queue.shift()!;
        this.queued--;
        lane.active++;
        this.active++;
        this.run(item).finally(() => {
          lane.active--;
          this.active--;
          if (lane.active === 0 && lane.queue.length === 0) this.lanes.delete(key);
          this.pump();
        });
      }
    }
    if (this.capacityWaiters.length > 0) {
      const startable = this.startable;
      const ready = this.capacityWaiters.filter((w) => startable < w.threshold);
      this.capacityWaiters = this.capacityWaiters.filter((w) => startable >= w.threshold);
      for (const w of ready) w.resolve();
    }
    if (this.held === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
