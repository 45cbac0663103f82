import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgBoss } from 'pg-boss';
import type { Config, Role } from './config.ts';
import { openDatabase } from './db/database.ts';
import { knownMigrations, migrate } from './db/migrate.ts';
import { initORM } from './db/orm.ts';
import { startDeliveryWorker } from './delivery/worker.ts';
import { listenThroughHerald } from './jobs/pg-boss-db.ts';
import { createDeliveryQueue, DELIVERY_QUEUE } from './jobs/queue.ts';
import { LiveBus } from './live/bus.ts';
import { CredentialWatch } from './live/credentials.ts';
import { startLiveListener } from './live/listener.ts';
import type { Logger } from './logger.ts';
import { bindHttpPort, type HttpPort } from './ops/http-port.ts';
import { createOps } from './ops/ops.ts';
import { validCredentialIds } from './services/credentials.ts';
import { checkEncryptionKey } from './services/encryption-key.ts';
import { checkDefaultProfile } from './services/profiles.ts';
import { Shutdown, type StopOutcome } from './shutdown.ts';

export const PGBOSS_SCHEMA = 'pgboss';

export interface RunningHerald {
  role: Role;
  /** The GraphQL URL when this process serves the API. */
  url: string | null;
  /** Where /healthz, /readyz and /metrics are served: the API's origin, or a worker's own port. */
  opsUrl: string;
  adminKey: string;
  databaseUrl: string;
  /**
   * Stops every part in the order of STOP_STEPS, within HERALD_SHUTDOWN_TIMEOUT whatever the
   * database does. /readyz answers 503 from the start; with `drain` (SIGTERM), a process that
   * serves the API first keeps serving for HERALD_SHUTDOWN_DRAIN, so load balancers take it out
   * of rotation before its port closes.
   */
  stop(options?: { drain?: boolean }): Promise<StopOutcome>;
}

export interface StartOptions {
  /** Extra CA certificates trusted for endpoints (NODE_EXTRA_CA_CERTS works too). */
  ca?: string | Buffer | (string | Buffer)[];
  /** A stop asked for while starting (a signal): ends the wait for the database. */
  signal?: AbortSignal;
}

/** Starts the roles asked for against the configured (or embedded) database. */
export async function startHerald(config: Readonly<Config>, logger: Logger, options: StartOptions = {}): Promise<RunningHerald> {
  const shutdown = new Shutdown(logger);
  let drainOnStop = false;
  const stop = (stopOptions: { drain?: boolean } = {}) => {
    drainOnStop = stopOptions.drain ?? false;
    return shutdown.run(config.shutdownTimeoutMs);
  };
  let url: string | null = null;
  let opsUrl = '';
  try {
    // The API's port first: one another program holds ends the start before anything else runs.
    let apiPort: HttpPort | null = null;
    if (config.role !== 'worker') {
      const port = await bindHttpPort(config.host, config.port);
      apiPort = port;
      shutdown.add('api', () => port.close());
    }
    const db = await openDatabase(config, logger, options.signal);
    if (db.embedded) shutdown.add('database', (deadline) => db.stop(deadline));
    if (db.newAdminKey) printAdminKeyOnce(db.newAdminKey, config.dataDir);

    const ops = createOps({ databaseUrl: db.url, logger, metricsToken: config.metricsToken, knownMigrations: knownMigrations() });
    shutdown.add('ops', () => ops.stop());
    if (apiPort) {
      apiPort.ops = ops.handler;
      // Until the API serves (watchApi replaces this check), requests get 503: not ready either.
      ops.readiness.addCheck('live', () => 'the API is starting');
    }
    shutdown.add('drain', async (deadline) => {
      ops.readiness.startDrain();
      if (!drainOnStop || url === null || config.shutdownDrainMs === 0) return;
      // Out of HERALD_SHUTDOWN_TIMEOUT; loadConfig refuses a drain over half of it, so that the
      // worker keeps the rest. Bounded by the deadline all the same.
      const drainMs = Math.max(0, Math.min(config.shutdownDrainMs, deadline - Date.now()));
      logger.info({ drainMs }, 'draining: /readyz answers 503 while the API keeps serving');
      await sleep(drainMs);
    });
    if (config.role === 'worker') {
      // Up before migrations and pg-boss, so an orchestrator sees a live process that is not ready yet.
      const opsServer = await ops.serve(config.host, config.opsPort ?? config.port);
      shutdown.add('ops', () => opsServer.stop());
      opsUrl = opsServer.url;
    }

    const orm = await initORM(db.url, { logger });
    shutdown.add('orm', () => orm.close());
    const applied = await migrate(orm, db.url);
    if (applied.length) logger.info({ migrations: applied }, 'applied migrations');
    await checkDefaultProfile(orm.em.fork(), config.defaultProfile);
    await checkEncryptionKey(
      orm.em.fork(),
      db.encryptionKey,
      config.encryptionKey ? 'HERALD_ENCRYPTION_KEY' : `encryption key in ${path.join(config.dataDir, 'keys.json')} (HERALD_DATA_DIR)`,
    );

    const boss = new PgBoss({ connectionString: db.url, schema: PGBOSS_SCHEMA, useListenNotify: true });
    boss.on('error', (err) => {
      // Connections Herald closes itself while stopping end in errors (57P01 when PostgreSQL
      // ends them first): expected, so one short line at debug, not an error with a stack.
      if (shutdown.running) logger.debug({ error: err.message }, 'pg-boss connection ended while stopping');
      else logger.error({ err }, 'pg-boss error');
    });
    const jobsListener = listenThroughHerald(boss, db.url, logger);
    await boss.start();
    shutdown.add('jobs', (deadline) => boss.stop({ graceful: true, timeout: Math.max(1000, deadline - Date.now()) }));
    await createDeliveryQueue(boss);

    if (config.role !== 'api') {
      const worker = await startDeliveryWorker({
        databaseUrl: db.url,
        boss,
        config,
        encryptionKey: db.encryptionKey,
        logger,
        ca: options.ca,
      });
      shutdown.add('worker', (deadline) => worker.stop(deadline));
      ops.watchWorker(boss, DELIVERY_QUEUE, jobsListener);
    }

    if (apiPort) {
      const live = new LiveBus();
      const credentials = new CredentialWatch({ valid: (ids) => validCredentialIds(orm.em.fork(), ids), logger });
      credentials.start();
      shutdown.add('live', async () => credentials.stop());
      const listener = startLiveListener({
        databaseUrl: db.url,
        logger,
        onMessages: (messages) => {
          credentials.receive(messages);
          live.publish(messages);
        },
        wanted: () => live.subscriberCount > 0 || credentials.watching > 0,
      });
      shutdown.add('live', () => listener.stop());
      await listener.ready();

      // Loaded only where the API runs (yoga, the schema, the portal: several MB of heap).
      const { buildServer } = await import('./server.ts');
      const server = buildServer({
        orm,
        config,
        adminKey: db.adminKey,
        encryptionKey: db.encryptionKey,
        logger,
        live,
        credentials,
        boss,
        ops: ops.handler,
        port: apiPort,
      });
      await server.start();
      shutdown.add('api', () => server.stop());
      ops.watchApi({ listening: () => listener.listening(), subscribers: () => live.subscriberCount });
      url = server.url();
      opsUrl = new URL(url).origin;
    }
    // Memory figures for operators (debug level), e.g. to size a container.
    const memoryTimer = setInterval(() => {
      const m = process.memoryUsage();
      logger.debug(
        {
          rssMb: mb(m.rss),
          heapUsedMb: mb(m.heapUsed),
          heapTotalMb: mb(m.heapTotal),
          externalMb: mb(m.external),
          arrayBuffersMb: mb(m.arrayBuffers),
        },
        'memory',
      );
    }, 5000);
    memoryTimer.unref();
    shutdown.add('timers', async () => clearInterval(memoryTimer));
    logger.info({ role: config.role, url, opsUrl }, 'Herald started');
    return { role: config.role, url, opsUrl, adminKey: db.adminKey, databaseUrl: db.url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

export function printAdminKeyOnce(adminKey: string, dataDir: string, stream: NodeJS.WritableStream = process.stdout): void {
  stream.write(
    [
      '',
      '  Herald generated an admin key. It is shown this once; it is kept in',
      `  ${dataDir}/keys.json and used on every start until HERALD_ADMIN_KEY is set.`,
      '',
      `    HERALD_ADMIN_KEY=${adminKey}`,
      '',
      '',
    ].join('\n'),
  );
}
