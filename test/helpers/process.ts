import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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
}): Promise<HeraldProcess> {
  const port = options.role === 'worker' ? 0 : (options.port ?? (await freePort()));
  const proc = spawn(NODE, [CLI, 'serve', '--role', options.role], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
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

/** A TCP port nothing listens on right now (the OS picks it for a moment, then frees it). */
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
