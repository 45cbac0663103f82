import type { LiveMessage } from './messages.ts';

export interface SubscribeOptions {
  /** Most messages a subscriber may have waiting; past it, `onOverflow` runs and the stream ends. */
  limit: number;
  onOverflow(): void;
}

/**
 * Fans live messages (from the LISTEN connection) out to GraphQL subscribers in this process.
 * Each subscriber has a bounded queue: a client too slow to read cannot grow the server's
 * memory; it is disconnected instead (see server.ts) and may reconnect and catch up from
 * the delivery log.
 */
export class LiveBus {
  private readonly listeners = new Set<(message: LiveMessage) => void>();

  publish(messages: readonly LiveMessage[]): void {
    for (const message of messages) for (const listener of this.listeners) listener(message);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  subscribe<T extends LiveMessage>(accept: (message: LiveMessage) => message is T, options: SubscribeOptions): AsyncIterableIterator<T> {
    const queue: T[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const finish = () => {
      done = true;
      queue.length = 0;
      this.listeners.delete(listener);
      wake?.();
    };
    const listener = (message: LiveMessage) => {
      if (done || !accept(message)) return;
      if (queue.length >= options.limit) {
        finish();
        options.onOverflow();
        return;
      }
      queue.push(message);
      wake?.();
    };
    this.listeners.add(listener);

    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next(): Promise<IteratorResult<T>> {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        return { value: undefined, done: true };
      },
      async return(): Promise<IteratorResult<T>> {
        finish();
        return { value: undefined, done: true };
      },
    };
  }
}
