import type { PgBoss } from 'pg-boss';
import type { Logger } from '../logger.ts';
import { attachSources, type DatabaseGauges, enableDefaultMetrics, type MetricSources } from '../metrics.ts';
import { type OpsHandler, opsEndpoints } from './endpoints.ts';
import { OpsDatabase } from './ops-database.ts';
import { READINESS_DB_TIMEOUT_MS, Readiness } from './readiness.ts';
import { type OpsServer, startOpsServer } from './server.ts';
import { readGauges } from './sql/read-gauges.ts';

/** The PostgreSQL gauges are read at most this often, however many scrapes come. */
export const GAUGES_MAX_AGE_MS = 5000;
const GAUGES_TIMEOUT_MS = 2000;

export interface Ops {
  readiness: Readiness;
  /** /healthz, /readyz and /metrics, for the API's HTTP server (answers false for other paths). */
  handler: OpsHandler;
  /** Readiness of a worker: pg-boss started, its work loop on `queue` active, and its LISTEN connection for job wake-ups up. */
  watchWorker(boss: PgBoss, queue: string, wakeUps: { listening(): boolean }): void;
  /** Readiness and metrics of the API: its LISTEN connection for live updates, its subscribers. */
  watchApi(api: { listening(): boolean; subscribers(): number }): void;
  /** Serves only the ops endpoints on their own port (a process without the API). */
  serve(host: string, port: number): Promise<OpsServer>;
  stop(): Promise<void>;
}

/** Readiness, metrics and their endpoints for one Herald process. */
export function createOps(options: {
  databaseUrl: string;
  logger: Logger;
  metricsToken: string | null;
  knownMigrations: readonly string[];
}): Ops {
  enableDefaultMetrics();
  const db = new OpsDatabase(options.databaseUrl, options.logger);
  const readiness = new Readiness({
    query: (text, params) => db.query(text, params, READINESS_DB_TIMEOUT_MS),
    knownMigrations: options.knownMigrations,
    logger: options.logger.child({ component: 'readiness' }),
  });
  let cached: { at: number; gauges: DatabaseGauges } | null = null;
  const sources: MetricSources = {
    async database() {
      if (cached && Date.now() - cached.at < GAUGES_MAX_AGE_MS) return cached.gauges;
      const gauges = await readGauges((text, params, settings) => db.query(text, params, GAUGES_TIMEOUT_MS, settings));
      cached = { at: Date.now(), gauges };
      return gauges;
    },
    ready: async () => (await readiness.check()).ready,
  };
  const detach = attachSources(sources);
  const handler = opsEndpoints({ readiness, metricsToken: options.metricsToken, logger: options.logger });
  return {
    readiness,
    handler,
    watchWorker(boss, queue, wakeUps) {
      let started = true;
      boss.on('stopped', () => {
        started = false;
      });
      readiness.addCheck('worker', () =>
        started && boss.getWipData().some((w) => w.name === queue && w.state === 'active')
          ? null
          : 'the delivery worker is not fetching jobs',
      );
      readiness.addCheck('queue', () => (wakeUps.listening() ? null : 'the LISTEN connection for job wake-ups is down'));
    },
    watchApi(api) {
      readiness.addCheck('live', () => (api.listening() ? null : 'the LISTEN connection for live updates is down'));
      sources.liveSubscribers = api.subscribers;
    },
    serve: (host, port) => startOpsServer({ host, port, handler, logger: options.logger }),
    async stop() {
      detach();
      await db.close();
    },
  };
}
