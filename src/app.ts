import { PgBoss } from 'pg-boss';
import type { Config, Role } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { initORM } from './db/orm.ts';
import { createHeraldPubSub } from './graphql/pubsub.ts';
import type { Logger } from './logger.ts';
import { buildServer } from './server.ts';

export const PGBOSS_SCHEMA = 'pgboss';

export interface RunningHerald {
  role: Role;
  /** The GraphQL URL when this process serves the API. */
  url: string | null;
  adminKey: string;
  stop(): Promise<void>;
}

/** Starts the roles asked for against the configured (or embedded) database. */
export async function startHerald(config: Readonly<Config>, logger: Logger): Promise<RunningHerald> {
  const stack: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stack.reverse()) await stop().catch((err) => logger.error({ err }, 'error while stopping'));
  };
  try {
    const db = await openDatabase(config, logger);
    stack.push(db.stop);
    if (db.newAdminKey) printAdminKeyOnce(db.newAdminKey, config.dataDir);

    const orm = await initORM(db.url, { logger });
    stack.push(() => orm.close());
    const applied = await migrate(orm, db.url);
    if (applied.length) logger.info({ migrations: applied }, 'applied migrations');

    const boss = new PgBoss({ connectionString: db.url, schema: PGBOSS_SCHEMA, useListenNotify: true });
    boss.on('error', (err) => logger.error({ err }, 'pg-boss error'));
    await boss.start();
    stack.push(() => boss.stop({ graceful: true, timeout: 10_000 }));

    let url: string | null = null;
    if (config.role !== 'worker') {
      const pubsub = createHeraldPubSub();
      const server = buildServer({
        orm,
        config,
        adminKey: db.adminKey,
        encryptionKey: db.encryptionKey,
        logger,
        pubsub,
        onWebhookStatusChanged: async (webhook) => {
          pubsub.publish('webhookStatusChanged', {
            tenantId: webhook.tenant.id,
            webhookId: webhook.id,
            status: webhook.status,
            deleted: webhook.deletedAt != null,
          });
        },
      });
      await server.start();
      stack.push(() => server.stop());
      url = server.url();
    }
    logger.info({ role: config.role, url }, 'Herald started');
    return { role: config.role, url, adminKey: db.adminKey, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function printAdminKeyOnce(adminKey: string, dataDir: string): void {
  process.stdout.write(
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
