import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, procStat } from '../../src/db/embedded.ts';

import { LOCAL_RECEIVERS, startWithTenant, type Tenant, type TestHerald } from './herald.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The project's Node 24 (the `node` devDependency), which runs the TypeScript sources directly. */
const NODE = path.join(ROOT, 'node_modules/.bin/node');
const CLI = path.join(ROOT, 'src/cli.ts');

export interface HeraldProcess {
  proc: ChildProcess;
  /** GraphQL URL when the process serves the API, else null. */
  url: string | null;
  /** Every stdout line so far (pino JSON, one object per line). */
  lines: string[];
  /** Every stderr line so far. */
  stderr: string[];
  /** Resolves with the first line (past or future) matching `pattern`; rejects after `timeoutMs` or when the process exits first. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
  /** The exit code (or 128 + signal number when a signal ended it). */
  exited: Promise<number>;
  /** Kills the process with SIGKILL if it still runs and waits for it to end. */
  dispose(): Promise<void>;
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Runs `herald serve --role <role>` as a child process, as an operator would, and waits until
 * it is ready (the API listening, or the worker started). `env` adds to (and overrides) a
 * minimal environment: LOG_LEVEL defaults to info because readiness is read from the logs.
 */
export async function startHeraldProcess(options: {
  env: Record<string, string>;
  role: 'all' | 'api' | 'worker';
  port?: number;
  readyTimeoutMs?: number;
  /** Another way to start it (e.g. `npm start` in a copy of the checkout) and where. */
  command?: { file: string; args: string[]; cwd: string };
  /** Another user to run it as (the tests run as root in CI). */
  user?: { uid: number; gid: number };
}): Promise<HeraldProcess> {
  const port = options.role === 'worker' ? 0 : (options.port ?? (await freePort()));
  const command = options.command ?? { file: NODE, args: [CLI, 'serve', '--role', options.role], cwd: ROOT };
  const proc = spawn(command.file, command.args, {
    cwd: command.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      // No load balancer watches a test's processes: SIGTERM stops them at once unless a test asks.
      HERALD_SHUTDOWN_DRAIN: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options.user,
  });

  const lines: string[] = [];
  const stderr: string[] = [];
  const watchers = new Set<(line: string) => void>();
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const watch of watchers) watch(line);
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => stderr.push(line));

  let exitCode: number | null = null;
  const exited = new Promise<number>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitCode = code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0);
      resolve(exitCode);
    });
  });

  function waitForLog(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const seen = lines.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        watchers.delete(watch);
      };
      const watch = (line: string) => {
        if (!pattern.test(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms\n${tail()}`));
      }, timeoutMs);
      watchers.add(watch);
      void exited.then((code) => {
        if (!watchers.has(watch)) return;
        done();
        reject(new Error(`herald exited with ${code} before logging ${pattern}\n${tail()}`));
      });
    });
  }

  function tail(): string {
    return [...lines.slice(-20), ...stderr.slice(-20)].join('\n');
  }

  const ready = options.role === 'worker' ? /"msg":"delivery worker started"/ : /"msg":"GraphQL API listening"/;
  let readyLine: string;
  try {
    readyLine = await waitForLog(ready, options.readyTimeoutMs ?? 30_000);
    if (options.role === 'all') await waitForLog(/"msg":"delivery worker started"/, options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    proc.kill('SIGKILL');
    throw error;
  }
  const url = options.role === 'worker' ? null : (JSON.parse(readyLine).url as string);

  return {
    proc,
    url,
    lines,
    stderr,
    waitForLog,
    kill: (signal = 'SIGTERM') => {
      if (exitCode === null) proc.kill(signal);
    },
    exited,
    async dispose() {
      if (exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

export interface HeraldRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `node src/cli.ts …args` to completion with only `env` (plus PATH, and PORT 0 unless given) as its environment. */
export function runHerald(args: string[], env: Record<string, string>, options: { timeoutMs?: number } = {}): Promise<HeraldRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      NODE,
      [CLI, ...args],
      // PORT 0 unless given: a Herald (or anything) on the default port 4000 must not fail a test
      // about something else with 'cannot listen'.
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env }, timeout: options.timeoutMs ?? 20_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}

/** The processes started (directly or not) by `pid`, from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    const parent = Number.isInteger(child) ? procStat(child)?.[1] : undefined;
    if (parent === undefined) continue;
    const list = children.get(Number(parent)) ?? [];
    list.push(child);
    children.set(Number(parent), list);
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** CPU seconds (user + system) a process has used so far, from /proc (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  const fields = procStat(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) / 100 : 0; // utime, stime in clock ticks (USER_HZ = 100)
}

/** A TCP port nothing listens on right now. */
export { freePort };

/** The environment a Herald child process needs to share a test Herald's database and keys. */
export function childEnv(h: TestHerald, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: h.databaseUrl,
    HERALD_ENCRYPTION_KEY: h.encryptionKey,
    HERALD_ADMIN_KEY: h.adminKey,
    HERALD_ALLOW_HTTP: 'true',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    ...extra,
  };
}

/** Warnings and errors among a child process's log lines (for failure messages). */
export function problems(lines: string[]): string {
  return lines
    .filter((l) => /"level":(4|5|6)0/.test(l))
    .slice(-20)
    .join('\n');
}

/**
 * `n` worker processes (`herald serve --role worker`) sharing a test Herald's database and keys,
 * started one after another; `env` adds to childEnv(). Dispose of them with disposeAll().
 */
export async function startWorkers(h: TestHerald, n: number, env: Record<string, string> = {}): Promise<HeraldProcess[]> {
  const workers: HeraldProcess[] = [];
  for (let i = 0; i < n; i++) workers.push(await startHeraldProcess({ role: 'worker', env: childEnv(h, env), readyTimeoutMs: 60_000 }));
  return workers;
}

/** Stops processes with SIGTERM (SIGKILL after 20 s), all at once. */
export async function disposeAll(processes: readonly (HeraldProcess | undefined)[]): Promise<void> {
  const running = processes.filter((p): p is HeraldProcess => p !== undefined);
  for (const p of running) p.kill('SIGTERM');
  await Promise.all(running.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 20_000))]).then(() => p.dispose())));
}

/** The delivery ids each process logged an attempt of ("delivery attempt" lines). */
export function attemptsLogged(p: HeraldProcess): string[] {
  const ids: string[] = [];
  for (const line of p.lines) {
    if (!line.includes('"msg":"delivery attempt"')) continue;
    try {
      ids.push((JSON.parse(line) as { deliveryId: string }).deliveryId);
    } catch {
      // not JSON: ignore
    }
  }
  return ids;
}

/** An API-only test Herald, a tenant of its own, and worker processes on its database (startSplit). */
export interface Split {
  api: TestHerald;
  tenant: Tenant;
  workers: HeraldProcess[];
  /** Stops the workers, closes `also` (receivers, clients), then stops the API. */
  stop(...also: ({ close(): Promise<void> } | undefined)[]): Promise<void>;
}

/**
 * A deployment split across processes, as flow control is tested: an in-process Herald with
 * `HERALD_ROLE=api` allowed to deliver to local receivers, a tenant, and `n` `--role worker`
 * processes started with `env` (childEnv).
 */
export async function startSplit(n: number, env: Record<string, string> = {}): Promise<Split> {
  const { h: api, tenant } = await startWithTenant({ HERALD_ROLE: 'api', ...LOCAL_RECEIVERS });
  const split: Split = {
    api,
    tenant,
    workers: await startWorkers(api, n, env),
    async stop(...also) {
      await disposeAll(split.workers);
      for (const x of also) await x?.close();
      await api.stop();
    },
  };
  return split;
}
