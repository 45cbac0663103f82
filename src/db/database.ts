import path from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { startEmbeddedPostgres } from './embedded.ts';
import { loadLocalKeys } from './local-keys.ts';

export interface DatabaseHandle {
  url: string;
  adminKey: string;
  encryptionKey: Buffer;
  /** Set when this call generated the admin key: the caller prints it once. */
  newAdminKey: string | null;
  stop(): Promise<void>;
}

/**
 * The database and the keys Herald runs with: `DATABASE_URL` and the configured keys when
 * given, otherwise an embedded PostgreSQL and keys generated once into the data dir.
 */
export async function openDatabase(config: Readonly<Config>, logger: Logger): Promise<DatabaseHandle> {
  const needsLocalKeys = !config.adminKey || !config.encryptionKey || !config.databaseUrl;
  const local = needsLocalKeys ? loadLocalKeys(config.dataDir) : null;
  const adminKey = config.adminKey ?? local!.keys.adminKey;
  const encryptionKey = config.encryptionKey ?? Buffer.from(local!.keys.encryptionKey, 'base64');
  const newAdminKey = !config.adminKey && local!.created.includes('adminKey') ? adminKey : null;

  if (config.databaseUrl) {
    return { url: config.databaseUrl, adminKey, encryptionKey, newAdminKey, stop: async () => {} };
  }
  const embedded = await startEmbeddedPostgres({
    dir: path.join(config.dataDir, 'pg'),
    port: config.embeddedPgPort,
    password: local!.keys.postgresPassword,
    logger,
  });
  return { url: embedded.url, adminKey, encryptionKey, newAdminKey, stop: embedded.stop };
}
