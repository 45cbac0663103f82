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
  active: number;
  /** One FIFO per priority rank. */
  queues: T[][];
  queued: number;
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

  /** Items that could start at once if the global limit allowed it (saturated lanes excluded). */
  private get startable(): number {
    let n = 0;
    for (const [key, lane] of this.lanes) n += Math.min(lane.queued, Math.max(0, this.gate.limit(key) - lane.active));
    return n;
  }

  push(key: string, item: T): void {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { active: 0, queues: Array.from({ length: RANKS }, () => []), queued: 0 };
      this.lanes.set(key, lane);
    }
    lane.queues[rankOf(item)].push(item);
    lane.queued++;
    this.queued++;
    this.pump();
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
    lane.queues = lane.queues.map((queue) => {
      const kept: T[] = [];
      for (const item of queue) (which(item) ? taken : kept).push(item);
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
    if (this.startable < threshold) return;
    await new Promise<void>((resolve) => this.capacityWaiters.push({ threshold, resolve }));
  }

  /** Resolves once nothing runs (waiting items are not started after drainWaiting). */
  async idle(): Promise<void> {
    if (this.held === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Starts what the gates and the global limit allow, most urgent first. */
  pump(): void {
    if (this.pumping) return; // a gate that calls back while we start tasks
    this.pumping = true;
    try {
      const refused = new Set<string>();
      for (let rank = 0; rank < RANKS && this.active < this.globalLimit; rank++) {
        for (const [key, lane] of this.lanes) {
          if (refused.has(key)) continue;
          const queue = lane.queues[rank];
          while (queue.length > 0 && this.active < this.globalLimit) {
            const ticket = this.gate.take(key);
            if (ticket === null) {
              refused.add(key);
              break;
            }
            this.start(key, lane, queue.shift()!, ticket);
          }
          if (this.active >= this.globalLimit) break;
        }
      }
      for (const key of refused) {
        const lane = this.lanes.get(key);
        if (lane && lane.queued > 0) this.gate.wants(key, lane.queued, lane.active);
      }
    } finally {
      this.pumping = false;
    }
    this.settle();
  }

  private start(key: string, lane: Lane<T>, item: T, ticket: Ticket): void {
    lane.queued--;
    this.queued--;
    lane.active++;
    this.active++;
    this.run(item, key).finally(() => {
      lane.active--;
      this.active--;
      if (lane.active === 0 && lane.queued === 0 && this.lanes.get(key) === lane) this.lanes.delete(key);
      this.gate.done(key, ticket);
      this.pump();
    });
  }

  /** Wakes whoever waits for capacity or for idleness. */
  private settle(): void {
    if (this.capacityWaiters.length > 0) {
      const startable = this.startable;
      const ready = this.capacityWaiters.filter((w) => startable < w.threshold);
      this.capacityWaiters = this.capacityWaiters.filter((w) => startable >= w.threshold);
      for (const w of ready) w.resolve();
    }
    if (this.held === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

function rankOf(item: Prioritised): number {
  return Math.min(RANKS - 1, Math.max(0, item.priority));
}
