// Stage 6 of the worker (worker.ts): notify, once a recorded batch has committed.
import type { Throttle } from '../core/throttle.ts';
import { type LiveMessage, notifyLive } from '../live/messages.ts';
import type { Logger } from '../logger.ts';

/** A query function on the recorder's connection. */
export type Query = (sql: string, params: unknown[]) => Promise<unknown>;

/** What a recorded batch changed, handed over once it has committed. */
export interface Committed {
  /** Live messages: the batch's phases, and the ATTEMPT_STARTED announced since the last batch. */
  messages: LiveMessage[];
  /** When the wake-up jobs of the retries it scheduled start. */
  wakeAt: Date[];
  /** The deliveries it recorded: their leases are cleared. */
  deliveryIds: string[];
  /** Deliveries it made due now (the next of their ordering key): this worker may take them at once. */
  ready: string[];
  /** The throttles it wrote, and when. */
  throttles: { webhookId: string; throttle: Throttle | null; writtenAt: number }[];
}

/**
 * Tells the world what a committed batch changed: NOTIFY for live subscribers (a failure is
 * logged, never thrown: the rows are written), this worker woken when its retries come due, the
 * recorded deliveries' leases no longer renewed, the deliveries it made due taken at once (their
 * wake-up jobs were queued too, in case), and flow control told which throttles are now shared.
 */
export async function notify(
  committed: Committed,
  query: Query,
  deps: {
    logger: Logger;
    wakeTimers: WakeTimers;
    recorded(ids: string[]): void;
    claimNow(ids: string[]): void;
    throttled(webhookId: string, throttle: Throttle | null, writtenAt: number): void;
  },
): Promise<void> {
  await notifyLive(query, committed.messages).catch((err) =>
    deps.logger.warn({ err, count: committed.messages.length }, 'live status updates not sent'),
  );
  for (const at of committed.wakeAt) deps.wakeTimers.at(at);
  deps.recorded(committed.deliveryIds);
  for (const t of committed.throttles) deps.throttled(t.webhookId, t.throttle, t.writtenAt);
  if (committed.ready.length > 0) deps.claimNow(committed.ready);
}

/**
 * pg-boss NOTIFY wakes workers for new jobs only; a delayed retry would wait for the backstop
 * poll. This wakes the worker when each retry it scheduled is due. Every pending time is kept
 * (not only the earliest), so a later retry is not left to the poll.
 */
export class WakeTimers {
  private readonly times: number[] = []; // ascending, unique
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly wake: () => void;

  constructor(wake: () => void) {
    this.wake = wake;
  }

  at(when: Date): void {
    if (this.stopped) return;
    const time = when.getTime();
    let i = 0;
    for (let hi = this.times.length; i < hi; ) {
      const mid = (i + hi) >>> 1;
      if (this.times[mid] < time) i = mid + 1;
      else hi = mid;
    }
    if (this.times[i] === time) return;
    this.times.splice(i, 0, time);
    if (i === 0) this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.times.length === 0 || this.stopped) return;
    // Waking any earlier than the job's start would find no job to fetch; 5 ms past it does.
    this.timer = setTimeout(
      () => {
        this.timer = null;
        const now = Date.now();
        while (this.times.length > 0 && this.times[0] <= now) this.times.shift();
        if (!this.stopped) this.wake();
        this.arm();
      },
      Math.max(0, this.times[0] - Date.now()) + 5,
    );
  }
}
