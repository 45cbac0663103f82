import pg from 'pg';
import type { Logger } from '../logger.ts';
import { LIVE_CHANNEL, type LiveMessage, unpackMessages } from './messages.ts';

/** Shown in pg_stat_activity.application_name for the LISTEN connection (for operators and tests). */
export const LISTENER_APPLICATION_NAME = 'herald-live-listener';

export interface LiveListener {
  stop(): Promise<void>;
  /** Resolves once LISTEN is active (again). */
  ready(): Promise<void>;
}

/**
 * Holds one connection that LISTENs for live-status messages from every Herald process and
 * hands them to `onMessages`. A dropped connection is re-established with backoff.
 */
export function startLiveListener(options: {
  databaseUrl: string;
  logger: Logger;
  onMessages(messages: LiveMessage[]): void;
  /** When false, payloads are not even parsed (no subscriber in this process). */
  wanted?(): boolean;
}): LiveListener {
  const log = options.logger.child({ component: 'live-listener' });
  let client: pg.Client | null = null;
  let stopped = false;
  let retryMs = 250;
  const readyWaiters: (() => void)[] = [];
  let isReady = false;

  async function connect(): Promise<void> {
    if (stopped) return;
    const c = new pg.Client({ connectionString: options.databaseUrl, keepAlive: true, application_name: LISTENER_APPLICATION_NAME });
    c.on('notification', (n) => {
      if (n.channel !== LIVE_CHANNEL || !n.payload || options.wanted?.() === false) return;
      try {
        options.onMessages(unpackMessages(n.payload));
      } catch (err) {
        log.warn({ err }, 'bad live message');
      }
    });
    c.on('error', (err) => {
      log.warn({ err }, 'live connection failed');
      reconnect(c);
    });
    c.on('end', () => reconnect(c));
    try {
      await c.connect();
      await c.query(`listen ${LIVE_CHANNEL}`);
      client = c;
      retryMs = 250;
      isReady = true;
      for (const resolve of readyWaiters.splice(0)) resolve();
      log.debug('listening for live updates');
    } catch (err) {
      log.warn({ err, retryMs }, 'could not listen for live updates; retrying');
      await c.end().catch(() => {});
      setTimeout(() => void connect(), retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    }
  }

  function reconnect(c: pg.Client): void {
    if (client !== c || stopped) return;
    client = null;
    isReady = false;
    c.end().catch(() => {});
    setTimeout(() => void connect(), retryMs);
  }

  void connect();
  return {
    async ready() {
      if (isReady) return;
      await new Promise<void>((resolve) => readyWaiters.push(resolve));
    },
    async stop() {
      stopped = true;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
