import type { LiveMessage } from './messages.ts';

export interface SubscribeOptions {
  /**
   * Most messages that may wait for a subscriber that has stopped reading (has not asked for
   * its next message for `stallMs`); past it, `onOverflow` runs and the stream ends.
   */
  limit: number;
  /**
   * Most messages that may wait for any subscriber, reading or not: the memory bound. A burst
   * (one publishEvents call fans out up to thousands of QUEUED messages at once) may exceed
   * `limit` for a subscriber that keeps reading, but never this. Default: 10 × `limit`.
   */
  hardLimit?: number;
  /** How long a subscriber may go without asking for a message before it counts as stopped. Default 2 000 ms. */
  stallMs?: number;
  onOverflow(): void;
}

const DEFAULT_STALL_MS = 2000;

/** A subscriber's stream. `takeQueued` also takes what is waiting now, without waiting, so a consumer can load rows in batches. */
export interface LiveSubscription<T> extends AsyncIterableIterator<T> {
  takeQueued(max: number): T[];
}

/**
 * Fans live messages (from the LISTEN connection) out to GraphQL subscribers in this process.
 * Each subscriber has a bounded queue: a client too slow to read cannot grow the server's
 * memory; it is disconnected instead (see server.ts) and may reconnect and catch up from
 * the delivery log.
 *
 * "Too slow" means: more than `limit` messages wait while the subscriber has stopped taking
 * them (its WebSocket does not drain), or more than `hardLimit` wait at all. A subscriber
 * that keeps reading rides out bursts larger than `limit`.
 */
export class LiveBus {
  private readonly listeners = new Set<(message: LiveMessage) => void>();

  publish(messages: readonly LiveMessage[]): void {
    for (const message of messages) for (const listener of this.listeners) listener(message);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  subscribe<T extends LiveMessage>(accept: (message: LiveMessage) => message is T, options: SubscribeOptions): LiveSubscription<T> {
    const hardLimit = options.hardLimit ?? options.limit * 10;
    const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
    const queue: T[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    /** When the subscriber last asked for a message; it is reading while it waits in next(). */
    let lastAsked = Date.now();
    let asking = false;
    let stallTimer: NodeJS.Timeout | null = null;

    const finish = () => {
      done = true;
      queue.length = 0;
      this.listeners.delete(listener);
      if (stallTimer) clearTimeout(stallTimer);
      stallTimer = null;
      wake?.();
    };
    const overflow = () => {
      if (done) return;
      finish();
      options.onOverflow();
    };
    const stalled = () => !asking && Date.now() - lastAsked >= stallMs;
    /** Over `limit`: drop the subscriber if it has stopped reading, now or once `stallMs` has passed without a read. */
    const checkStall = () => {
      if (done || queue.length <= options.limit) return;
      if (stalled()) return overflow();
      if (!stallTimer) {
        stallTimer = setTimeout(
          () => {
            stallTimer = null;
            checkStall();
          },
          Math.max(1, lastAsked + stallMs - Date.now()),
        );
        stallTimer.unref?.();
      }
    };
    const listener = (message: LiveMessage) => {
      if (done || !accept(message)) return;
      if (queue.length >= hardLimit) return overflow();
      queue.push(message);
      checkStall();
      wake?.();
    };
    this.listeners.add(listener);

    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next(): Promise<IteratorResult<T>> {
        lastAsked = Date.now();
        asking = true;
        try {
          while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
        } finally {
          asking = false;
          lastAsked = Date.now();
        }
        wake = null;
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        return { value: undefined, done: true };
      },
      takeQueued(max: number): T[] {
        lastAsked = Date.now();
        return queue.splice(0, max);
      },
      async return(): Promise<IteratorResult<T>> {
        finish();
        return { value: undefined, done: true };
      },
    };
  }
}
