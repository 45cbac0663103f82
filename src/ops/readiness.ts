import type { Logger } from '../logger.ts';
import { OpsQueryTimeout } from './ops-database.ts';
import { type DatabaseReadiness, type OpsQuery, readReadiness } from './sql/read-readiness.ts';

/** How long /readyz waits for PostgreSQL before it answers "not ready" (the whole answer stays within about 1 s). */
export const READINESS_DB_TIMEOUT_MS = 900;

/** A check's verdict: null when fine, else why not (shown to operators). */
export type CheckResult = string | null;

export interface ReadinessReport {
  ready: boolean;
  /** Every check by name: "ok", or why it is not. */
  checks: Record<string, string>;
}

export interface ReadinessOptions {
  query: OpsQuery;
  /** Migrations this code knows of; one of them not applied makes the process not ready. */
  knownMigrations: readonly string[];
  /** Told when the process becomes ready or stops being ready, with the database's error in full. */
  logger: Logger;
}

/**
 * Whether this process should get work: PostgreSQL answers, no migration this code knows of is
 * pending (a newer schema than the code is fine, as in a rolling deploy), the role's loops run,
 * and no shutdown has begun. Concurrent callers share one check; it answers within about 1 s
 * whatever the database does.
 */
export class Readiness {
  private readonly loops = new Map<string, () => CheckResult>();
  private inFlight: Promise<ReadinessReport> | null = null;
  private drainingSince: number | null = null;
  private wasReady: boolean | null = null;
  private readonly options: ReadinessOptions;

  constructor(options: ReadinessOptions) {
    this.options = options;
  }

  /** Adds an in-process check of one of the role's loops (e.g. the API server, the worker). */
  addCheck(name: string, check: () => CheckResult): void {
    this.loops.set(name, check);
  }

  /** From now on the process is not ready: it is shutting down. */
  startDrain(): void {
    this.drainingSince ??= Date.now();
  }

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  check(): Promise<ReadinessReport> {
    this.inFlight ??= this.run().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async run(): Promise<ReadinessReport> {
    const checks: Record<string, CheckResult> = {};
    if (this.draining) checks.shutdown = 'shutting down';
    let db: DatabaseReadiness | null = null;
    let dbError: unknown = null;
    try {
      db = await readReadiness(this.options.query);
      checks.database = null;
    } catch (err) {
      dbError = err;
      checks.database = describeDatabaseError(err);
    }
    if (db) {
      const applied = new Set(db.applied);
      const pending = this.options.knownMigrations.filter((name) => !applied.has(name));
      checks.migrations = pending.length === 0 ? null : `${pending.length} pending: ${pending.join(', ')}`;
    } else {
      checks.migrations = 'unknown: the database did not answer';
    }
    for (const [name, check] of this.loops) {
      try {
        checks[name] = check();
      } catch (err) {
        checks[name] = (err as Error).message;
      }
    }
    const ready = Object.values(checks).every((v) => v === null);
    const report = { ready, checks: Object.fromEntries(Object.entries(checks).map(([name, v]) => [name, v ?? 'ok'])) };
    if (ready !== this.wasReady && !this.draining) {
      if (ready) this.options.logger.info('ready');
      else this.options.logger.warn({ checks: report.checks, err: dbError ?? undefined }, 'not ready');
    }
    this.wasReady = ready;
    return report;
  }
}

/**
 * What /readyz says about a failed database check. /readyz needs no key and may face the
 * internet behind a load balancer: a network error's message names the database's address,
 * so only its code is shown (the log has it whole).
 */
function describeDatabaseError(err: unknown): string {
  if (err instanceof OpsQueryTimeout) return err.message;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `unreachable (${code})`;
  // PostgreSQL's own errors (e.g. "the database system is starting up") name no address.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return String(message);
  return 'unreachable';
}
