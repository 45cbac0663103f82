import pg from 'pg';
import type { Logger } from '../logger.ts';
import { LIVE_CHANNEL, type LiveMessage, unpackMessages } from './messages.ts';

/** Shown in pg_stat_activity.application_name for the LISTEN connection (for operators and tests). */
export const LISTENER_APPLICATION_NAME = 'herald-live-listener';

export interface LiveListener {
  stop(): Promise<void>;
  /** Resolves once LISTEN is active (again). */
  ready(): Promise<void>;
  /** Whether LISTEN is active now. */
  listening(): boolean;
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
  return listenChannel({
    databaseUrl: options.databaseUrl,
    channel: LIVE_CHANNEL,
    applicationName: LISTENER_APPLICATION_NAME,
    logger: log,
    onNotification(payload) {
      if (options.wanted?.() === false) return;
      try {
        options.onMessages(unpackMessages(payload));
      } catch (err) {
        log.warn({ err }, 'bad live message');
      }
    },
  });
}

/**
 * Holds one connection that LISTENs on `channel`, re-established with backoff (250 ms doubling
 * to 5 s) when it drops; `onListening` runs after each (re)subscription, so the caller can catch
 * up on what it missed. The connection's 'error' listener stays for its whole life, closing
 * included: PostgreSQL may end a connection while it is being closed ("terminating connection due
 * to administrator command" when the server stops), and an 'error' nobody hears ends the process.
 */
export function listenChannel(options: {
  databaseUrl: string;
  channel: string;
  applicationName: string;
  logger: Logger;
  onNotification(payload: string): void;
  onListening?(): void;
}): LiveListener {
  const log = options.logger;
  const channel = /^[a-z_][a-z0-9_]*$/.test(options.channel) ? options.channel : `"${options.channel.replaceAll('"', '""')}"`;
  let client: pg.Client | null = null;
  let stopped = false;
  let retryMs = 250;
  let retryTimer: NodeJS.Timeout | null = null;
  const readyWaiters: (() => void)[] = [];
  let isReady = false;

  async function connect(): Promise<void> {
    retryTimer = null;
    if (stopped) return;
    const c = new pg.Client({ connectionString: options.databaseUrl, keepAlive: true, application_name: options.applicationName });
    c.on('notification', (n) => {
      if (n.channel === options.channel && n.payload) options.onNotification(n.payload);
    });
    c.on('error', (err) => {
      if (!stopped) log.warn({ err, channel: options.channel }, 'LISTEN connection failed');
      reconnect(c);
    });
    c.on('end', () => reconnect(c));
    try {
      await c.connect();
      await c.query(`listen ${channel}`);
      if (stopped) {
        await c.end().catch(() => {});
        return;
      }
      client = c;
      retryMs = 250;
      isReady = true;
      for (const resolve of readyWaiters.splice(0)) resolve();
      log.debug({ channel: options.channel }, 'listening');
      options.onListening?.();
    } catch (err) {
      if (stopped) return;
      log.warn({ err, retryMs, channel: options.channel }, 'could not LISTEN; retrying');
      await c.end().catch(() => {});
      schedule();
    }
  }

  function schedule(): void {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => void connect(), retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  }

  function reconnect(c: pg.Client): void {
    if (client !== c || stopped) return;
    client = null;
    isReady = false;
    c.end().catch(() => {});
    schedule();
  }

  void connect();
  return {
    listening: () => isReady,
    async ready() {
      if (isReady) return;
      await new Promise<void>((resolve) => readyWaiters.push(resolve));
    },
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
