import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { isDatabaseUnavailable, StartupError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';

/** Where a database URL points, in words an operator can act on: never the password. */
export interface DatabaseTarget {
  /** How messages name it, with the setting that points there: "the database at db:5432 (DATABASE_URL)". */
  label: string;
  /** `host:port`. */
  address: string;
  host: string;
  database: string;
  user: string;
  /** The setting that points there, e.g. `DATABASE_URL`. */
  setting: string;
}

/** What `url` (a postgres:// URL) points at, named after `setting`; throws on a URL that does not parse. */
export function databaseTarget(url: string, setting: string): DatabaseTarget {
  const parsed = new URL(url);
  const host = parsed.searchParams.get('host') ?? (parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost');
  const port = parsed.port || '5432';
  const address = host.startsWith('/') ? `${host} (Unix socket, port ${port})` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    label: `the database at ${address} (${setting})`,
    address,
    host,
    database: decodeURIComponent(parsed.pathname.slice(1)) || decodeURIComponent(parsed.username) || 'postgres',
    user: decodeURIComponent(parsed.username) || 'postgres',
    setting,
  };
}

/** Network errors that a database coming up (compose, Kubernetes) or a DNS entry appearing can cure. */
const TRANSIENT_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', '57P03', '53300']);

/** Whether trying again later may succeed (as opposed to a wrong password or database name). */
export function isTransientConnectError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (typeof code === 'string' && TRANSIENT_CODES.has(code)) || isDatabaseUnavailable(error);
}

/**
 * One line saying that it is the database, where the setting points and what to check, for a
 * failed connection. `waitedMs` is how long Herald kept trying (HERALD_DB_WAIT), if it did.
 */
export function describeDatabaseFailure(error: unknown, target: DatabaseTarget, waitedMs = 0): string {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  const at = target.label;
  const waited = waitedMs > 0 ? ` (tried for ${formatSeconds(waitedMs)}; HERALD_DB_WAIT sets how long)` : '';
  switch (code) {
    case 'ECONNREFUSED':
      return `cannot connect to ${at}: connection refused${waited}. Check that PostgreSQL is running there and listens on that address and port.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to ${at}: the host name ${target.host} does not resolve${waited}. Check the host in ${target.setting} and this machine's DNS.`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot connect to ${at}: no route to that host${waited}. Check the address in ${target.setting} and the network between here and there.`;
    case '28P01':
    case '28000':
      return `${at} refused user "${target.user}": ${message}. Check the user and password in ${target.setting} (and pg_hba.conf on the server).`;
    case '3D000':
      return `${at} has no database "${target.database}". Create it (createdb ${target.database}) or fix the database name in ${target.setting}.`;
    case '57P03':
      return `${at} was still starting up${waited}. Check the server's log, or let Herald wait longer with HERALD_DB_WAIT.`;
    case '53300':
      return `${at} has no free connections${waited}: ${message}. Raise max_connections there or stop other clients.`;
  }
  if (isDatabaseUnavailable(error)) {
    return `cannot connect to ${at}: ${message || code}${waited}. Check that PostgreSQL is running there and reachable from this host.`;
  }
  return `cannot use ${at}: ${message || code || String(error)}. Check ${target.setting} and the server's log.`;
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * Waits until the database at `url` accepts a connection, for up to `waitMs`: with compose or
 * Kubernetes Herald may start before its PostgreSQL. Errors that waiting cannot cure (a wrong
 * password, a missing database) fail at once. Throws a StartupError with one clear line.
 */
export async function waitForDatabase(
  url: string,
  options: { waitMs: number; setting: string; logger: Logger; signal?: AbortSignal },
): Promise<void> {
  const target = databaseTarget(url, options.setting);
  const started = Date.now();
  let delayMs = 250;
  let announced = false;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    // A connection the server drops after accepting it emits 'error'; the query below rejects anyway.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      if (announced) options.logger.info({ database: target.address, waitedMs: Date.now() - started }, 'database is up');
      return;
    } catch (error) {
      const waited = Date.now() - started;
      if (!isTransientConnectError(error) || waited + delayMs > options.waitMs) {
        throw new StartupError(describeDatabaseFailure(error, target, isTransientConnectError(error) ? waited : 0), { cause: error });
      }
      if (!announced) {
        announced = true;
        options.logger.info(
          { database: target.address, error: (error as Error).message, waitMs: options.waitMs },
          `waiting for the database (${options.setting})`,
        );
      }
    } finally {
      await client.end().catch(() => {});
    }
    await sleep(delayMs, undefined, { signal: options.signal }).catch(() => {});
    if (options.signal?.aborted) {
      throw new StartupError(`stopped (${options.signal.reason}) while waiting for ${target.label}; nothing was started.`);
    }
    delayMs = Math.min(delayMs * 2, 2000);
  }
}
