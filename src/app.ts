import { PgBoss } from 'pg-boss';
import type { Config, Role } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { initORM } from './db/orm.ts';
import { rawQuery } from './db/raw-query.ts';
import { createDeliveryQueue } from './delivery/queue.ts';
import { startDeliveryWorker } from './delivery/worker.ts';
import type { IWebhook, WebhookStatus } from './entities/Webhook.ts';
import { LiveBus } from './live/bus.ts';
import { CredentialWatch } from './live/credentials.ts';
import { startLiveListener } from './live/listener.ts';
import { notifyLive } from './live/messages.ts';
import type { Logger } from './logger.ts';
import { validCredentialIds } from './services/credentials.ts';
import { wakeParkedDeliveries } from './services/deliveries.ts';

export const PGBOSS_SCHEMA = 'pgboss';

export interface RunningHerald {
  role: Role;
  /** The GraphQL URL when this process serves the API. */
  url: string | null;
  adminKey: string;
  databaseUrl: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra CA certificates trusted for endpoints (NODE_EXTRA_CA_CERTS works too). */
  ca?: string | Buffer | (string | Buffer)[];
  /** A stop asked for while starting (a signal): ends the wait for the database. */
  signal?: AbortSignal;
}

/** Starts the roles asked for against the configured (or embedded) database. */
export async function startHerald(config: Readonly<Config>, logger: Logger, options: StartOptions = {}): Promise<RunningHerald> {
  const stack: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stack.splice(0).reverse()) await stop().catch((err) => logger.error({ err }, 'error while stopping'));
  };
  try {
    const db = await openDatabase(config, logger, options.signal);
    stack.push(() => db.stop());
    if (db.newAdminKey) printAdminKeyOnce(db.newAdminKey, config.dataDir);

    const orm = await initORM(db.url, { logger });
    stack.push(() => orm.close());
    const applied = await migrate(orm, db.url);
    if (applied.length) logger.info({ migrations: applied }, 'applied migrations');

    const boss = new PgBoss({ connectionString: db.url, schema: PGBOSS_SCHEMA, useListenNotify: true });
    boss.on('error', (err) => logger.error({ err }, 'pg-boss error'));
    await boss.start();
    stack.push(() => boss.stop({ graceful: true, timeout: 10_000 }));
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
      stack.push(() => worker.stop());
    }

    let url: string | null = null;
    if (config.role !== 'worker') {
      const live = new LiveBus();
      const credentials = new CredentialWatch({ valid: (ids) => validCredentialIds(orm.em.fork(), ids), logger });
      credentials.start();
      stack.push(async () => credentials.stop());
      const listener = startLiveListener({
        databaseUrl: db.url,
        logger,
        onMessages: (messages) => {
          credentials.receive(messages);
          live.publish(messages);
        },
        wanted: () => live.subscriberCount > 0 || credentials.watching > 0,
      });
      stack.push(() => listener.stop());
      await listener.ready();

      const onWebhookStatusChanged = async (webhook: IWebhook, from: WebhookStatus) => {
        const em = orm.em.fork();
        if (from === 'PAUSED' && webhook.status === 'ACTIVE' && !webhook.deletedAt) {
          const woken = await wakeParkedDeliveries(em, boss, webhook.id);
          if (woken) logger.info({ webhookId: webhook.id, count: woken }, 'resumed webhook: deliveries due now');
        }
        await notifyLive(
          (sql, params) => rawQuery(em, sql, params as unknown[]),
          [
            {
              kind: 'webhook',
              tenantId: webhook.tenant.id,
              webhookId: webhook.id,
              status: webhook.status,
              deleted: webhook.deletedAt != null,
            },
          ],
        );
      };
      // Loaded only where the API runs: it brings GraphiQL's inlined bundle (tens of MB of heap).
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
        onWebhookStatusChanged,
      });
      await server.start();
      stack.push(() => server.stop());
      url = server.url();
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
    stack.push(async () => clearInterval(memoryTimer));
    logger.info({ role: config.role, url }, 'Herald started');
    return { role: config.role, url, adminKey: db.adminKey, databaseUrl: db.url, stop: stopAll };
  } catch (error) {
    await stopAll();
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
