#!/usr/bin/env node
// herald serve | migrate | tenant create <name> | api-key create --tenant <id>
import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig, ROLE_PROBLEM, ROLES } from './config.ts';
import type { MikroORM } from './db/orm.ts';
import type { Logger } from './logger.ts';
import { applyRuntimeV8Flags } from './node-flags.ts';

applyRuntimeV8Flags();

// Everything else is imported after the configuration is checked: loading the server, ORM
// and job modules takes seconds, and a bad environment value must stop the process at once.

const USAGE = `Usage:
  herald [serve] [--role all|api|worker] run the API and/or the delivery worker (default: all)
  herald migrate                         apply pending database migrations
  herald tenant create <name>            create a tenant; prints {"tenant":{…},"apiKey":"hrld_…"}
  herald api-key create --tenant <id> [--name <name>]
                                         create an API key; prints {"apiKey":{…},"secret":"hrld_…"}`;

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<typeof ARGS>>;
  try {
    parsed = parseArgs({ args: argv, ...ARGS });
  } catch (error) {
    // An unknown or malformed option: told like an unknown command. Node's own words for an
    // unknown one go on about positionals after '--' (and leave a quote open): its first sentence.
    const { code, message } = error as NodeJS.ErrnoException;
    if (!code?.startsWith('ERR_PARSE_ARGS')) throw error;
    const unknown = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '(.*?)'\. /.exec(message) : null;
    return usageError(unknown ? `unknown option ${JSON.stringify(unknown[1])}` : message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const command = parseCommand(positionals, values.tenant);
  if ('problem' in command) return usageError(command.problem);
  if (values.role !== undefined && !(ROLES as readonly string[]).includes(values.role)) {
    throw new ConfigError(`Invalid --role ${JSON.stringify(values.role)}: ${ROLE_PROBLEM}`);
  }
  const env = values.role ? { ...process.env, HERALD_ROLE: values.role } : process.env;
  config = loadConfig(env);

  if (command.kind === 'serve') return serve(config);
  // One-shot commands log only warnings, so their stdout stays machine-readable JSON.
  const { createLogger } = await import('./logger.ts');
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  switch (command.kind) {
    case 'migrate':
      return withDatabase(config, logger, async () => 0);
    case 'tenant create':
      return withDatabase(config, logger, async (orm) => {
        const { createTenant } = await import('./services/tenants.ts');
        const { tenant, apiKey } = await createTenant(orm.em.fork(), { name: command.name });
        console.log(JSON.stringify({ tenant: { id: tenant.id, name: tenant.name }, apiKey }));
        return 0;
      });
    case 'api-key create':
      return withDatabase(config, logger, async (orm) => {
        const { resolveTenantId } = await import('./services/caller.ts');
        const { createApiKey } = await import('./services/api-keys.ts');
        const em = orm.em.fork();
        const tenantId = await resolveTenantId(em, { kind: 'admin' }, command.tenant);
        const { apiKey, secret } = await createApiKey(em, tenantId, values.name ?? 'cli');
        console.log(JSON.stringify({ apiKey: { id: apiKey.id, tenantId, name: apiKey.name, prefix: apiKey.prefix }, secret }));
        return 0;
      });
  }
}

const ARGS = {
  allowPositionals: true,
  options: {
    role: { type: 'string' },
    tenant: { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

/** One of USAGE's commands, read from the positional arguments. */
type Command =
  | { kind: 'serve' }
  | { kind: 'migrate' }
  | { kind: 'tenant create'; name: string }
  | { kind: 'api-key create'; tenant: string }
  /** What is wrong with the command line, in one phrase (shown before the usage). */
  | { problem: string };

function parseCommand(positionals: string[], tenant: string | undefined): Command {
  const [command = 'serve', sub, ...rest] = positionals;
  if (command === 'serve' || command === 'migrate') {
    // `npm start -- serve` is `herald serve serve`: npm start runs serve already.
    return sub === undefined ? { kind: command } : { problem: `${command} takes options only, not ${JSON.stringify(sub)}` };
  }
  if (command === 'tenant' && sub === 'create') {
    if (rest.length > 1) return { problem: 'tenant create takes one name (quote a name with spaces)' };
    return rest[0]?.trim() ? { kind: 'tenant create', name: rest[0] } : { problem: 'tenant create needs a name' };
  }
  if (command === 'api-key' && sub === 'create') {
    if (rest.length > 0) return { problem: `api-key create takes options only, not ${JSON.stringify(rest.join(' '))}` };
    return tenant ? { kind: 'api-key create', tenant } : { problem: 'api-key create needs --tenant <id>' };
  }
  if ((command === 'tenant' || command === 'api-key') && sub === undefined) return { problem: `${command} needs a command: create` };
  return { problem: `unknown command ${JSON.stringify(positionals.join(' '))}` };
}

/** A command line Herald does not take: one line saying why, then the usage; exit status 2. */
function usageError(problem: string): number {
  console.error(`herald: ${problem}\n${USAGE}`);
  return 2;
}

async function serve(config: Readonly<Config>): Promise<number> {
  const { createLogger } = await import('./logger.ts');
  const { startHerald } = await import('./app.ts');
  const logger = createLogger(config.logLevel);
  // Listened for from the start: a signal while Herald starts (waiting for its database, say)
  // ends the wait, and what has started is stopped in order rather than killed.
  const stopRequested = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested.signal.aborted) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopRequested.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const herald = await startHerald(config, logger, { signal: stopRequested.signal });
  if (!stopRequested.signal.aborted) await new Promise((resolve) => stopRequested.signal.addEventListener('abort', resolve));
  logger.info({ signal: stopRequested.signal.reason, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
  const stopped = Date.now();
  // SIGTERM (orchestrators, process managers): out of the load balancer first, then stop. Ctrl-C
  // at a terminal stops at once.
  const outcome = await herald.stop({ drain: stopRequested.signal.reason === 'SIGTERM' });
  if (outcome.leftLeased > 0) {
    console.error(
      `herald: stopped, but ${outcome.leftLeased} ${outcome.leftLeased === 1 ? 'delivery was' : 'deliveries were'} neither recorded nor released ` +
        `(the database could not be reached): they stay leased until HERALD_LEASE (${config.leaseMs / 1000} s) lapses, then are sent again.`,
    );
    return 1;
  }
  logger.info({ ms: Date.now() - stopped, overran: outcome.overran }, 'stopped');
  return 0;
}

async function withDatabase(config: Readonly<Config>, logger: Logger, run: (orm: MikroORM) => Promise<number>): Promise<number> {
  const { openDatabase } = await import('./db/database.ts');
  const { initORM } = await import('./db/orm.ts');
  const { migrate } = await import('./db/migrate.ts');
  const db = await openDatabase(config, logger);
  // `serve` prints a newly generated admin key; a one-shot command run first must too, or the
  // key would sit unseen in the data dir. stderr, so stdout stays one line of JSON.
  if (db.newAdminKey) {
    console.error(`herald: generated an admin key, kept in ${config.dataDir}/keys.json: HERALD_ADMIN_KEY=${db.newAdminKey}`);
  }
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

/**
 * One line for a failed start: the cause and the way out. Herald's own failures say so already
 * (StartupError); the rest are told apart here by what failed: the listening socket, the database.
 */
async function explain(error: unknown, config: Readonly<Config> | null): Promise<string> {
  const { HeraldError, StartupError, isDatabaseUnavailable } = await import('./core/errors.ts');
  // A HeraldError (NOT_FOUND, VALIDATION_ERROR…) is the answer to what was asked, said as the API says it.
  if (error instanceof StartupError || error instanceof HeraldError) return error.message;
  const { HostLookupError } = await import('./ops/http-port.ts');
  if (error instanceof HostLookupError) {
    // EAI_AGAIN and the like (ENOTFOUND is a bad setting, see badHost): the resolver failed this
    // time, the name may be right.
    return `cannot resolve HOST=${JSON.stringify(error.host)}: ${error.code}. Check the resolver, or set HOST to an IP address.`;
  }
  const e = (error ?? {}) as NodeJS.ErrnoException;
  if (config && e.syscall === 'listen') {
    const at = `${config.host}:${config.port} (HOST, PORT)`;
    if (e.code === 'EADDRINUSE')
      return `cannot listen on ${at}: another program (another Herald?) listens there. Stop it, or choose another PORT.`;
    if (e.code === 'EACCES')
      return `cannot listen on ${at}: permission denied (ports below 1024 need privileges). Choose a PORT above 1023.`;
    if (e.code === 'EADDRNOTAVAIL')
      return `cannot listen on ${at}: ${config.host} is not an address of this machine. Fix HOST (0.0.0.0 listens on all).`;
  }
  const sqlState = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code);
  if (config && (sqlState || isDatabaseUnavailable(error))) {
    const { databaseTarget, describeDatabaseFailure } = await import('./db/connect.ts');
    const target = config.databaseUrl
      ? databaseTarget(config.databaseUrl, 'DATABASE_URL')
      : {
          ...databaseTarget('postgres://127.0.0.1/herald', 'HERALD_DATA_DIR'),
          label: `the embedded PostgreSQL (HERALD_DATA_DIR=${config.dataDir})`,
        };
    return describeDatabaseFailure(error, target);
  }
  const what = e.message || e.code || (error instanceof Error ? error.name : String(error));
  return `${what} (unexpected: LOG_LEVEL=debug shows where it came from).`;
}

/**
 * A HOST that is no IP address and resolves to nothing (HOST=300.1.1.1, a misspelt name) is a
 * bad setting, told as loadConfig tells one; it shows only when a port is bound on it (the API's,
 * or a worker's ops port), which is where a HostLookupError comes from.
 */
async function badHost(error: unknown): Promise<ConfigError | null> {
  const { HostLookupError } = await import('./ops/http-port.ts');
  if (!(error instanceof HostLookupError) || error.code !== 'ENOTFOUND') return null;
  return new ConfigError(
    `Invalid HOST=${JSON.stringify(error.host)}: not an IP address, and no host name resolves to it (getaddrinfo ENOTFOUND). ` +
      'Set HOST to an address of this machine (127.0.0.1: this machine only; 0.0.0.0: all interfaces) or a name that resolves to one.',
  );
}

let config: Readonly<Config> | null = null;
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (thrown: unknown) => {
    const error = (await badHost(thrown)) ?? thrown;
    if (error instanceof ConfigError) {
      console.error(`herald: ${error.message}`);
      process.exit(78); // EX_CONFIG
    }
    console.error(`herald: ${await explain(error, config)}`);
    if (config?.logLevel === 'debug' || config?.logLevel === 'trace') console.error(error);
    process.exit(1);
  },
);
