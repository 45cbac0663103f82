// npm run bench — Herald's throughput, latency and isolation on this machine, next to the bare
// HTTP ceiling and a bare pg-boss peer, against the same receiver. Not part of `npm test`.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { request } from 'undici';
import { type EmbeddedDatabase, parentPid, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { relocatedClusterRoot } from '../../src/db/postgres-placement.ts';
import { createLogger } from '../../src/logger.ts';
import { NODE_FLAGS } from '../../src/node-flags.ts';
import { cpuSeconds, freePort } from '../helpers/process.ts';
import { PEER_QUEUE, PEER_SCHEMA, type PeerJob } from './peer.ts';
import { type BenchReceiver, type DeliveryProfileFile, latencySummary, signatureVerifier, startBenchReceiver } from './receiver.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = path.join(ROOT, 'node_modules/.bin/node');

const { values: opts } = parseArgs({
  options: {
    events: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '300' },
    fanout: { type: 'string', default: '10' },
    webhooks: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '200' },
    batch: { type: 'string', default: '250' },
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
    scenarios: { type: 'string', default: '1,2,3,4,5' },
    'log-level': { type: 'string', default: 'info' },
    /** `all`: one `herald serve` process; `split`: one `--role api` process and `--workers` `--role worker` processes. */
    herald: { type: 'string', default: 'split' },
    /**
     * Worker processes with `--herald split` (default 1). A list (`1,2,3`) runs the throughput
     * scenario once per count, each on a fresh Herald and database: the scaling curve. With a list
     * or `--rounds`, scenarios 5 and 4 run after each of Herald's runs, the peer and the ceiling as
     * that many processes: the same curve for code whose processes share a pg-boss queue, or nothing.
     */
    workers: { type: 'string', default: '1' },
    /**
     * Runs the `--workers` list this many times, alternating (1, 2, 3, 1, 2, 3, …), and reports
     * each count's median and each step's ratio round by round: on a noisy machine one run of the
     * curve cannot tell a fall from the spread between runs.
     */
    rounds: { type: 'string', default: '1' },
    /**
     * The setup a user runs outside the benchmark: one `npm start` process (`--herald all`) on a
     * PostgreSQL with default settings (no 30 s checkpoint), 10 tenants × 10 webhooks subscribed
     * to `*`, `--events` events published in batches of 500 by one publisher (scenario 6), next
     * to the peer (5) on the same server.
     */
    outside: { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(ROOT, 'test/bench/results.json') },
    /** Log PostgreSQL's lock waits over 40 ms, statements over 80 ms and autovacuum runs (embedded PostgreSQL only). */
    'pg-log': { type: 'boolean', default: false },
    /** Print the SQL statements Herald ran per scenario (pg_stat_statements; embedded PostgreSQL only). */
    'sql-stats': { type: 'boolean', default: false },
    /** Node.js options for Herald's processes besides NODE_FLAGS, e.g. "--max-semi-space-size=32" (a later one wins). */
    'node-args': { type: 'string', default: '' },
    /** Write a V8 CPU profile of each Herald process into this directory (written when it stops). */
    profile: { type: 'string' },
    /** Scrape /metrics of every Herald process every second, as Prometheus would, throughout the run. */
    scrape: { type: 'boolean', default: false },
    /**
     * A delivery profile file ({ name, description, definition }, as in examples/profiles/): stored
     * with upsertDeliveryProfile and made the profile of every tenant of Herald's scenarios.
     */
    'delivery-profile': { type: 'string' },
    /** Flow control of every webhook of Herald's scenarios: `false` turns adaptive throttling off. */
    'adaptive-throttling': { type: 'string', default: 'true' },
    /** `keyed`: webhooks with `ordering: KEYED`, and each event an `orderingKey` among 1 000 (`msg-0`…`msg-999`). */
    ordering: { type: 'string', default: 'none' },
    /** Every webhook's `rateLimit` (deliveries a second); none by default. */
    'rate-limit': { type: 'string' },
  },
});
const EVENTS = Number(opts.events);
const WARMUP = Number(opts.warmup);
const FANOUT = Number(opts.fanout);
const WEBHOOKS = Number(opts.webhooks);
const CONCURRENCY = Number(opts.concurrency);
const OUTSIDE = opts.outside;
const BATCH = OUTSIDE ? 500 : Number(opts.batch);
const HERALD_MODE = OUTSIDE ? 'all' : opts.herald;
const WORKER_COUNTS = opts.workers.split(',').map(Number);
const scenariosGiven = process.argv.some((arg) => arg.startsWith('--scenarios'));
const scenarios = new Set((OUTSIDE && !scenariosGiven ? '5,6' : opts.scenarios).split(',').map(Number));
if (WORKER_COUNTS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--workers: a list of counts from 1');
if (WORKER_COUNTS.length > 1 && HERALD_MODE !== 'split') throw new Error('--workers with several counts needs --herald split');
const ROUNDS = Number(opts.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds: a count from 1');
if ((ROUNDS > 1 || WORKER_COUNTS.length > 1) && (OUTSIDE || !scenarios.has(1) || scenarios.has(6)))
  throw new Error('--rounds and a --workers list repeat scenario 1: --scenarios must include it, without --outside or scenario 6');
if (new Set(WORKER_COUNTS).size !== WORKER_COUNTS.length) throw new Error('--workers: each count once (--rounds repeats them)');
/** Each Herald the run starts, in order: a worker count and the round it belongs to (from 1). */
const RUNS = Array.from({ length: ROUNDS }, (_, r) => WORKER_COUNTS.map((workers) => ({ workers, round: r + 1 }))).flat();
const KEYED = opts.ordering === 'keyed';
/** What every webhook of Herald's scenarios is created with, from the flow-control options. */
const FLOW = {
  adaptiveThrottling: opts['adaptive-throttling'] !== 'false',
  ordering: KEYED ? 'KEYED' : 'NONE',
  rateLimit: opts['rate-limit'] ? Number(opts['rate-limit']) : null,
};
/** An event's orderingKey under `--ordering keyed`: 1 000 keys, as messages of a campaign. */
const orderingKey = (seq: number) => (KEYED ? { orderingKey: `msg-${seq % 1000}` } : {});

interface Result {
  scenario: string;
  deliveries: number;
  seconds: number;
  deliveriesPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** The largest RSS any one Herald process reached during the scenario, and each one's. */
  maxRssMb?: number;
  maxRssMbByRole?: Record<string, number>;
  /**
   * CPU seconds used during the scenario by the processes that deliver (Herald's, the peer's or the
   * ceiling's, each by name), PostgreSQL (idle in the ceiling's) and the benchmark itself (its
   * publisher and receiver).
   */
  cpuSeconds?: Record<string, number>;
  /**
   * The most written data Linux held in its page cache, not yet on disk, during the scenario
   * (Dirty in /proc/meminfo). Written out in bursts, it makes commits wait (README, Performance).
   */
  maxDirtyMb?: number;
  /** What the scenario wrote to disk, per delivery (see writeMeter). */
  writeVolume?: WriteVolume;
  note?: string;
}

/**
 * Bytes written per delivery: the growth of every table (with its TOAST table and maps) and
 * every index in the database — Herald's own (`public`) and pg-boss's (`pgboss`) — and the WAL
 * PostgreSQL generated meanwhile (the whole server's: nothing else runs on it during a scenario,
 * except autovacuum and checkpoints, which are part of the cost).
 */
interface WriteVolume {
  /** tables + indexes + wal. */
  bytesPerDelivery: number;
  heraldTablesPerDelivery: number;
  heraldIndexesPerDelivery: number;
  jobTablesAndIndexesPerDelivery: number;
  walPerDelivery: number;
  /** The relations that grew, largest growth first, in bytes per delivery. */
  byRelation: Record<string, number>;
  /**
   * With --sql-stats: the WAL per delivery by relation (pg_walinspect; a record counted for its
   * first block), as records and full-page images, largest first.
   */
  walByRelation?: Record<string, { records: number; fullPages: number }>;
}

const results: Result[] = [];
const log = (...args: unknown[]) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args);

async function sleep(ms: number) {
  await new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** RSS of a process in MB, from /proc. */
function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Written data Linux holds in its page cache, not yet on disk, in MB (NaN without /proc). */
function dirtyMb(): number {
  try {
    return Number(/^Dirty:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** What the --scrape poller saw, for the results file. */
let scraped: { scrapes: number; failures: number; maxMs: number; bytes: number } | null = null;

/** The embedded PostgreSQL's postmaster (null with DATABASE_URL: its CPU is not measured). */
let postmasterPid: number | null = null;
/** The embedded cluster's directory (where it lives as root: not under the run's temporary one). */
let clusterDir: string | null = null;

/** The embedded PostgreSQL server's processes: the postmaster and its children. */
function postgresPids(): number[] {
  if (postmasterPid === null) return [];
  const children = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => parentPid(pid) === postmasterPid);
  return [postmasterPid, ...children];
}

type Measured = Required<Pick<Result, 'cpuSeconds' | 'maxRssMb' | 'maxRssMbByRole'>> & Pick<Result, 'maxDirtyMb'>;

/**
 * Measures a scenario from now until the returned function is called: where the CPU went
 * (Herald's processes, PostgreSQL, the benchmark's publisher and receiver), the peak RSS of each
 * process in `h`, and the peak of Linux's dirty page cache.
 */
function meter(h: Pick<HeraldHandle, 'roles' | 'pids'>): () => Measured {
  const pids: Record<string, number> = {
    ...Object.fromEntries(h.roles.map((role, i) => [/^(peer|ceiling)/.test(role) ? role : `herald ${role}`, h.pids[i]])),
    bench: process.pid,
  };
  // PostgreSQL's backends come and go: each one's own difference, a new one counted whole.
  const postgres = () => new Map(postgresPids().map((pid) => [pid, cpuSeconds(pid)]));
  const start = { named: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)])), postgres: postgres() };
  const maxRss = h.pids.map(rssMb);
  let maxDirty = dirtyMb();
  const sampler = setInterval(() => {
    for (const [i, pid] of h.pids.entries()) maxRss[i] = Math.max(maxRss[i], rssMb(pid));
    maxDirty = Math.max(maxDirty, dirtyMb());
  }, 250);
  return () => {
    clearInterval(sampler);
    const used = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, round(cpuSeconds(pid) - start.named[name])]));
    let pg = 0;
    for (const [pid, seconds] of postgres()) pg += seconds - (start.postgres.get(pid) ?? 0);
    return {
      cpuSeconds: postmasterPid === null ? used : { ...used, postgres: round(pg) },
      maxRssMb: Math.round(Math.max(...maxRss)),
      maxRssMbByRole: Object.fromEntries(h.roles.map((role, i) => [role, Math.round(maxRss[i])])),
      maxDirtyMb: Number.isNaN(maxDirty) ? undefined : Math.round(maxDirty),
    };
  };
}

/**
 * Starts measuring what a scenario writes to the database at `databaseUrl` (see WriteVolume);
 * the returned function ends the measurement for `deliveries` deliveries.
 */
async function writeMeter(databaseUrl: string): Promise<(deliveries: number) => Promise<WriteVolume>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const sizes = async () => {
    const { rows } = await client.query<{ name: string; schema: string; index: boolean; bytes: string }>(
      `select c.relname as name, n.nspname as schema, c.relkind = 'i' as index, pg_table_size(c.oid) as bytes
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'i', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`,
    );
    return new Map(rows.map((r) => [`${r.schema}.${r.name}`, { ...r, bytes: Number(r.bytes) }]));
  };
  // From a checkpoint, so that every scenario pays for the full-page images of the pages it
  // touches first (the WAL of pages first changed after a checkpoint holds each page whole):
  // otherwise whether a checkpoint fell within the scenario moves the figure by 5–15 %.
  await client.query('checkpoint').catch(() => {}); // not a superuser on an external server: measured as it comes
  const before = await sizes();
  const { rows } = await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn() as lsn');
  const startLsn = rows[0].lsn;
  return async (deliveries) => {
    try {
      const after = await sizes();
      const wal = await client.query<{ bytes: string }>('select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1) as bytes', [startLsn]);
      const per = (bytes: number) => Math.round(bytes / deliveries);
      let heraldTables = 0;
      let heraldIndexes = 0;
      let jobs = 0;
      const grown: [string, number][] = [];
      for (const [key, rel] of after) {
        const growth = rel.bytes - (before.get(key)?.bytes ?? 0);
        if (growth === 0) continue;
        grown.push([rel.schema === 'public' ? rel.name : key, growth]);
        if (rel.schema !== 'public') jobs += growth;
        else if (rel.index) heraldIndexes += growth;
        else heraldTables += growth;
      }
      const walBytes = Number(wal.rows[0].bytes);
      const walByRelation = opts['sql-stats'] ? await walPerRelation(client, startLsn, deliveries) : undefined;
      return {
        bytesPerDelivery: per(heraldTables + heraldIndexes + jobs + walBytes),
        heraldTablesPerDelivery: per(heraldTables),
        heraldIndexesPerDelivery: per(heraldIndexes),
        jobTablesAndIndexesPerDelivery: per(jobs),
        walPerDelivery: per(walBytes),
        byRelation: Object.fromEntries(grown.sort((a, b) => b[1] - a[1]).map(([name, bytes]) => [name, per(bytes)])),
        ...(walByRelation ? { walByRelation } : {}),
      };
    } finally {
      await client.end();
    }
  };
}

/** WAL since `startLsn` by relation, per delivery (pg_walinspect). */
async function walPerRelation(
  client: pg.Client,
  startLsn: string,
  deliveries: number,
): Promise<Record<string, { records: number; fullPages: number }>> {
  await client.query('create extension if not exists pg_walinspect');
  const { rows } = await client.query<{ name: string; records: string; fpi: string }>(
    `with blocks as (
       select b.start_lsn, b.block_id, b.relfilenode, b.record_length, b.block_fpi_length as fpi_length
         from pg_get_wal_block_info($1::pg_lsn, pg_current_wal_insert_lsn(), false) b
     ), per_record as (
       -- A record's length once (on its first block); each block's full-page image on its own.
       select relfilenode, case when block_id = (min(block_id) over (partition by start_lsn)) then record_length else 0 end as rec,
              coalesce(fpi_length, 0) as fpi
         from blocks
     )
     select coalesce(n.nspname || '.' || c.relname, 'relfilenode ' || p.relfilenode) as name, sum(rec) as records, sum(fpi) as fpi
       from per_record p left join pg_class c on c.relfilenode = p.relfilenode
       left join pg_namespace n on n.oid = c.relnamespace
      group by 1 order by sum(rec) + sum(fpi) desc limit 25`,
    [startLsn],
  );
  return Object.fromEntries(
    rows.map((r) => [
      r.name.replace(/^public\./, ''),
      { records: Math.round(Number(r.records) / deliveries), fullPages: Math.round(Number(r.fpi) / deliveries) },
    ]),
  );
}

// ---------------------------------------------------------------------------------------------

/** What the run started, so that it can be stopped however the run ends. */
const toCleanUp = {
  /** Processes (Herald's, the peer, the ceiling) not yet seen to exit. */
  children: new Set<ChildProcess>(),
  /** The embedded PostgreSQL, from the moment its start begins (null with DATABASE_URL). */
  database: null as Promise<EmbeddedDatabase> | null,
  /** The run's temporary directory (the embedded cluster's, unless relocated as root). */
  tmp: null as string | null,
};
/** The exit status an interrupting signal asks for (130 for SIGINT, 143 for SIGTERM); null: not interrupted. */
let interrupted: number | null = null;
/** When the interrupting signal came (ms since the epoch). */
let interruptedAt = 0;
let cleanedUp: Promise<void> | null = null;

/** spawn(), remembering the child until it exits; refused once the run is interrupted. */
function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  if (interrupted !== null) throw new Error('interrupted');
  const child = spawn(command, args, options);
  toCleanUp.children.add(child);
  child.once('exit', () => toCleanUp.children.delete(child));
  return child;
}

/**
 * Stops every process the run started, then the embedded PostgreSQL (waiting for a start under
 * way), and removes the run's directories. One clean-up, however many callers: the end of main()
 * and an interrupting signal share it.
 */
function cleanUp(): Promise<void> {
  cleanedUp ??= (async () => {
    await Promise.all([...toCleanUp.children].map((child) => stopChild(child)));
    const db = await toCleanUp.database?.catch(() => null);
    clusterDir ??= db?.clusterDir ?? null;
    try {
      await db?.stop();
    } finally {
      // db.stop() removes them too, unless it failed (or there is no database: it did not start).
      removeDirectories();
    }
  })();
  return cleanedUp;
}

/**
 * Ctrl-C or a SIGTERM (e.g. from `timeout`) stops what the run started before exiting 130/143:
 * left behind, Herald's processes, the peer and PostgreSQL kept polling and took CPU from every
 * later run on the machine. A second signal does not wait: it kills what is left and removes the
 * directories. The same signal again within a second is the first one delivered twice (`timeout`
 * signals its child and then the group; npm, where sh is bash, forwards Ctrl-C to a process that
 * the terminal already signalled).
 */
function stopOnSignals(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== null) return Date.now() - interruptedAt < 1000 ? undefined : stopNow();
    interrupted = signal === 'SIGINT' ? 130 : 143;
    interruptedAt = Date.now();
    log(`${signal}: stopping ${toCleanUp.children.size} process(es) and PostgreSQL (again to stop at once)`);
    // The run's connections to Herald and PostgreSQL now fail as they close.
    process.on('uncaughtException', () => {});
    process.on('unhandledRejection', () => {});
    void cleanUp().finally(() => process.exit(interrupted ?? 1));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function stopNow(): never {
  for (const child of toCleanUp.children) child.kill('SIGKILL');
  if (postmasterPid !== null) {
    try {
      // The postmaster leads its own process group (it is started detached): its backends too.
      process.kill(-postmasterPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    removeDirectories();
  } finally {
    process.exit(interrupted ?? 1);
  }
}

/** The run's temporary directory and, as root, the cluster's own under CLUSTERS_DIR (synchronous: stopNow() cannot wait). */
function removeDirectories(): void {
  if (toCleanUp.tmp) rmSync(toCleanUp.tmp, { recursive: true, force: true });
  if (clusterDir) rmSync(relocatedClusterRoot(clusterDir) ?? clusterDir, { recursive: true, force: true });
}

async function main() {
  stopOnSignals();
  log(`${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  let baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'herald-bench-'));
    toCleanUp.tmp = tmp;
    toCleanUp.database = startEmbeddedPostgres({
      dir: path.join(tmp, 'pg'),
      port: await freePort(),
      password: 'bench',
      database: 'postgres',
      logger: createLogger(opts['pg-log'] ? 'debug' : 'warn'),
      persistent: false,
      settings: {
        ...(opts['sql-stats'] ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {}),
        // PostgreSQL's own default, over the embedded server's 30 s (a later -c wins).
        ...(OUTSIDE ? { checkpoint_timeout: '5min' } : {}),
        // Where the latency tail comes from: lock waits over 40 ms and statements over 80 ms, in the log.
        ...(opts['pg-log']
          ? { log_lock_waits: 'on', deadlock_timeout: '40ms', log_min_duration_statement: '80', log_autovacuum_min_duration: '0' }
          : {}),
      },
    });
    const db = await toCleanUp.database;
    baseUrl = db.url;
    postmasterPid = db.pid;
    clusterDir = db.clusterDir;
    log('embedded PostgreSQL started');
  }
  const receiver = await startBenchReceiver();
  const heralds: HeraldHandle[] = [];
  let stopScraper: ReturnType<typeof startScraper> | null = null;
  try {
    const byNumber = new Map<string, Result>();
    // One run of Herald: the ceiling and the peer go first, on a machine and a PostgreSQL that
    // Herald's 130 000 deliveries have not yet left busy (autovacuum, checkpoints): the comparison
    // favours them. Several (a worker list or --rounds): each runs after each of Herald's runs,
    // as that many processes, once Herald's database is gone (below).
    if (scenarios.has(4) && RUNS.length === 1) byNumber.set('4', await ceiling(receiver));
    if (scenarios.has(5) && RUNS.length === 1) byNumber.set('5', await peer(await freshDatabase(baseUrl, 'herald_bench_peer'), receiver));
    for (const [i, { workers, round: roundNumber }] of RUNS.entries()) {
      const databaseUrl = await freshDatabase(baseUrl, `herald_bench${i === 0 ? '' : `_${workers}`}`);
      if (opts['sql-stats']) sqlStats = await startSqlStats(databaseUrl);
      // Profiles and logs of each Herald of a curve apart: `worker2-3w-r4`, the second worker with three, round four.
      const tag = RUNS.length > 1 ? `-${workers}w${ROUNDS > 1 ? `-r${roundNumber}` : ''}` : '';
      const herald = await startHerald(databaseUrl, workers, tag);
      heralds.push(herald);
      // Scraped throughout a run of one Herald (with several worker counts, the first).
      if (opts.scrape && i === 0) stopScraper = startScraper(herald);
      const name = throughputName(workers, roundNumber);
      if (scenarios.has(1)) byNumber.set(`1 ${name}`, await throughput(herald, receiver, name, `/s1-${workers}-${roundNumber}`));
      if (scenarios.has(6)) byNumber.set('6', await outsideThroughput(herald, receiver));
      // The other scenarios once, with the first worker count.
      if (i === 0 && scenarios.has(2)) byNumber.set('2', await moderateLoad(herald, receiver));
      if (i === 0 && scenarios.has(3)) byNumber.set('3', await throughput(herald, receiver, 'slow endpoint isolation', '/s3', true));
      await sqlStats?.close();
      sqlStats = null;
      if (RUNS.length > 1) {
        if (stopScraper) scraped ??= stopScraper();
        await herald.stop();
        // Dropped, its tables leave no autovacuum behind to slow the controls that follow.
        await dropDatabase(baseUrl, databaseUrl);
        if (scenarios.has(5)) {
          const name = peerName(workers, roundNumber);
          const peerDatabase = await freshDatabase(baseUrl, 'herald_bench_peer');
          byNumber.set(`5 ${name}`, await peer(peerDatabase, receiver, workers, name, `/s5-${workers}-${roundNumber}/`));
        }
        if (scenarios.has(4)) {
          const name = ceilingName(workers, roundNumber);
          byNumber.set(`4 ${name}`, await ceiling(receiver, workers, name, `/s4-${workers}-${roundNumber}/`));
        }
      }
    }
    results.push(...[...byNumber].sort(([a], [b]) => a.localeCompare(b)).map(([, result]) => result));
  } finally {
    if (stopScraper) {
      scraped ??= stopScraper();
      log(`scraper: ${scraped.scrapes} scrapes of /metrics (${scraped.failures} failed), slowest ${scraped.maxMs} ms`);
    }
    await sqlStats?.close();
    await Promise.all(heralds.map((h) => h.stop()));
    await receiver.close();
    await cleanUp();
  }
  if (interrupted === null) report();
}

/** SIGTERM, so Herald shuts down as in production (and writes a --cpu-prof profile), then SIGKILL. */
async function stopChild(child: ChildProcess): Promise<void> {
  const exited = exitOf(child);
  // Ctrl-C and `timeout` signal the whole process group, Herald's processes too, and Herald takes
  // a second signal as "exit at once": interrupted, give them a moment to stop on the one they got.
  if (interrupted !== null) await Promise.race([exited, sleep(3000)]);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once `child` has exited (at once if it has). */
function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Runs `statements` one by one on the server's maintenance database at `baseUrl`. */
async function onServer(baseUrl: string, ...statements: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    for (const statement of statements) await admin.query(statement);
  } finally {
    await admin.end();
  }
}

async function dropDatabase(baseUrl: string, databaseUrl: string): Promise<void> {
  await onServer(baseUrl, `drop database if exists ${new URL(databaseUrl).pathname.slice(1)} with (force)`);
}

/** An empty database `name` on the server at `baseUrl` (dropped first if there is one); its URL. */
async function freshDatabase(baseUrl: string, name: string): Promise<string> {
  await onServer(baseUrl, `drop database if exists ${name} with (force)`, `create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** pg_stat_statements of Herald's database: what each scenario cost PostgreSQL, statement by statement. */
let sqlStats: { reset(): Promise<void>; report(label: string, deliveries: number): Promise<void>; close(): Promise<void> } | null = null;

async function startSqlStats(databaseUrl: string): Promise<NonNullable<typeof sqlStats>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('create extension if not exists pg_stat_statements');
  return {
    reset: async () => void (await client.query('select pg_stat_statements_reset()')),
    async report(label, deliveries) {
      const { rows } = await client.query<{ calls: string; total: number; rows: string; query: string }>(
        `select calls, total_exec_time as total, rows, query from pg_stat_statements
          where dbid = (select oid from pg_database where datname = current_database()) and query not like '%pg_stat_statements%'
          order by total_exec_time desc`,
      );
      const total = rows.reduce((t, r) => t + r.total, 0);
      const calls = rows.reduce((t, r) => t + Number(r.calls), 0);
      log(
        `${label}: PostgreSQL executed ${calls} statements (${round(calls / deliveries)} per delivery) in ${Math.round(total)} ms (${round((total * 1000) / deliveries)} µs per delivery); the top ones:`,
      );
      for (const r of rows.slice(0, 12)) {
        const text = r.query.replace(/\s+/g, ' ').slice(0, 110);
        console.log(
          `  ${String(Math.round(r.total)).padStart(6)} ms ${String(r.calls).padStart(7)} calls ${round(Number(r.calls) / deliveries)
            .toString()
            .padStart(6)}/delivery  ${text}`,
        );
      }
      const tables = await client.query<{ relname: string; ins: string; upd: string; hot: string }>(
        `select relname, n_tup_ins as ins, n_tup_upd as upd, n_tup_hot_upd as hot from pg_stat_user_tables where relname in ('delivery', 'attempt', 'event', 'webhook') order by relname`,
      );
      const checkpoints = await client.query<{ timed: string; requested: string; done: string; write_time: number; sync_time: number }>(
        'select num_timed as timed, num_requested as requested, num_done as done, write_time, sync_time from pg_stat_checkpointer',
      );
      console.log('  checkpoints (since start):', checkpoints.rows[0]);
      console.log(
        '  rows (since start):',
        tables.rows.map((t) => `${t.relname} ${t.ins} inserted, ${t.upd} updated (${t.hot} HOT)`).join('; '),
      );
    },
    close: () => client.end(),
  };
}

interface HeraldHandle {
  url: string;
  databaseUrl: string;
  /** Where each process serves /healthz, /readyz and /metrics (the API's port, each worker's own). */
  opsUrls: string[];
  /** Stops Herald's processes (SIGTERM, as in production). */
  stop(): Promise<void>;
  /** Herald's processes (api and worker, or one doing both). */
  pids: number[];
  /** The role of each process in `pids`. */
  roles: string[];
  adminKey: string;
  gql<T = any>(query: string, variables?: Record<string, unknown>, key?: string): Promise<T>;
}

/** `tag` ends the names of the processes' profile and log files. */
async function startHerald(databaseUrl: string, workers: number, tag = ''): Promise<HeraldHandle> {
  const children: ChildProcess[] = [];
  const roles = HERALD_MODE === 'split' ? ['api', ...numbered('worker', workers)] : ['all'];
  // Each process its own port: the API's, and each worker's for its ops endpoints.
  const ports = await Promise.all(roles.map(() => freePort()));
  const port = ports[0];
  const adminKey = `hrld_admin_${randomBytes(16).toString('hex')}`;
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    HERALD_ADMIN_KEY: adminKey,
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HOST: '127.0.0.1',
    HERALD_ALLOW_HTTP: 'true',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    HERALD_WORKER_CONCURRENCY: String(CONCURRENCY),
    HERALD_MAX_WEBHOOKS: '1000',
    LOG_LEVEL: opts['log-level'],
  };
  const pids: number[] = [];
  for (const [i, label] of roles.entries()) {
    const role = label.replace(/\d+$/, '');
    const profile = opts.profile
      ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opts.profile)}`, `--cpu-prof-name=herald-${label}${tag}.cpuprofile`]
      : [];
    const nodeArgs = opts['node-args'].split(' ').filter(Boolean);
    const child = spawnTracked(NODE, [...NODE_FLAGS, ...nodeArgs, ...profile, path.join(ROOT, 'src/cli.ts'), 'serve', '--role', role], {
      cwd: ROOT,
      env: { ...env, PORT: String(ports[i]) },
      stdio: ['ignore', process.env.BENCH_HERALD_LOG ? 'pipe' : 'ignore', 'inherit'],
    });
    if (process.env.BENCH_HERALD_LOG)
      child.stdout!.pipe((await import('node:fs')).createWriteStream(`${process.env.BENCH_HERALD_LOG}.${label}${tag}`));
    children.push(child);
    pids.push(child.pid!);
    // Migrations run at start; let the first process apply them before the next one starts.
    if (roles.length > 1) await sleep(role === 'api' ? 4000 : 0);
  }
  const url = `http://127.0.0.1:${port}/graphql`;
  const gql = async <T>(query: string, variables: Record<string, unknown> = {}, key = adminKey): Promise<T> => {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.body.json()) as { data: T; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors).slice(0, 500));
    return body.data;
  };
  const opsUrls = ports.map((p) => `http://127.0.0.1:${p}`);
  const deadline = Date.now() + 60_000;
  for (const opsUrl of opsUrls) {
    for (;;) {
      const status = await request(`${opsUrl}/readyz`)
        .then(async (r) => {
          await r.body.dump();
          return r.statusCode;
        })
        .catch(() => 0);
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`Herald did not become ready (${opsUrl}/readyz)`);
      await sleep(200);
    }
  }
  // /readyz may answer 200 a moment before the API serves GraphQL (it answers 503 "starting" until then).
  for (;;) {
    const status = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      .then(async (r) => {
        await r.body.dump();
        return r.statusCode;
      })
      .catch(() => 0);
    if (status !== 503 && status !== 0) break;
    if (Date.now() > deadline) throw new Error(`Herald's API did not start serving (${url})`);
    await sleep(100);
  }
  log(`Herald started: ${roles.map((r, i) => `${r} (pid ${pids[i]}, ${opsUrls[i]})`).join(', ')}`);
  const stop = async () => {
    await Promise.all(children.map((child) => stopChild(child)));
  };
  return { url, databaseUrl, opsUrls, pids, roles, adminKey, gql, stop };
}

/** Polls /metrics of every Herald process every second, as a Prometheus server would; returns a stop function. */
function startScraper(h: HeraldHandle): () => { scrapes: number; failures: number; maxMs: number; bytes: number } {
  const stats = { scrapes: 0, failures: 0, maxMs: 0, bytes: 0 };
  const timer = setInterval(() => {
    for (const opsUrl of h.opsUrls) {
      const started = performance.now();
      request(`${opsUrl}/metrics`)
        .then(async (r) => {
          const text = await r.body.text();
          if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
          stats.scrapes++;
          stats.bytes += text.length;
          stats.maxMs = Math.max(stats.maxMs, performance.now() - started);
        })
        .catch(() => stats.failures++);
    }
  }, 1000);
  return () => {
    clearInterval(timer);
    return { ...stats, maxMs: Math.round(stats.maxMs) };
  };
}

/** The --delivery-profile file, stored in Herald once; null: the default (standard) profile. */
let deliveryProfile: Promise<DeliveryProfileFile | null> | null = null;

function useDeliveryProfile(h: HeraldHandle): Promise<DeliveryProfileFile | null> {
  deliveryProfile ??= (async () => {
    if (!opts['delivery-profile']) return null;
    const file = JSON.parse(readFileSync(opts['delivery-profile'], 'utf8')) as DeliveryProfileFile;
    await h.gql('mutation($i: UpsertDeliveryProfileInput!) { upsertDeliveryProfile(input: $i) { name } }', { i: file });
    log(`delivery profile ${file.name} from ${opts['delivery-profile']}`);
    return file;
  })();
  return deliveryProfile;
}

async function createTenant(h: HeraldHandle, name: string): Promise<string> {
  const profile = await useDeliveryProfile(h);
  const data = await h.gql<{ createTenant: { apiKey: string } }>(
    'mutation($n: String!, $p: String) { createTenant(input: { name: $n, profile: $p }) { apiKey } }',
    { n: name, p: profile?.name ?? null },
  );
  return data.createTenant.apiKey;
}

async function createWebhook(h: HeraldHandle, key: string, receiver: BenchReceiver, pathName: string, input: Record<string, unknown>) {
  const data = await h.gql<{ createWebhook: { webhook: { id: string }; secret: string } }>(
    'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } secret } }',
    { i: { url: `${receiver.url}${pathName}`, events: ['*'], ...FLOW, ...input } },
    key,
  );
  const profile = await useDeliveryProfile(h);
  receiver.verifiers.set(pathName, signatureVerifier(data.createWebhook.secret, profile?.definition.signature));
  return data.createWebhook.webhook.id;
}

const PUBLISH = 'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { deliveryCount } }';

/** Publishes `count` events spread over `groups` channels, `batch` per call, `parallel` calls at once. */
async function publishMany(h: HeraldHandle, key: string, count: number, groups: number, offset: number, parallel = 2): Promise<number> {
  let next = 0;
  let deliveries = 0;
  const worker = async () => {
    while (next < count) {
      const start = next;
      next = Math.min(count, next + BATCH);
      const inputs = [];
      for (let i = start; i < next; i++) {
        inputs.push({
          type: 'message.delivered',
          channel: `g${(offset + i) % groups}`,
          data: { seq: offset + i, sentAt: Date.now(), to: '+15550100', status: 'delivered' },
          ...orderingKey(offset + i),
        });
      }
      const data = await h.gql<{ publishEvents: { deliveryCount: number }[] }>(PUBLISH, { inputs }, key);
      deliveries += data.publishEvents.reduce((n, p) => n + p.deliveryCount, 0);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return deliveries;
}

async function throughput(h: HeraldHandle, receiver: BenchReceiver, name: string, prefix: string, withSlow = false): Promise<Result> {
  const groups = WEBHOOKS / FANOUT;
  const key = await createTenant(h, `bench-${name}`);
  for (let i = 0; i < WEBHOOKS; i++) {
    await createWebhook(h, key, receiver, `${prefix}/w${i}`, { channels: [`g${i % groups}`] });
  }
  if (withSlow) {
    receiver.hangPaths.add(`${prefix}/slow`);
    await createWebhook(h, key, receiver, `${prefix}/slow`, { timeoutMs: 15000, retrySchedule: [] });
  }
  const fast = (p: string) => p.startsWith(`${prefix}/`) && !p.endsWith('/slow');
  log(`${name}: warm-up ${WARMUP} events`);
  const warm = await publishMany(h, key, WARMUP, groups, 0);
  const warmFast = warm - (withSlow ? WARMUP : 0);
  await waitUntil(() => receiver.uniqueCount(fast) >= warmFast, 120_000, 'warm-up deliveries');
  receiver.reset();
  await sqlStats?.reset();

  log(`${name}: ${EVENTS} events × ${FANOUT} webhooks${withSlow ? ' + 1 hanging webhook' : ''}`);
  const writes = await writeMeter(h.databaseUrl);
  const measure = meter(h);
  const started = Date.now();
  const expected = await publishMany(h, key, EVENTS, groups, WARMUP);
  const fastExpected = expected - (withSlow ? EVENTS : 0);
  const publishSeconds = (Date.now() - started) / 1000;
  await waitUntil(() => receiver.uniqueCount(fast) >= fastExpected, 600_000, `${fastExpected} deliveries`);
  const seconds = (Date.now() - started) / 1000;
  const measured = measure();
  await sleep(500);
  const writeVolume = await writes(expected);
  await sqlStats?.report(name, fastExpected);
  const got = receiver.uniqueCount(fast);
  if (got !== fastExpected) throw new Error(`${name}: expected ${fastExpected} unique deliveries, got ${got}`);
  if (receiver.signatureFailures > 0) throw new Error(`${name}: ${receiver.signatureFailures} signatures failed`);
  const lat = latencySummary(receiver.latencies);
  const result: Result = {
    scenario: name,
    deliveries: fastExpected,
    seconds: round(seconds),
    deliveriesPerSecond: Math.round(fastExpected / seconds),
    ...lat,
    ...measured,
    writeVolume,
    note: `publish took ${round(publishSeconds)} s; ${receiver.verified} signatures verified; ${receiver.requests - got} duplicate requests`,
  };
  log(result);
  return result;
}

/**
 * Scenario 6 (--outside): 10 tenants × 10 webhooks subscribed to `*`; one publisher (the admin
 * key, naming each event's tenant in turn) sends `--events` events in batches of 500, one call at
 * a time; every event goes to its tenant's 10 webhooks.
 */
async function outsideThroughput(h: HeraldHandle, receiver: BenchReceiver): Promise<Result> {
  const name = 'outside setup: 10 tenants × 10 webhooks, batches of 500';
  const tenants: string[] = [];
  for (let t = 0; t < 10; t++) {
    const data = await h.gql<{ createTenant: { tenant: { id: string }; apiKey: string } }>(
      'mutation($n: String!) { createTenant(input: { name: $n }) { tenant { id } apiKey } }',
      { n: `outside-${t}` },
    );
    tenants.push(data.createTenant.tenant.id);
    for (let w = 0; w < 10; w++) await createWebhook(h, data.createTenant.apiKey, receiver, `/s6/t${t}/w${w}`, {});
  }
  const isOutside = (p: string) => p.startsWith('/s6/');
  let seq = 0;
  const publish = async (count: number): Promise<number> => {
    let deliveries = 0;
    for (let start = 0; start < count; start += BATCH) {
      const inputs = Array.from({ length: Math.min(BATCH, count - start) }, () => {
        const i = seq++;
        return {
          type: 'message.delivered',
          tenantId: tenants[i % tenants.length],
          data: { seq: i, sentAt: Date.now(), to: '+15550100', status: 'delivered' },
        };
      });
      const data = await h.gql<{ publishEvents: { deliveryCount: number }[] }>(PUBLISH, { inputs });
      deliveries += data.publishEvents.reduce((n, p) => n + p.deliveryCount, 0);
    }
    return deliveries;
  };
  log(`${name}: warm-up ${WARMUP} events`);
  const warm = await publish(WARMUP);
  await waitUntil(() => receiver.uniqueCount(isOutside) >= warm, 120_000, 'warm-up deliveries');
  receiver.reset();
  await sqlStats?.reset();
  log(`${name}: ${EVENTS} events`);
  const writes = await writeMeter(h.databaseUrl);
  const measure = meter(h);
  const started = Date.now();
  const expected = await publish(EVENTS);
  const publishSeconds = (Date.now() - started) / 1000;
  await waitUntil(() => receiver.uniqueCount(isOutside) >= expected, 600_000, `${expected} deliveries`);
  const seconds = (Date.now() - started) / 1000;
  const measured = measure();
  await sleep(500);
  const writeVolume = await writes(expected);
  await sqlStats?.report(name, expected);
  const got = receiver.uniqueCount(isOutside);
  if (got !== expected) throw new Error(`${name}: expected ${expected} unique deliveries, got ${got}`);
  if (receiver.signatureFailures > 0) throw new Error(`${name}: ${receiver.signatureFailures} signatures failed`);
  const result: Result = {
    scenario: name,
    deliveries: expected,
    seconds: round(seconds),
    deliveriesPerSecond: Math.round(expected / seconds),
    ...latencySummary(receiver.latencies),
    ...measured,
    writeVolume,
    note: `publish took ${round(publishSeconds)} s; ${receiver.verified} signatures verified; ${receiver.requests - got} duplicate requests`,
  };
  log(result);
  return result;
}

async function moderateLoad(h: HeraldHandle, receiver: BenchReceiver): Promise<Result> {
  const key = await createTenant(h, 'bench-latency');
  for (let i = 0; i < 5; i++) await createWebhook(h, key, receiver, `/s2/w${i}`, { channels: ['lat'] });
  const rate = Number(opts.rate);
  const seconds = Number(opts.duration);
  let seq = 0;
  /** Publishes `rate` events a second for `forSeconds`; returns how many were sent. */
  const steady = async (forSeconds: number): Promise<number> => {
    const started = Date.now();
    let sent = 0;
    const inflight: Promise<unknown>[] = [];
    while (Date.now() - started < forSeconds * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate) - sent;
      if (due > 0) {
        const inputs = Array.from({ length: due }, () => ({
          type: 'message.sent',
          channel: 'lat',
          ...orderingKey(seq),
          data: { seq: seq++, sentAt: Date.now() },
        }));
        sent += due;
        inflight.push(h.gql(PUBLISH, { inputs }, key));
      }
      await sleep(25);
    }
    await Promise.all(inflight);
    return sent;
  };
  // Warm up at the same rate (connections, JIT), then measure.
  const warm = await steady(5);
  await waitUntil(() => receiver.uniqueCount((p) => p.startsWith('/s2/')) >= warm * 5, 60_000, 'moderate-load warm-up');
  receiver.reset();
  await sqlStats?.reset();
  log(`moderate load: ${rate} events/s to 5 webhooks for ${seconds} s`);
  const writes = await writeMeter(h.databaseUrl);
  const measure = meter(h);
  const sent = await steady(seconds);
  const expected = sent * 5;
  await waitUntil(() => receiver.uniqueCount((p) => p.startsWith('/s2/')) >= expected, 120_000, 'moderate-load deliveries');
  const measured = measure();
  await sleep(500);
  const writeVolume = await writes(expected);
  await sqlStats?.report('moderate load', expected);
  const lat = latencySummary(receiver.latencies);
  const result: Result = {
    scenario: 'moderate load (200 ev/s × 5)',
    deliveries: expected,
    seconds,
    deliveriesPerSecond: Math.round(expected / seconds),
    ...lat,
    ...measured,
    writeVolume,
  };
  log(result);
  return result;
}

/**
 * The bare HTTP limit: sign and POST the same payloads with the same concurrency, nothing else,
 * as `processes` processes that share the total, each with `--concurrency` requests open (as each
 * Herald worker has), their requests to `prefix`. Each warms up (its connections open, its code
 * compiled), then all start on one go: seconds run from the first one's start to the last one's
 * end; cpuSeconds from the go (the ceiling's processes, the benchmark's receiver, PostgreSQL idle).
 */
async function ceiling(receiver: BenchReceiver, processes = 1, name = ceilingName(1, 1), prefix = '/s4/'): Promise<Result> {
  const total = EVENTS * FANOUT;
  log(`${name}: ${total} signed POSTs with undici, concurrency ${CONCURRENCY} in each of ${processes} process(es)`);
  const children = Array.from({ length: processes }, (_, k) => {
    const first = Math.floor((k * total) / processes);
    const count = Math.floor(((k + 1) * total) / processes) - first;
    const args = [receiver.url, count, CONCURRENCY, WEBHOOKS, first, prefix].map(String);
    const child = spawnTracked(NODE, [path.join(ROOT, 'test/bench/ceiling.ts'), ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async () => {
      const line = await lines.next();
      if (line.done) {
        await exitOf(child);
        throw new Error(`${name}: process ${k + 1} exited (${child.exitCode ?? child.signalCode}) before it finished`);
      }
      return line.value;
    };
    return { child, next };
  });
  for (const { next } of children) if ((await next()) !== 'ready') throw new Error(`${name}: no ready`);
  receiver.reset();
  // The benchmark and PostgreSQL from the go; each ceiling process measures its own CPU, as it
  // may exit before /proc is read again.
  const measure = meter({ roles: [], pids: [] });
  for (const { child } of children) child.stdin!.end('go\n');
  const runs = await Promise.all(
    children.map(async ({ next }) => JSON.parse(await next()) as { startedMs: number; endedMs: number; cpuSeconds: number }),
  );
  const own = Object.fromEntries(numbered('ceiling', processes).map((label, k) => [label, round(runs[k].cpuSeconds)]));
  const cpuSeconds = { ...own, ...measure().cpuSeconds };
  await Promise.all(children.map(({ child }) => exitOf(child)));
  const seconds = (Math.max(...runs.map((r) => r.endedMs)) - Math.min(...runs.map((r) => r.startedMs))) / 1000;
  if (receiver.uniqueCount((p) => p.startsWith(prefix)) !== total) throw new Error('ceiling: requests lost');
  const result: Result = {
    scenario: name,
    deliveries: total,
    seconds: round(seconds),
    deliveriesPerSecond: Math.round(total / seconds),
    ...latencySummary(receiver.latencies),
    cpuSeconds,
  };
  log(result);
  return result;
}

/**
 * A bare pg-boss queue in separate processes with the same load: what a team would write in an
 * afternoon. Scenario 5 as `processes` peer processes on one queue, each with `--concurrency` requests open
 * (as each Herald worker has), their requests to `prefix` on the receiver. Started one after the
 * other: the first creates the queue.
 */
async function peer(databaseUrl: string, receiver: BenchReceiver, processes = 1, name = peerName(1, 1), prefix = '/s5/'): Promise<Result> {
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < processes; i++) {
      const child = spawnTracked(NODE, [path.join(ROOT, 'test/bench/peer.ts'), databaseUrl, String(CONCURRENCY)], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('peer ready') && resolve());
        child.once('exit', () => reject(new Error('peer exited')));
      });
    }
    return await measurePeer(
      databaseUrl,
      receiver,
      children.map((child) => child.pid!),
      name,
      prefix,
    );
  } finally {
    await Promise.all(children.map((child) => stopChild(child)));
  }
}

async function measurePeer(databaseUrl: string, receiver: BenchReceiver, pids: number[], name: string, prefix: string): Promise<Result> {
  const boss = new PgBoss({ connectionString: databaseUrl, schema: PEER_SCHEMA, max: 4 });
  await boss.start();
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const groups = WEBHOOKS / FANOUT;
  const publish = async (count: number, offset: number) => {
    for (let start = 0; start < count; start += BATCH) {
      const jobs: { data: PeerJob }[] = [];
      for (let i = start; i < Math.min(count, start + BATCH); i++) {
        const seq = offset + i;
        const id = `evt_${seq}`;
        const body = JSON.stringify({
          id,
          type: 'message.delivered',
          timestamp: new Date().toISOString(),
          tenantId: 'ten_x',
          channel: `g${seq % groups}`,
          data: { seq, sentAt: Date.now(), to: '+15550100', status: 'delivered' },
        });
        for (let w = 0; w < FANOUT; w++)
          jobs.push({ data: { url: `${receiver.url}${prefix}w${(seq % groups) + w * groups}`, id, body, secret } });
      }
      await boss.insert(PEER_QUEUE, jobs);
    }
  };
  const isPeer = (p: string) => p.startsWith(prefix);
  await publish(WARMUP, 0);
  await waitUntil(() => receiver.uniqueCount(isPeer) >= WARMUP * FANOUT, 120_000, 'peer warm-up');
  receiver.reset();
  log(`${name}: ${EVENTS} events × ${FANOUT} through bare pg-boss + undici`);
  const writes = await writeMeter(databaseUrl);
  const measure = meter({ roles: numbered('peer', pids.length), pids });
  const started = Date.now();
  await publish(EVENTS, WARMUP);
  const expected = EVENTS * FANOUT;
  await waitUntil(() => receiver.uniqueCount(isPeer) >= expected, 600_000, 'peer deliveries');
  const seconds = (Date.now() - started) / 1000;
  const { cpuSeconds: cpuUsed } = measure();
  await sleep(500);
  const writeVolume = await writes(expected);
  await boss.stop({ graceful: false });
  const result: Result = {
    scenario: name,
    deliveries: expected,
    seconds: round(seconds),
    deliveriesPerSecond: Math.round(expected / seconds),
    ...latencySummary(receiver.latencies),
    cpuSeconds: cpuUsed,
    writeVolume,
  };
  log(result);
  return result;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** A process label per count: `peer` alone, `peer1`, `peer2`, … of several (as Herald's `worker1`…). */
function numbered(base: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => (count === 1 ? base : `${base}${i + 1}`));
}

/** `1 worker`, `3 workers`; `1 process`, `3 processes`. */
function counted(n: number, noun: 'worker' | 'process'): string {
  return `${n} ${noun}${n === 1 ? '' : noun === 'process' ? 'es' : 's'}`;
}

/**
 * A scenario's name in the results, as the run needs to tell its runs apart: `throughput`,
 * `peer (bare pg-boss)` of one run; `throughput (3 workers, round 2)`, `peer (bare pg-boss, 3
 * processes, round 2)` of several. `what` is the name of one run.
 */
function runName(what: string, n: number, noun: 'worker' | 'process', round: number): string {
  if (RUNS.length === 1) return what;
  const details = [counted(n, noun), ...(ROUNDS > 1 ? [`round ${round}`] : [])].join(', ');
  return what.endsWith(')') ? `${what.slice(0, -1)}, ${details})` : `${what} (${details})`;
}

/** Scenario 1's name: `throughput (3 workers, round 2)`. */
const throughputName = (workers: number, round: number) => runName('throughput', workers, 'worker', round);
/** Scenario 5's name: `peer (bare pg-boss, 3 processes, round 2)` when it runs beside each worker count. */
const peerName = (processes: number, round: number) => runName('peer (bare pg-boss)', processes, 'process', round);
/** Scenario 4's name: `ceiling (bare undici, 3 processes, round 2)` when it runs beside each worker count. */
const ceilingName = (processes: number, round: number) => runName('ceiling (bare undici)', processes, 'process', round);

/**
 * With a worker list or `--rounds`: for Herald and for each control that ran beside every count
 * (the peer, the ceiling), each count's deliveries/s round by round with their median, CPU per
 * delivery (µs) of the processes that deliver (Herald's workers, the API left out; the peer's; the
 * ceiling's) and of every process (PostgreSQL and the benchmark's publisher and receiver
 * included), and the share of the machine's cores used; then each step of the list (2 over 1, 3
 * over 2, …) as a ratio taken within each round, with its median, and how many rounds fell below 1.
 * Last, Herald's step over each control's in the same round: a description, not a verdict — the
 * peer's processes share a pg-boss queue and spend most of their CPU in PostgreSQL, the ceiling is
 * bounded by the one receiver; a process added on saturated cores shows first as CPU per delivery
 * of the delivering processes. Returns the medians, keyed as printed, for the results file.
 */
function reportCurve(): Record<string, number> {
  const figures: Record<string, number> = {};
  const rounds = Array.from({ length: ROUNDS }, (_, r) => r + 1);
  const cores = os.cpus().length;
  const curves = [
    { key: 'workers', title: 'Herald', name: throughputName, noun: 'worker' },
    { key: 'peer', title: 'the peer', name: peerName, noun: 'process' },
    { key: 'ceiling', title: 'the ceiling (bare undici)', name: ceilingName, noun: 'process' },
  ] as const;
  const resultOf = (name: (count: number, round: number) => string, count: number, round: number) =>
    results.find((r) => r.scenario === name(count, round));
  /** µs per delivery of the CPU seconds whose names `pick` accepts. */
  const perDelivery = (r: Result, pick: (name: string) => boolean) =>
    Math.round((Object.entries(r.cpuSeconds ?? {}).reduce((sum, [k, v]) => (pick(k) ? sum + v : sum), 0) * 1e6) / r.deliveries);
  const delivering = (name: string) => /^(herald worker|peer|ceiling)/.test(name);
  const series = (label: string, values: number[], suffix = '') => {
    const m = median(values);
    if (m !== null) figures[label] = m;
    return `${values.join(', ')}${suffix} (median ${m}${suffix})`;
  };
  const steps = new Map<string, (number | null)[]>();
  const stepLine = (label: string, byRound: (number | null)[]) => {
    const shown = byRound.filter((n) => n !== null).map(round);
    const below = shown.filter((n) => n < 1).length;
    return `${series(label, shown)}, ${below} of ${shown.length} below 1`;
  };
  for (const { key, title, name, noun } of curves) {
    if (!resultOf(name, WORKER_COUNTS[0], 1)) continue;
    console.log(`\n${title} over ${ROUNDS} round(s):`);
    for (const count of WORKER_COUNTS) {
      const runs = rounds.map((r) => resultOf(name, count, r)).filter((r) => r !== undefined);
      console.log(
        `  ${counted(count, noun)}: ${series(
          `${key} ${count}: deliveries/s`,
          runs.map((r) => r.deliveriesPerSecond),
        )}`,
      );
      if (runs.some((r) => r.cpuSeconds)) {
        const own = series(
          `${key} ${count}: CPU µs per delivery, delivering processes`,
          runs.map((r) => perDelivery(r, delivering)),
        );
        const all = series(
          `${key} ${count}: CPU µs per delivery, all processes`,
          runs.map((r) => perDelivery(r, () => true)),
        );
        const use = series(
          `${key} ${count}: % of the cores used`,
          runs.map((r) => Math.round((perDelivery(r, () => true) * r.deliveriesPerSecond) / (cores * 1e4))),
        );
        console.log(`    CPU per delivery, µs: delivering processes ${own}; all ${all}; cores used, %: ${use}`);
      }
    }
    for (const [i, count] of WORKER_COUNTS.entries()) {
      if (i === 0) continue;
      const before = WORKER_COUNTS[i - 1];
      const byRound = rounds.map((r) => {
        const [a, b] = [resultOf(name, before, r), resultOf(name, count, r)];
        return a && b ? b.deliveriesPerSecond / a.deliveriesPerSecond : null;
      });
      steps.set(`${key} ${count}`, byRound);
      console.log(`  ${count} over ${before}: ${stepLine(`${key}: ${count} over ${before}`, byRound)}`);
    }
  }
  for (const { key, title } of curves.slice(1)) {
    if (!steps.has(`${key} ${WORKER_COUNTS[1]}`)) continue;
    console.log(`\nHerald's step over ${title}'s, round by round:`);
    for (const [i, count] of WORKER_COUNTS.entries()) {
      if (i === 0) continue;
      const before = WORKER_COUNTS[i - 1];
      const [herald, control] = [steps.get(`workers ${count}`) ?? [], steps.get(`${key} ${count}`) ?? []];
      const relative = rounds.map((_, r) => (herald[r] && control[r] ? herald[r] / control[r] : null));
      console.log(`  ${count} over ${before}: ${stepLine(`Herald's step ${count} over ${before} over the ${key}'s`, relative)}`);
    }
  }
  return figures;
}

/**
 * The median: the middle value, or the mean of the two middle ones of an even count (rounded to
 * two decimals); null of none. Not nearest rank: of two rounds that would be the lower, and the
 * median step could then say "a fall" while the counts' medians say "a rise".
 */
function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : round((sorted[middle - 1] + sorted[middle]) / 2);
}

function report() {
  const byName = (s: string) => results.find((r) => r.scenario.startsWith(s));
  const herald = byName('throughput');
  const ceilingResult = byName('ceiling');
  const peerResult = byName('peer');
  console.log('\n| scenario | deliveries | seconds | deliveries/s | p50 ms | p95 ms | p99 ms | max RSS MB | written B/delivery |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.scenario} | ${r.deliveries} | ${r.seconds} | ${r.deliveriesPerSecond} | ${r.p50Ms} | ${r.p95Ms} | ${r.p99Ms} | ${r.maxRssMb ?? ''} | ${r.writeVolume?.bytesPerDelivery ?? ''} |`,
    );
  }
  const ratios: Record<string, number> = {};
  if (herald && ceilingResult && RUNS.length === 1)
    ratios.heraldOverCeiling = round(herald.deliveriesPerSecond / ceilingResult.deliveriesPerSecond);
  if (peerResult && RUNS.length === 1) {
    // Herald's throughput figures (scenario 1, the outside setup) against the peer's.
    for (const r of results.filter((r) => r.scenario.startsWith('throughput') || r.scenario.startsWith('outside'))) {
      const key = r === herald ? 'heraldOverPeer' : `${r.scenario.split(':')[0]} over peer`;
      ratios[key] = round(r.deliveriesPerSecond / peerResult.deliveriesPerSecond);
    }
  }
  // Several runs: each count in each round against each control run right after it with as many processes.
  for (const { workers, round: r } of RUNS.length > 1 ? RUNS : []) {
    const h = results.find((x) => x.scenario === throughputName(workers, r));
    for (const control of [peerName(workers, r), ceilingName(workers, r)]) {
      const c = results.find((x) => x.scenario === control);
      if (h && c) ratios[`${h.scenario} over ${c.scenario}`] = round(h.deliveriesPerSecond / c.deliveriesPerSecond);
    }
  }
  const slow = byName('slow');
  if (herald && slow) {
    ratios.slowScenarioThroughputKept = round(slow.deliveriesPerSecond / herald.deliveriesPerSecond);
    ratios.slowScenarioP99Ratio = round(slow.p99Ms / herald.p99Ms);
  }
  const curve = RUNS.length > 1 ? reportCurve() : undefined;
  console.log('\n', ratios);
  for (const r of results) if (r.writeVolume) console.log(`written per delivery, ${r.scenario}:`, r.writeVolume);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
  const out = {
    date: new Date().toISOString(),
    machine,
    options: {
      events: EVENTS,
      fanout: FANOUT,
      webhooks: WEBHOOKS,
      concurrency: CONCURRENCY,
      batch: BATCH,
      logLevel: opts['log-level'],
      heraldProcesses: HERALD_MODE,
      workers: WORKER_COUNTS,
      rounds: ROUNDS,
      outside: OUTSIDE,
      scrape: opts.scrape ? scraped : false,
      deliveryProfile: opts['delivery-profile'] ? path.basename(opts['delivery-profile']) : 'standard',
      flow: FLOW,
    },
    ratios,
    curve,
    results: results.map((r) => ({ ...r, machine, date: new Date().toISOString() })),
  };
  writeFileSync(opts.out, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${opts.out}`);
}

try {
  await main();
} catch (error) {
  // Interrupted, the run's steps fail as what they wait on stops: the signal's clean-up decides.
  // Otherwise a step failed, perhaps before main()'s own clean-up: stop what it started, then fail.
  if (interrupted === null) {
    await cleanUp().catch(() => {});
    throw error;
  }
}
if (interrupted !== null) await cleanUp();
process.exit(interrupted ?? 0);
