import path from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { waitForDatabase } from './connect.ts';
import { startEmbeddedPostgres } from './embedded.ts';
import { loadLocalKeys } from './local-keys.ts';

export interface DatabaseHandle {
  url: string;
  adminKey: string;
  encryptionKey: Buffer;
  /** Set when this call generated the admin key: the caller prints it once. */
  newAdminKey: string | null;
  /** Whether Herald runs this database itself (no DATABASE_URL), and so must stop it. */
  embedded: boolean;
  /** Stops what openDatabase started (the embedded server), forced at `deadline` (epoch ms). */
  stop(deadline?: number): Promise<void>;
}

/**
 * The database and the keys Herald runs with: `DATABASE_URL` and the configured keys when
 * given, otherwise an embedded PostgreSQL and keys generated once into the data dir. With
 * DATABASE_URL it waits up to HERALD_DB_WAIT for the database to come up. Throws a StartupError
 * (one line: the cause and the way out) when the database cannot be had.
 */
export async function openDatabase(config: Readonly<Config>, logger: Logger, signal?: AbortSignal): Promise<DatabaseHandle> {
  const needsLocalKeys = !config.adminKey || !config.encryptionKey || !config.databaseUrl;
  const local = needsLocalKeys ? loadLocalKeys(config.dataDir) : null;
  const adminKey = config.adminKey ?? local!.keys.adminKey;
  const encryptionKey = config.encryptionKey ?? Buffer.from(local!.keys.encryptionKey, 'base64');
  const newAdminKey = !config.adminKey && local!.created.includes('adminKey') ? adminKey : null;

  if (config.databaseUrl) {
    await waitForDatabase(config.databaseUrl, { waitMs: config.dbWaitMs, setting: 'DATABASE_URL', logger, signal });
    return { url: config.databaseUrl, adminKey, encryptionKey, newAdminKey, embedded: false, stop: async () => {} };
  }
  const embedded = await startEmbeddedPostgres({
    dir: path.join(config.dataDir, 'pg'),
    port: config.embeddedPgPort,
    password: local!.keys.postgresPassword,
    logger,
  });
  return { url: embedded.url, adminKey, encryptionKey, newAdminKey, embedded: true, stop: embedded.stop };
}
