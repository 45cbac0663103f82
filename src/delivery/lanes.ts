/**
 * What a lane's task needs before it starts, as flow control decides (delivery/flow.ts): a slot of
 * its webhook, a send time under its rate. `take` takes it if it is there now; when it is not, the
 * lanes say how many wait (`wants`) and the gate calls `pump()` once there may be more.
 */
export interface Gate<Ticket> {
  /** What one task of `key` needs to start now, taken; null: not now. */
  take(key: string): Ticket | null;
  /** The task that held `ticket` finished. */
  done(key: string, ticket: Ticket): void;
  /** `waiting` tasks of `key` could not start for want of what take() gives; `active` run. */
  wants(key: string, waiting: number, active: number): void;
  /** How many tasks of `key` may run at once (its concurrency in force). */
  limit(key: string): number;
}

/** A queued task: lower priority ranks start first (0 HIGH, 1 NORMAL, 2 LOW). */
export interface Prioritised {
  priority: number;
}

const RANKS = 3;

interface Lane<T> {
  key: string;
  active: number;
  /** One FIFO per priority rank. */
  queues: T[][];
  queued: number;
  /**
   * Its gate refused its next task and has not changed for it since: pump passes it by until its
   * own task finishes, a task is pushed to it, or the gate calls pump() (new slots, send times or
   * limits). Without it every pump, after every task, asked the gate again for each refused lane.
   */
  blocked: boolean;
}

/**
 * Runs tasks per key (a webhook) as its gate allows and at most `globalLimit` in all, so a slow
 * endpoint only ever occupies its own lane. Within a lane HIGH tasks start before NORMAL before
 * LOW, and among all lanes the HIGH tasks get the free global capacity first.
 */
export class Lanes<T extends Prioritised, Ticket = unknown> {
  private readonly lanes = new Map<string, Lane<T>>();
  private active = 0;
  /** Items waiting in all lanes (kept as a count: pump runs after every task). */
  private queued = 0;
  /** Items waiting in all lanes, per priority rank: pump skips the ranks nobody waits in. */
  private readonly queuedByRank: number[] = Array.from({ length: RANKS }, () => 0);
  private readonly globalLimit: number;
  private readonly run: (item: T, key: string) => Promise<void>;
  private readonly gate: Gate<Ticket>;
  private idleWaiters: (() => void)[] = [];
  private capacityWaiters: { threshold: number; resolve: () => void }[] = [];
  private pumping = false;

  constructor(globalLimit: number, gate: Gate<Ticket>, run: (item: T, key: string) => Promise<void>) {
    this.globalLimit = globalLimit;
    this.gate = gate;
    this.run = run;
  }

  /** Tasks running now plus tasks waiting. */
  get held(): number {
    return this.active + this.queued;
  }

  /** Waiting tasks of one key. */
  waiting(key: string): number {
    return this.lanes.get(key)?.queued ?? 0;
  }

  /** Waiting tasks of one key with the highest priority (rank 0). */
  waitingHigh(key: string): number {
    return this.lanes.get(key)?.queues[0].length ?? 0;
  }

  /** Running tasks of one key. */
  running(key: string): number {
    return this.lanes.get(key)?.active ?? 0;
  }

  /**
   * Items that could start at once if the global limit allowed it (saturated lanes excluded),
   * counted up to `enough` (a caller only asks whether it is below a threshold: under a backlog
   * the first lanes already make it, and this runs after every task).
   */
  private startable(enough = Infinity): number {
    let n = 0;
    for (const lane of this.lanes.values()) {
      if (lane.queued === 0) continue;
      n += Math.min(lane.queued, Math.max(0, this.gate.limit(lane.key) - lane.active));
      if (n >= enough) break;
    }
    return n;
  }

  push(key: string, item: T): void {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { key, active: 0, queues: Array.from({ length: RANKS }, () => []), queued: 0, blocked: false };
      this.lanes.set(key, lane);
    }
    lane.blocked = false;
    const rank = rankOf(item);
    lane.queues[rank].push(item);
    this.queuedByRank[rank]++;
    lane.queued++;
    this.queued++;
    this.drive();
  }

  /** Takes the waiting items of one key out (to give them back); running ones finish. */
  takeWaiting(key: string): T[] {
    return this.takeWaitingWhere(key, () => true);
  }

  /** Takes out the waiting items of one key that `which` picks; the others keep their places. */
  takeWaitingWhere(key: string, which: (item: T) => boolean): T[] {
    const lane = this.lanes.get(key);
    if (!lane) return [];
    const taken: T[] = [];
    lane.queues = lane.queues.map((queue, rank) => {
      const kept: T[] = [];
      for (const item of queue) (which(item) ? taken : kept).push(item);
      this.queuedByRank[rank] -= queue.length - kept.length;
      return kept;
    });
    lane.queued -= taken.length;
    this.queued -= taken.length;
    if (lane.active === 0 && lane.queued === 0) this.lanes.delete(key);
    this.settle();
    return taken;
  }

  /** Takes every waiting item out (on shutdown); running ones finish. */
  drainWaiting(): T[] {
    const items: T[] = [];
    for (const key of [...this.lanes.keys()]) items.push(...this.takeWaiting(key));
    return items;
  }

  /** Resolves once fewer than `threshold` items are waiting for global capacity. */
  async belowCapacity(threshold: number): Promise<void> {
    if (this.startable(threshold) < threshold) return;
    await new Promise<void>((resolve) => this.capacityWaiters.push({ threshold, resolve }));
  }

  /** Resolves once nothing runs (waiting items are not started after drainWaiting). */
  async idle(): Promise<void> {
    if (this.held === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Starts what the gates and the global limit allow, most urgent first: the gate calls it when
   * what it gives may have changed for any key (slots or send times came, a limit rose), so every
   * lane it refused before is asked again.
   */
  pump(): void {
    for (const lane of this.lanes.values()) lane.blocked = false;
    this.drive();
  }

  /** Starts what the gates and the global limit allow among the lanes not blocked, most urgent first. */
  private drive(): void {
    if (this.pumping) return; // a gate that calls back while we start tasks
    // Nothing can start (a claim pushing hundreds of tasks while all capacity is in use).
    if (this.active >= this.globalLimit) return this.settle();
    this.pumping = true;
    // This runs after every task and every push: it allocates nothing unless a gate refuses.
    let refused: Lane<T>[] | null = null;
    try {
      for (let rank = 0; rank < RANKS && this.active < this.globalLimit; rank++) {
        if (this.queuedByRank[rank] === 0) continue;
        for (const lane of this.lanes.values()) {
          const queue = lane.queues[rank];
          if (queue.length === 0 || lane.blocked) continue;
          while (queue.length > 0 && this.active < this.globalLimit) {
            const ticket = this.gate.take(lane.key);
            if (ticket === null) {
              lane.blocked = true;
              refused ??= [];
              refused.push(lane);
              break;
            }
            this.queuedByRank[rank]--;
            this.start(lane, queue.shift()!, ticket);
          }
          if (this.active >= this.globalLimit) break;
        }
      }
      if (refused) {
        for (const lane of refused) {
          if (lane.queued > 0 && this.lanes.get(lane.key) === lane) this.gate.wants(lane.key, lane.queued, lane.active);
        }
      }
    } finally {
      this.pumping = false;
    }
    this.settle();
  }

  private start(lane: Lane<T>, item: T, ticket: Ticket): void {
    const { key } = lane;
    lane.queued--;
    this.queued--;
    lane.active++;
    this.active++;
    this.run(item, key).finally(() => {
      lane.active--;
      this.active--;
      if (lane.active === 0 && lane.queued === 0 && this.lanes.get(key) === lane) this.lanes.delete(key);
      this.gate.done(key, ticket);
      // The gate may keep the slot for this lane's next task; other lanes' gates did not change.
      lane.blocked = false;
      this.drive();
    });
  }

  /** Wakes whoever waits for capacity or for idleness. */
  private settle(): void {
    if (this.capacityWaiters.length > 0) {
      let least = Infinity;
      let most = 0;
      for (const w of this.capacityWaiters) {
        least = Math.min(least, w.threshold);
        most = Math.max(most, w.threshold);
      }
      // Fewer items queued than the lowest threshold: every waiter is ready without counting lanes.
      const startable = this.queued < least ? this.queued : this.startable(most);
      if (startable < most) {
        const ready = this.capacityWaiters.filter((w) => startable < w.threshold);
        this.capacityWaiters = this.capacityWaiters.filter((w) => startable >= w.threshold);
        for (const w of ready) w.resolve();
      }
    }
    if (this.held === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

function rankOf(item: Prioritised): number {
  return Math.min(RANKS - 1, Math.max(0, item.priority));
}
