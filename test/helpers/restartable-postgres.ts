import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/logger.ts';
import { removeDataDir } from './data-dir.ts';
import { freePort } from './process.ts';

/** An embedded PostgreSQL of a test's own, which it can stop and start again on the same files and port. */
export interface RestartablePostgres {
  /** The same before and after a restart. */
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it if it runs and removes its files. */
  dispose(): Promise<void>;
}

export async function startRestartablePostgres(name: string): Promise<RestartablePostgres> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${name}-`));
  const port = await freePort();
  const options: Parameters<typeof startEmbeddedPostgres>[0] = {
    dir: path.join(dir, 'pg'),
    port,
    password: name,
    database: 'herald',
    logger: createLogger('warn'),
    // Stopped and started again on the same files: persistent, and removed by dispose().
    persistent: true,
  };
  let running: EmbeddedDatabase | null = await startEmbeddedPostgres(options);
  const url = running.url;
  return {
    url,
    port,
    async stop() {
      await running?.stop();
      running = null;
    },
    async start() {
      running = await startEmbeddedPostgres(options);
    },
    async dispose() {
      await running?.stop();
      running = null;
      await removeDataDir(dir);
    },
  };
}
