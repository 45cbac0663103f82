#!/usr/bin/env node
// herald serve | migrate | tenant create <name> | api-key create --tenant <id>
import { parseArgs } from 'node:util';
import { startHerald } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { initORM } from './db/orm.ts';
import { createLogger, type Logger } from './logger.ts';
import { createApiKey } from './services/api-keys.ts';
import { resolveTenantId } from './services/caller.ts';
import { createTenant } from './services/tenants.ts';

const USAGE = `Usage:
  herald serve [--role all|api|worker]   run the API and/or the delivery worker (default: all)
  herald migrate                         apply pending database migrations
  herald tenant create <name>            create a tenant; prints {"tenant":{…},"apiKey":"hrld_…"}
  herald api-key create --tenant <id> [--name <name>]
                                         create an API key; prints {"apiKey":{…},"secret":"hrld_…"}`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      role: { type: 'string' },
      tenant: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command = 'serve', sub, arg] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const env = values.role ? { ...process.env, HERALD_ROLE: values.role } : process.env;
  const config = loadConfig(env);

  if (command === 'serve') return serve(config);
  // One-shot commands log only warnings, so their stdout stays machine-readable JSON.
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  if (command === 'migrate') {
    return withDatabase(config, logger, async () => 0);
  }
  if (command === 'tenant' && sub === 'create' && arg) {
    return withDatabase(config, logger, async (orm) => {
      const { tenant, apiKey } = await createTenant(orm.em.fork(), arg);
      console.log(JSON.stringify({ tenant: { id: tenant.id, name: tenant.name }, apiKey }));
      return 0;
    });
  }
  if (command === 'api-key' && sub === 'create' && values.tenant) {
    return withDatabase(config, logger, async (orm) => {
      const em = orm.em.fork();
      const tenantId = await resolveTenantId(em, { kind: 'admin' }, values.tenant);
      const { apiKey, secret } = await createApiKey(em, tenantId, values.name ?? 'cli');
      console.log(JSON.stringify({ apiKey: { id: apiKey.id, tenantId, name: apiKey.name, prefix: apiKey.prefix }, secret }));
      return 0;
    });
  }
  console.error(USAGE);
  return 2;
}

async function serve(config: Readonly<Config>): Promise<number> {
  const logger = createLogger(config.logLevel);
  const herald = await startHerald(config, logger);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      herald.stop().then(resolve, (err) => {
        logger.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  });
  logger.info('stopped');
  return 0;
}

async function withDatabase(
  config: Readonly<Config>,
  logger: Logger,
  run: (orm: Awaited<ReturnType<typeof initORM>>) => Promise<number>,
): Promise<number> {
  const db = await openDatabase(config, logger);
  try {
    const orm = await initORM(db.url, { logger, poolSize: 2 });
    try {
      const applied = await migrate(orm, db.url);
      if (applied.length) console.error(`applied migrations: ${applied.join(', ')}`);
      return await run(orm);
    } finally {
      await orm.close();
    }
  } finally {
    await db.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`herald: ${error.message}`);
      process.exit(78); // EX_CONFIG
    }
    console.error(`herald: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
